import { CHAT_ERR_BAD_REQUEST, CHAT_ERR_UNAVAILABLE, withRetryAfter } from '../errors.ts'

/** How long a client is told to wait before retrying while the database is unreachable. */
export const UNAVAILABLE_RETRY_MS = 1000

/** Socket errors that mean the server cannot be reached (or the connection to it broke). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH',
  'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN'
])

/**
 * SQLSTATEs of a server that is down, starting, shutting down or full: class 08 (connection exception),
 * 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections.
 */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300'])

/** node-postgres and pg-pool say these without a code. */
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'Cannot use a pool after calling end on the pool'
]

/**
 * SQLSTATEs of text PostgreSQL cannot hold: 22021 (a NUL character in text), 22P05 (`\u0000` in jsonb).
 * The request is refused rather than failing as an internal error.
 */
const UNSTORABLE_STATES = new Set(['22021', '22P05'])

interface DriverError { code?: unknown, message?: unknown, errors?: unknown }

/** True when `err` says the database cannot be reached, as opposed to a query it refused. */
export function isUnavailable (err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const { code, message, errors } = err as DriverError
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith('08')) return true
  }
  if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((m) => message.startsWith(m))) return true
  // Node's happy-eyeballs connect (localhost: ::1 and 127.0.0.1) fails with an AggregateError of both.
  return Array.isArray(errors) && errors.length > 0 && errors.every(isUnavailable)
}

/**
 * The chat's error for a driver error: CHAT_ERR_UNAVAILABLE (503, retry in a second) when the database is
 * unreachable, CHAT_ERR_BAD_REQUEST for text PostgreSQL cannot store; anything else as it is (an internal
 * error, logged by the route with its details).
 */
export function toChatError (err: unknown): unknown {
  if (isUnavailable(err)) {
    const unavailable = new CHAT_ERR_UNAVAILABLE(`Storage unavailable: ${(err as Error).message || (err as DriverError).code}`)
    unavailable.cause = err
    return withRetryAfter(unavailable, UNAVAILABLE_RETRY_MS)
  }
  const code = (err as DriverError | null)?.code
  if (typeof code === 'string' && UNSTORABLE_STATES.has(code)) {
    const refused = new CHAT_ERR_BAD_REQUEST('text holds a character the storage cannot keep (NUL, \\u0000)')
    refused.cause = err
    return refused
  }
  return err
}
