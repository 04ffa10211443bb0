import type { FastifyBaseLogger } from 'fastify'
import type { Duplex } from 'node:stream'
import type { RawData, WebSocket } from 'ws'
import type { ConversationManager } from './conversations.ts'
import type { JoinResult } from './live.ts'
import type { Subscriber, WireFrame } from './delivery.ts'
import { ackFrame, errorFrame, joinedFrame, leftFrame, pongFrame, readyFrame } from './server-frames.ts'
import { CHAT_ERR_BAD_FRAME, CHAT_ERR_NOT_FOUND, CHAT_ERR_QUEUE_FULL, toPublicError, type ChatErrorLike } from './errors.ts'
import { parseClientFrame } from './frames.ts'
import { newId } from './ids.ts'
import type { ChatMetrics } from './metrics.ts'
import type { ResolvedOptions } from './options.ts'
import type { HumanSocket } from './participants/human.ts'
import type { ChatUser } from './schemas/entities.ts'
import type { ClientFrame, JoinFrame, SendFrame } from './schemas/frames.ts'

export const CLOSE_NORMAL = 1000
export const CLOSE_GOING_AWAY = 1001
export const CLOSE_POLICY = 1008
export const CLOSE_TOO_BIG = 1009
export const CLOSE_HEARTBEAT = 4008
export const CLOSE_SLOW_CONSUMER = 4029

export interface ConnectionContext {
  manager: ConversationManager
  options: ResolvedOptions
  metrics: ChatMetrics
  log: FastifyBaseLogger
  onClose: (conn: ChatConnection) => void
}

/** Pre-encoded frames still go out as text frames. */
const TEXT = { binary: false }

function uncork (conn: ChatConnection, raw: Duplex): void {
  if (!conn.corked) return
  conn.corked = false
  raw.uncork()
}

// Sockets corked in this tick, uncorked together by one callback at its end.
const corked = new Map<ChatConnection, Duplex>()
let uncorkScheduled = false

function uncorkAll (): void {
  uncorkScheduled = false
  for (const [conn, raw] of corked) uncork(conn, raw)
  corked.clear()
}

/** Frames a handler may process back to back before letting I/O (and other sockets) run. */
const FRAMES_PER_TURN = 32

/** One socket's view of one conversation: frames wait while its `joined` reply is being built. */
class SocketSubscription implements Subscriber {
  readonly conn: ChatConnection
  readonly conversationId: string
  /** Highest message seq this socket has been given; a repeat at or below it is dropped. */
  seen = 0
  private held: Array<[WireFrame, number | undefined]> | null = []

  constructor (conn: ChatConnection, conversationId: string) {
    this.conn = conn
    this.conversationId = conversationId
  }

  get userId (): string {
    return this.conn.user.id
  }

  write (frame: WireFrame, seq?: number): void {
    if (this.held !== null) {
      this.held.push([frame, seq])
      return
    }
    if (seq !== undefined) {
      if (seq <= this.seen) return
      this.seen = seq
    }
    this.conn.write(frame)
  }

  /** Starts live delivery after the history that ended at `seen`. */
  open (seen: number): void {
    this.seen = seen
    const held = this.held ?? []
    this.held = null
    for (const [frame, seq] of held) this.write(frame, seq)
  }

  /** Set when the subscription was ended (removal, deletion), possibly before its join finished. */
  over = false

  ended (): void {
    this.over = true
    this.conn.subscriptionEnded(this)
  }

  flush (): void {
    this.conn.flush()
  }
}

/**
 * One WebSocket. Frames are handled one at a time in arrival order, so a socket's sends are acknowledged in
 * the order it sent them and its limits hold. Everything it starts stops when it closes.
 */
export class ChatConnection implements HumanSocket {
  readonly id = newId()
  readonly user: ChatUser
  /** Cleared by the heartbeat, set by a pong. */
  alive = true
  readonly openedAt = new Date().toISOString()
  private readonly socket: WebSocket
  private readonly ctx: ConnectionContext
  private readonly queue: Array<[text: string, bytes: number]> = []
  private queuedBytes = 0
  private busy = false
  private closed = false
  private readonly subscriptions = new Map<string, SocketSubscription>()
  /** @internal cleared by uncork() */
  corked = false

