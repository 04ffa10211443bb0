import { CHAT_ERR_BAD_REQUEST, CHAT_ERR_UNAVAILABLE, withRetryAfter } from '../errors.ts'

/** How long a client is told to wait while the service is unreachable and said nothing itself. */
export const UNAVAILABLE_RETRY_MS = 1000

/** Socket errors (and the SDK's own codes for them) that mean the service cannot be reached. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH',
  'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'REQUEST_SEND_ERROR', 'UND_ERR_SOCKET'
])

interface ServiceError {
  name?: unknown
  code?: unknown
  statusCode?: unknown
  response?: { headers?: { get?: (name: string) => string | undefined } }
}

/** The HTTP status of a service error (a failed transaction carries its failing operation's). */
export const statusOf = (err: unknown): number | undefined => {
  const status = (err as ServiceError | null)?.statusCode
  return typeof status === 'number' ? status : undefined
}

/**
 * True when the service refused a key or value it cannot hold (400 OutOfRangeInput, InvalidInput): on a read,
 * there is nothing under it; on a write, the request was bad.
 */
export function isRefusedInput (err: unknown): boolean {
  const code = (err as ServiceError | null)?.code
  return statusOf(err) === 400 && (code === 'OutOfRangeInput' || code === 'InvalidInput')
}

/** True when the service cannot serve now: unreachable, timed out, a 5xx, or throttling (429, 503). */
export function isUnavailable (err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const { name, code } = err as ServiceError
  const status = statusOf(err)
  if (status !== undefined) return status >= 500 || status === 429 || status === 408
  if (name === 'AbortError' || name === 'TimeoutError') return true
  return typeof code === 'string' && NETWORK_CODES.has(code)
}

/** The service's Retry-After (seconds or an HTTP date), in ms; the default when it gave none. */
function retryAfter (err: unknown): number {
  const header = (err as ServiceError).response?.headers?.get?.('retry-after')
  if (header === undefined) return UNAVAILABLE_RETRY_MS
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.max(1, seconds * 1000)
  const at = Date.parse(header)
  return Number.isFinite(at) ? Math.max(1, at - Date.now()) : UNAVAILABLE_RETRY_MS
}

/**
 * The chat's error for a service error: CHAT_ERR_UNAVAILABLE (503, `retryAfterMs` from the service's
 * Retry-After, else a second) when the service cannot serve; CHAT_ERR_BAD_REQUEST (400) for an input it
 * refused (reads that can meet one answer "nothing" before they get here); anything else as it is.
 */
export function toChatError (err: unknown): unknown {
  if (isRefusedInput(err)) {
    const bad = new CHAT_ERR_BAD_REQUEST(`Storage refused the request: ${(err as Error).message}`)
    bad.cause = err
    return bad
  }
  if (err instanceof CHAT_ERR_UNAVAILABLE || !isUnavailable(err)) return err
  const detail = (err as Error).message || String((err as ServiceError).code ?? statusOf(err))
  const unavailable = new CHAT_ERR_UNAVAILABLE(`Storage unavailable: ${detail}`)
  unavailable.cause = err
  return withRetryAfter(unavailable, retryAfter(err))
}
