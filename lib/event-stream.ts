import type { FastifyBaseLogger } from 'fastify'
import type { ServerResponse } from 'node:http'
import { PassThrough } from 'node:stream'
import { CLOSE_HEARTBEAT, CLOSE_SLOW_CONSUMER, CLOSE_TOKEN_EXPIRED, tokenExpiry } from './connection.ts'
import type { ConnectionRegistry, LiveConnection } from './connections.ts'
import type { ConversationManager } from './conversations.ts'
import type { WireFrame } from './delivery.ts'
import { CHAT_ERR_NOT_FOUND, CHAT_ERR_UNAVAILABLE, withRetryAfter } from './errors.ts'
import { newId } from './ids.ts'
import type { ResolvedOptions } from './options.ts'
import type { ChatUser } from './schemas/entities.ts'
import { joinedFrame, leftFrame, readyFor } from './server-frames.ts'
import { SocketSubscription, type SubscriptionOwner } from './socket-subscription.ts'

/**
 * The fallback transport for networks that block WebSockets: `GET /chat/events`, a server-sent-events stream
 * with the socket's frames, one JSON frame per `data:` line (docs/protocol.md, extension 25). A stream with a
 * `conversationId` is a socket joined to that one conversation; one without is a socket joined to none (its
 * `ready`, and the notices sent to every socket of the user). Sends, typing and cancel go over REST.
 */

/** The reply's headers: no caching, and no proxy buffering or compressing the stream. */
export const EVENT_STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no'
} as const

const HEARTBEAT = Buffer.from(': ping\n\n')
const DATA = Buffer.from('data: ')
const END = Buffer.from('\n\n')

export interface EventStreamContext {
  manager: ConversationManager
  options: ResolvedOptions
  log: FastifyBaseLogger
  onClose: (stream: EventStream) => void
  /** Closed for what its user did or let happen (slow consumer, token expired). */
  onPolicyClose?: (stream: EventStream, code: number, reason: string) => void
}

/**
 * One event stream: a live connection of the registry (presence, heartbeat, admin, drain) writing SSE events to
 * its reply. What one tick writes leaves in one chunk; a reply whose unsent bytes pass `limits.maxBufferedBytes`
 * is cut (the socket's 4029).
 */
export class EventStream implements LiveConnection {
  readonly id = newId()
  readonly user: ChatUser
  readonly openedAt = new Date().toISOString()
  readonly ip: string | undefined
  /** The conversation it carries; undefined for a stream of the user's notices only. */
  readonly conversationId: string | undefined
  /**
   * A stream cannot answer a ping: it stays alive while its peer takes its bytes. A peer that vanished without
   * FIN or RST (or stopped reading) takes none: when bytes waited unsent through two heartbeats with none of
   * them reaching the kernel, the stream is ended (the socket's 4008), long before TCP would give up.
   */
  alive = true
  /** What the reply sends. */
  readonly body = new PassThrough()
  private readonly res: ServerResponse
  private readonly ctx: EventStreamContext
  private sub: SocketSubscription | undefined
  private chunks: Buffer[] = []
  private scheduled = false
  private closed = false
  /** When the token expires, as start() scheduled it (connection.ts's tokenExpiry). */
  private expiresAt: number | undefined
  /** At the last heartbeat: bytes the connection had handed to the kernel, and bytes still waiting here. */
  private sent = 0
  private waiting = 0
  /** Heartbeats in a row that found bytes waiting and none sent since the one before. */
  private stalls = 0
  /** What a subscription writes to: this stream, with the seq as the event's id. */
  private readonly owner: SubscriptionOwner

  constructor (res: ServerResponse, user: ChatUser, ctx: EventStreamContext, conversationId?: string, ip?: string) {
    this.res = res
    this.user = user
    this.ctx = ctx
    this.conversationId = conversationId
    this.ip = ip
    this.owner = {
      user,
      write: (frame, seq) => { this.event(frame, seq) },
      flush: () => { this.flush() },
      subscriptionEnded: (sub) => { this.subscriptionEnded(sub) }
    }
    // The client went away (or the reply ended): everything stops.
    res.once('close', () => { this.dispose() })
    this.body.once('close', () => { this.dispose() })
    this.body.on('error', (err) => { ctx.log.debug({ err, userId: user.id }, 'chat event stream error') })
    const { heartbeatMs } = ctx.options
    // TCP keepalive as well: an idle connection to a vanished peer is found by the kernel too.
    try {
      res.socket?.setKeepAlive(true, heartbeatMs)
    } catch {} // an HTTP/2 stream's socket cannot be configured
    this.event(readyFor(user.id, this.id, ctx.options))
  }

