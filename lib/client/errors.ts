import type { ErrorCode, ErrorFrame } from '../schemas/server-frames.ts'

/** What a client-side failure is: the server's protocol codes, plus the client's own. */
export type ChatClientErrorCode = ErrorCode | 'CLOSED' | 'HTTP'

/** Every rejected promise of the client rejects with this: a protocol code, an HTTP-like status, a hint to retry. */
export class ChatClientError extends Error {
  readonly code: ChatClientErrorCode
  readonly status: number
  /** For RATE_LIMITED / QUEUE_FULL / UNAVAILABLE: when the server says to try again. */
  readonly retryAfterMs?: number

  constructor (code: ChatClientErrorCode, status: number, message: string, retryAfterMs?: number) {
    super(message)
    this.name = 'ChatClientError'
    this.code = code
    this.status = status
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs
  }

  static fromFrame (frame: ErrorFrame): ChatClientError {
    return new ChatClientError(frame.code, frame.status, frame.message, frame.retryAfterMs)
  }
}
