import createError, { type FastifyErrorConstructor } from '@fastify/error'

/**
 * The protocol's error codes (docs/protocol.md). Every error the plugin shows a client maps to one of them,
 * over REST (`code` in the body) and over the socket (`error` frames).
 */
export type ProtocolCode =
  | 'BAD_FRAME'
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'TOO_LARGE'
  | 'QUEUE_FULL'
  | 'RATE_LIMITED'
  | 'PARTICIPANT_LIMIT'
  | 'UNAVAILABLE'
  | 'NOT_IMPLEMENTED'
  | 'INTERNAL'

export const CHAT_ERR_INVALID_OPTS = createError('CHAT_ERR_INVALID_OPTS', 'Invalid fastify-nlweb-chat options: %s', 500)
export const CHAT_ERR_MISSING_DECORATOR = createError(
  'CHAT_ERR_MISSING_DECORATOR', 'fastify-nlweb-chat needs the host decorator "%s" (%s)', 500)
export const CHAT_ERR_MISSING_DEPENDENCY = createError(
  'CHAT_ERR_MISSING_DEPENDENCY', 'fastify-nlweb-chat needs the package "%s" for %s: install it with `npm install %s`', 500)

export const CHAT_ERR_BAD_FRAME = createError('CHAT_ERR_BAD_FRAME', '%s', 400)
export const CHAT_ERR_BAD_REQUEST = createError('CHAT_ERR_BAD_REQUEST', '%s', 400)
export const CHAT_ERR_UNAUTHORIZED = createError('CHAT_ERR_UNAUTHORIZED', 'Authentication required', 401)
export const CHAT_ERR_FORBIDDEN = createError('CHAT_ERR_FORBIDDEN', '%s', 403)
export const CHAT_ERR_NOT_FOUND = createError('CHAT_ERR_NOT_FOUND', '%s not found', 404)
export const CHAT_ERR_CONFLICT = createError('CHAT_ERR_CONFLICT', '%s', 409)
export const CHAT_ERR_TOO_LARGE = createError('CHAT_ERR_TOO_LARGE', '%s', 413)
export const CHAT_ERR_QUEUE_FULL = createError('CHAT_ERR_QUEUE_FULL', 'Too many frames waiting on this socket', 429)
export const CHAT_ERR_CONVERSATION_BUSY = createError('CHAT_ERR_CONVERSATION_BUSY', 'Too many messages waiting to be stored in this conversation', 429)
export const CHAT_ERR_RATE_LIMITED = createError('CHAT_ERR_RATE_LIMITED', 'Too many %s, retry later', 429)
export const CHAT_ERR_PARTICIPANT_LIMIT = createError(
  'CHAT_ERR_PARTICIPANT_LIMIT', 'Conversation is full (%s participants)', 429)
export const CHAT_ERR_UNAVAILABLE = createError('CHAT_ERR_UNAVAILABLE', '%s', 503)
/** Extension: the conversation's storage cannot do this (history search on a store without it). */
export const CHAT_ERR_NOT_IMPLEMENTED = createError('CHAT_ERR_NOT_IMPLEMENTED', '%s', 501)
export const CHAT_ERR_INTERNAL = createError('CHAT_ERR_INTERNAL', 'Internal error', 500)

const PROTOCOL_CODES: Record<string, ProtocolCode> = {
  CHAT_ERR_BAD_FRAME: 'BAD_FRAME',
  CHAT_ERR_BAD_REQUEST: 'BAD_REQUEST',
  CHAT_ERR_UNAUTHORIZED: 'UNAUTHORIZED',
  CHAT_ERR_FORBIDDEN: 'FORBIDDEN',
  CHAT_ERR_NOT_FOUND: 'NOT_FOUND',
  CHAT_ERR_CONFLICT: 'CONFLICT',
  CHAT_ERR_TOO_LARGE: 'TOO_LARGE',
  CHAT_ERR_QUEUE_FULL: 'QUEUE_FULL',
  CHAT_ERR_CONVERSATION_BUSY: 'QUEUE_FULL',
  CHAT_ERR_RATE_LIMITED: 'RATE_LIMITED',
  CHAT_ERR_PARTICIPANT_LIMIT: 'PARTICIPANT_LIMIT',
  CHAT_ERR_UNAVAILABLE: 'UNAVAILABLE',
  CHAT_ERR_NOT_IMPLEMENTED: 'NOT_IMPLEMENTED',
  CHAT_ERR_INTERNAL: 'INTERNAL',
  FST_ERR_VALIDATION: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_BODY_TOO_LARGE: 'TOO_LARGE'
}

const STATUS_CODES: Record<number, ProtocolCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'TOO_LARGE',
  429: 'RATE_LIMITED',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE'
}

export interface ChatErrorLike {
  code?: string
  statusCode?: number
  message?: string
  retryAfterMs?: number
}

/** What a client is told about an error: protocol code, HTTP status, a message that never carries a stack. */
export interface PublicError {
  code: ProtocolCode
  status: number
  message: string
  retryAfterMs?: number
}

/**
 * The client's view of an error. Over the socket, input the request schema lets through but the rules refuse
 * (`BAD_REQUEST`, e.g. blank content) is a `BAD_FRAME` like every other bad frame.
 */
export function toPublicError (err: ChatErrorLike, transport: 'rest' | 'ws' = 'rest'): PublicError {
  const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600
    ? err.statusCode
    : 500
  let code = (err.code !== undefined && PROTOCOL_CODES[err.code]) || STATUS_CODES[status] || 'INTERNAL'
  if (transport === 'ws' && code === 'BAD_REQUEST') code = 'BAD_FRAME'
  // Server-side faults keep their details in the log, never on the wire.
  const message = status >= 500 && code !== 'UNAVAILABLE' && code !== 'NOT_IMPLEMENTED' ? 'Internal error' : (err.message ?? code)
  const out: PublicError = { code, status, message }
  if (typeof err.retryAfterMs === 'number') out.retryAfterMs = err.retryAfterMs
  return out
}

/** An error that tells the client when to come back (429s). */
export function withRetryAfter<E extends Error> (err: E, retryAfterMs: number): E & { retryAfterMs: number } {
  return Object.assign(err, { retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)) })
}

export type { FastifyErrorConstructor }