  get userId (): string {
    return this.user.id
  }

  get conversations (): string[] {
    return this.sub === undefined ? [] : [this.sub.conversationId]
  }

  get isOpen (): boolean {
    return !this.closed
  }

  /**
   * Subscribes to the stream's conversation and writes its `joined` (id: the last seq it covers), as a socket's
   * `join` with `since` does: live frames continue it with no gap and no repeat.
   */
  async join (since: number | undefined): Promise<void> {
    const id = this.conversationId
    if (id === undefined) return
    const { manager } = this.ctx
    const sub = new SocketSubscription(this.owner, id)
    const result = await manager.subscribe(this.user, id, since, sub)
    if (this.closed || sub.over) {
      manager.leave(sub, id)
      if (this.closed) return
      throw new CHAT_ERR_NOT_FOUND('Conversation') // removed (or deleted) while the history was read
    }
    this.sub = sub
    const last = result.messages.length === 0 ? 0 : result.messages[result.messages.length - 1].seq
    const seen = Math.max(result.lastSeq, last)
    this.event(joinedFrame(undefined, { conversationId: id, ...result }), seen)
    sub.open(seen)
  }

  /** A notice for every connection of the user: carried by the stream without a conversation only. */
  write (frame: WireFrame | string): void {
    if (this.conversationId === undefined) this.event(frame)
  }

  /**
   * The heartbeat: a comment line, so proxies see traffic. The stream is alive while its bytes move: when bytes
   * waited at the previous heartbeat and at this one, and none reached the kernel in between, twice in a row,
   * the peer is gone (or reads nothing): the stream is ended as a socket that missed its pong (4008).
   */
  ping (): void {
    if (this.closed) return
    const { sent, waiting } = this.progress()
    const stalled = waiting > 0 && this.waiting > 0 && sent === this.sent && waiting >= this.waiting
    this.sent = sent
    this.waiting = waiting
    this.stalls = stalled ? this.stalls + 1 : 0
    if (this.stalls >= 2) {
      this.close(CLOSE_HEARTBEAT, 'heartbeat timeout')
      return
    }
    this.alive = true
    this.queue(HEARTBEAT)
  }

  async quiesce (): Promise<void> {
    this.flush()
  }

  /** Once registered: the stream ends when the user's token expires. Nothing to arm on a stream already closed. */
  start (): void {
    const at = this.user.expiresAt
    if (this.closed || at === undefined) return
    if (at <= Date.now()) {
      this.policyClose(CLOSE_TOKEN_EXPIRED, 'token expired')
      return
    }
    this.expiresAt = at
    tokenExpiry.add(this, at)
  }

  /**
   * Ends the stream with an `event: close` saying the code a socket would have closed with. A slow consumer, or
   * a peer that takes no bytes (heartbeat), gets nothing more: it would not be delivered; its connection is cut.
   */
  close (code: number, reason: string): void {
    if (this.closed) return
    if (code === CLOSE_SLOW_CONSUMER || code === CLOSE_HEARTBEAT) {
      this.dispose()
      this.body.destroy()
      this.res.destroy()
      return
    }
    this.queue(Buffer.from(`event: close\ndata: ${JSON.stringify({ type: 'close', code, reason })}\n\n`))
    this.end()
  }

  policyClose (code: number, reason: string): void {
    if (this.closed) return
    this.ctx.onPolicyClose?.(this, code, reason)
    this.close(code, reason)
  }