  constructor (socket: WebSocket, user: ChatUser, ctx: ConnectionContext) {
    this.socket = socket
    this.user = user
    this.ctx = ctx
    // Listeners go on before anything else can happen on this socket.
    socket.on('message', (data, isBinary) => { this.receive(data, isBinary) })
    socket.on('pong', () => { this.alive = true })
    socket.on('close', () => { this.dispose() })
    socket.on('error', (err) => { ctx.log.debug({ err, userId: user.id }, 'chat socket error') })
    const { limits, heartbeatMs } = ctx.options
    this.write(readyFrame({
      userId: user.id,
      connectionId: this.id,
      heartbeatMs,
      limits: {
        maxMessageBytes: limits.maxMessageBytes,
        maxParticipants: limits.maxParticipants,
        maxFrameBytes: limits.maxFrameBytes,
        historyWindow: limits.historyWindow,
        replayLimit: limits.replayLimit,
        maxQueuedFrames: limits.maxQueuedFrames
      }
    }))
  }

  get userId (): string {
    return this.user.id
  }

  get conversations (): string[] {
    return [...this.subscriptions.keys()]
  }

  /**
   * Sends a serialized frame; a socket whose outbound buffer is over the limit is closed as a slow consumer.
   * Frames written in one tick leave in one write: the TCP socket is corked until the tick ends.
   */
  write (frame: string | WireFrame): void {
    if (this.closed || this.socket.readyState !== 1) return
    if (!this.corked) {
      // Measured at the first write of a tick: what earlier ticks left unsent is the peer's backlog (what
      // this tick batches while corked is not).
      if (this.socket.bufferedAmount > this.ctx.options.limits.maxBufferedBytes) {
        this.close(CLOSE_SLOW_CONSUMER, 'slow consumer')
        return
      }
      const raw = this.raw()
      if (raw !== undefined) {
        raw.cork()
        this.corked = true
        corked.set(this, raw)
        if (!uncorkScheduled) {
          uncorkScheduled = true
          process.nextTick(uncorkAll)
        }
      }
    }
    this.socket.send(frame, TEXT)
  }

  /** Sends the frames batched in this tick now. */
  flush (): void {
    const raw = this.raw()
    if (this.corked && raw !== undefined) uncork(this, raw)
  }

  private raw (): Duplex | undefined {
    const raw = (this.socket as unknown as { _socket?: Duplex })._socket
    return raw !== undefined && typeof raw.cork === 'function' ? raw : undefined
  }

  close (code: number, reason: string): void {
    if (this.socket.readyState >= 2) return
    this.socket.close(code, reason)
    // A peer that never answers the close handshake is cut off.
    setTimeout(() => { this.socket.terminate() }, 2000).unref()
    this.dispose()
  }

  ping (): void {
    if (this.socket.readyState === 1) this.socket.ping()
  }

  terminate (): void {
    this.socket.terminate()
    this.dispose()
  }

  subscriptionEnded (sub: SocketSubscription): void {
    if (this.subscriptions.get(sub.conversationId) !== sub) return
    this.subscriptions.delete(sub.conversationId)
    this.write(leftFrame(sub.conversationId))
  }

  private receive (data: RawData, isBinary: boolean): void {
    if (this.closed) return
    if (isBinary) {
      this.fail(new CHAT_ERR_BAD_FRAME('frames must be JSON text'), undefined)
      return
    }
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength
    const { maxFrameBytes, maxQueuedFrames, maxBufferedBytes } = this.ctx.options.limits
    // The ws server enforces this too, unless the host registered @fastify/websocket with its own maxPayload.
    if (size > maxFrameBytes) {
      this.close(CLOSE_TOO_BIG, 'frame too big')
      return
    }
    // Waiting frames are bounded in count and in bytes (one frame may always wait, whatever its size).
    if (this.queue.length >= maxQueuedFrames || (this.queue.length > 0 && this.queuedBytes + size > maxBufferedBytes)) {
      this.fail(new CHAT_ERR_QUEUE_FULL(), undefined)
      return
    }
    this.queuedBytes += size
    this.queue.push([data.toString(), size])
    if (!this.busy) {
      this.drain().catch((err: unknown) => { this.ctx.log.error({ err, userId: this.user.id }, 'chat socket loop failed') })
    }
  }