  /** Sends what this tick wrote now; a reply with too much unsent is cut instead. */
  flush (): void {
    if (this.chunks.length === 0 || this.closed) return
    const buffered = this.res.writableLength + this.body.writableLength + this.body.readableLength
    if (buffered > this.ctx.options.limits.maxBufferedBytes) {
      this.chunks = []
      this.policyClose(CLOSE_SLOW_CONSUMER, 'slow consumer')
      return
    }
    const out = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks)
    this.chunks = []
    this.body.write(out)
  }

  /**
   * How the bytes move: `sent`, what the connection handed to the kernel so far (its bytes written, less those
   * still queued in it); `waiting`, what is still queued here (the reply and the stream feeding it).
   */
  private progress (): { sent: number, waiting: number } {
    const waiting = this.res.writableLength + this.body.writableLength + this.body.readableLength
    const socket = this.res.socket
    if (socket === null || socket === undefined) return { sent: this.sent, waiting }
    return { sent: (socket.bytesWritten ?? 0) - socket.writableLength, waiting }
  }

  /** One frame as an event: `id: <seq>` for a frame that carries a message (or a `joined`), then its JSON. */
  private event (frame: WireFrame | string, seq?: number): void {
    if (seq !== undefined) this.queue(Buffer.from(`id: ${seq}\n`))
    this.queue(DATA)
    this.queue(typeof frame === 'string' ? Buffer.from(frame) : frame)
    this.queue(END)
  }

  private queue (chunk: Buffer): void {
    if (this.closed) return
    this.chunks.push(chunk)
    if (this.scheduled) return
    this.scheduled = true
    process.nextTick(() => {
      this.scheduled = false
      this.flush()
    })
  }

  /** The subscription was ended (removed from the conversation, or it was deleted): `left`, then the end. */
  private subscriptionEnded (sub: SocketSubscription): void {
    if (this.sub !== sub) return
    this.sub = undefined
    this.event(leftFrame(sub.conversationId))
    this.end()
  }

  private end (): void {
    this.flush()
    this.dispose()
    this.body.end()
  }

  private dispose (): void {
    if (this.closed) return
    this.closed = true
    this.chunks = []
    if (this.expiresAt !== undefined) tokenExpiry.delete(this, this.expiresAt)
    this.ctx.onClose(this) // first, so presence sees this stream gone
    const sub = this.sub
    this.sub = undefined
    if (sub !== undefined) this.ctx.manager.leave(sub, sub.conversationId)
  }
}

export interface EventStreams {
  /**
   * Opens a stream for a user: with a conversation, after the join budget and membership (NOT_FOUND) are
   * checked, its `ready` and `joined`; without one, its `ready`. Throws before anything is written.
   */
  open (res: ServerResponse, user: ChatUser, query: { conversationId?: string, since?: number }, ip?: string): Promise<EventStream>
  /** The server is shutting down: new streams are refused (the registry closes the open ones). */
  drain (): void
}

export function createEventStreams (deps: {
  manager: ConversationManager
  connections: ConnectionRegistry
  options: ResolvedOptions
  log: FastifyBaseLogger
  onPolicyClose?: (stream: EventStream, code: number, reason: string) => void
}): EventStreams {
  const { manager, connections } = deps
  let closing = false
  const ctx: EventStreamContext = {
    manager,
    options: deps.options,
    log: deps.log,
    onClose: (stream) => { connections.remove(stream) },
    onPolicyClose: deps.onPolicyClose
  }
  const refuse = (): Error => withRetryAfter(new CHAT_ERR_UNAVAILABLE('the server is shutting down'), 1000)

  return {
    async open (res, user, { conversationId, since }, ip) {
      if (closing) throw refuse()
      if (conversationId !== undefined) {
        await manager.spendJoin(user)
        // Before the stream counts as the user online: a refused stream makes no presence change.
        await manager.member(user, conversationId)
      }
      if (closing) throw refuse()
      const stream = new EventStream(res, user, ctx, conversationId, ip)
      if (res.destroyed) {
        stream.close(1000, 'gone')
        return stream
      }
      connections.add(stream)
      try {
        await stream.join(since)
      } catch (err) {
        stream.close(1000, 'refused')
        throw err
      }
      stream.start()
      return stream
    },
    drain () {
      closing = true
    }
  }
}