  private async drain (): Promise<void> {
    this.busy = true
    let handled = 0
    try {
      while (this.queue.length > 0 && !this.closed) {
        // A burst of frames that never waits on I/O would hold every reply until the whole burst is done.
        if (++handled % FRAMES_PER_TURN === 0) {
          await new Promise(setImmediate)
          continue // the socket may have closed meanwhile: check again
        }
        const [text, bytes] = this.queue.shift() as [string, number]
        this.queuedBytes -= bytes
        let frame: ClientFrame | undefined
        try {
          frame = parseClientFrame(text)
          await this.handle(frame)
        } catch (err) {
          this.fail(err, frame?.ref)
        }
      }
    } finally {
      this.busy = false
    }
  }

  private async handle (frame: ClientFrame): Promise<void> {
    const { manager } = this.ctx
    switch (frame.type) {
      case 'join':
        return await this.join(frame)
      case 'leave': {
        const sub = this.subscriptions.get(frame.conversationId)
        if (sub !== undefined) {
          this.subscriptions.delete(frame.conversationId)
          manager.leave(sub, frame.conversationId)
        }
        this.write(leftFrame(frame.conversationId, frame.ref))
        return
      }
      case 'send':
        return await this.send(frame)
      case 'typing':
        return await manager.typing(this.user, frame.conversationId)
      case 'cancel':
        return await manager.cancel(this.user, frame.conversationId, frame.messageId)
      case 'ping':
        this.write(pongFrame(frame.ref))
    }
  }

  private async join (frame: JoinFrame): Promise<void> {
    const joined = await this.subscribe(frame.conversationId, frame.since)
    if (joined === undefined) return
    const { sub, result } = joined
    this.write(joinedFrame(frame.ref, { conversationId: frame.conversationId, ...result }))
    const last = result.messages.length === 0 ? 0 : result.messages[result.messages.length - 1].seq
    sub.open(Math.max(result.lastSeq, last))
  }

  /** Subscribes this socket (again) to a conversation; live frames wait until the caller opens it. */
  private async subscribe (conversationId: string, since: number | undefined): Promise<{ sub: SocketSubscription, result: JoinResult } | undefined> {
    const { manager } = this.ctx
    const previous = this.subscriptions.get(conversationId)
    if (previous !== undefined) {
      this.subscriptions.delete(conversationId)
      manager.leave(previous, conversationId)
    }
    const sub = new SocketSubscription(this, conversationId)
    const result = await manager.join(this.user, conversationId, since, sub)
    if (this.closed) {
      manager.leave(sub, conversationId)
      return undefined
    }
    // Removed from the conversation (or it was deleted) while the history was read.
    if (sub.over) throw new CHAT_ERR_NOT_FOUND('Conversation')
    this.subscriptions.set(conversationId, sub)
    return { sub, result }
  }

  private async send (frame: SendFrame): Promise<void> {
    const { manager } = this.ctx
    if (!this.subscriptions.has(frame.conversationId)) {
      // A socket that sends into a conversation gets its frames, joined or not (from now on, no history).
      const joined = await this.subscribe(frame.conversationId, Number.MAX_SAFE_INTEGER)
      if (joined === undefined) return
      joined.sub.open(joined.result.lastSeq)
    }
    await manager.send(this.user, frame, ({ message }) => {
      this.write(ackFrame(frame.ref, {
        conversationId: frame.conversationId,
        clientMessageId: frame.clientMessageId,
        messageId: message.id,
        seq: message.seq
      }))
    })
  }

  private fail (thrown: unknown, ref: string | undefined): void {
    const err = (typeof thrown === 'object' && thrown !== null ? thrown : {}) as ChatErrorLike & { ref?: string }
    const pub = toPublicError(err, 'ws')
    this.ctx.metrics.errors.inc({ code: pub.code, transport: 'ws' })
    if (pub.status >= 500) this.ctx.log.error({ err, userId: this.user.id }, 'chat frame failed')
    else this.ctx.log.info({ code: pub.code, userId: this.user.id, reason: pub.message }, 'chat frame rejected')
    this.write(errorFrame(ref ?? err.ref, pub))
  }

  private dispose (): void {
    if (this.closed) return
    this.closed = true
    this.queue.length = 0
    this.queuedBytes = 0
    this.ctx.onClose(this) // first, so presence sees this socket gone
    for (const [id, sub] of this.subscriptions) this.ctx.manager.leave(sub, id)
    this.subscriptions.clear()
  }
}
