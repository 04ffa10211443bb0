import type { FastifyBaseLogger } from 'fastify'
import type { Duplex } from 'node:stream'
import type { RawData, WebSocket } from 'ws'
import type { ConversationManager } from './conversations.ts'
import type { JoinResult } from './live.ts'
import type { WireFrame } from './delivery.ts'
import { ackFrame, errorFrame, joinedParts, leftFrame, pongFrame, readyFor } from './server-frames.ts'
import { SocketSubscription } from './socket-subscription.ts'
import {
  CHAT_ERR_BAD_FRAME, CHAT_ERR_NOT_FOUND, CHAT_ERR_QUEUE_FULL, CHAT_ERR_UNAVAILABLE, toPublicError, withRetryAfter, type ChatErrorLike
} from './errors.ts'
import { parseClientFrame } from './frames.ts'
import { newId } from './ids.ts'
import type { ChatMetrics } from './metrics.ts'
import type { ResolvedOptions } from './options.ts'
import type { HumanSocket } from './participants/human.ts'
import type { ChatUser } from './schemas/entities.ts'
import type { ClientFrame, JoinFrame, SendFrame } from './schemas/frames.ts'
import { ReplyOrder, SendPipeline } from './send-pipeline.ts'
import type { AppendResult } from './storage/types.ts'
import { ExpirySchedule } from './token-expiry.ts'
import { corkForTick, senderIdle, sharedFramesFit, uncork, wsTextFrame, wsTextHeader } from './ws-frames.ts'

export const CLOSE_NORMAL = 1000
export const CLOSE_GOING_AWAY = 1001
export const CLOSE_POLICY = 1008
export const CLOSE_TOO_BIG = 1009
/** Extension: the token the socket was opened with expired; sign in again, then reconnect. */
export const CLOSE_TOKEN_EXPIRED = 4001
export const CLOSE_HEARTBEAT = 4008
export const CLOSE_SLOW_CONSUMER = 4029

export interface ConnectionContext {
  manager: ConversationManager
  options: ResolvedOptions
  metrics: ChatMetrics
  log: FastifyBaseLogger
  onClose: (conn: ChatConnection) => void
  /** A socket was closed for what its user did or let happen (slow consumer, token expired, flooding). */
  onPolicyClose?: (conn: ChatConnection, code: number, reason: string) => void
}

/** A frame waiting its turn, or the error that answers it, kept in place so replies stay in frame order. */
type Queued =
  | { frame: ClientFrame, bytes: number }
  | { text: string, bytes: number }
  | { error: unknown, ref: string | undefined, bytes: 0 }

/** Frames up to this size are parsed on arrival (a `ping` among them is answered at once); larger ones wait as text. */
const PARSE_ON_ARRIVAL_BYTES = 512

/** How long a drain waits for a socket's received frames before closing it anyway (a stalled dependency). */
export const DRAIN_TIMEOUT_MS = 10_000

/** Refusals (a few bytes each) that may wait behind a full queue before the socket is closed (1008). */
const MAX_QUEUED_REFUSALS = 256

/** Pre-encoded frames still go out as text frames. */
const TEXT = { binary: false }

/** Frames a handler may process back to back before letting I/O (and other sockets) run. */
const FRAMES_PER_TURN = 32

/** Most sends of one socket on their way to storage at once (and at most a quarter of limits.maxPendingSends). */
const MAX_PIPELINED_SENDS = 128

/**
 * Every socket and event stream whose token expires, on one timer: each is closed with 4001 when its token
 * expires (start() adds it, its close takes it out).
 */
export const tokenExpiry = new ExpirySchedule<{ policyClose: (code: number, reason: string) => void }>((conn) => {
  conn.policyClose(CLOSE_TOKEN_EXPIRED, 'token expired')
})

/**
 * A socket's 'error', logged: a client breaking the WebSocket protocol (invalid UTF-8: 1007, over maxPayload:
 * 1009) is closed by `ws` with that code, its close frame sent (debug; false: nothing more to do); anything else
 * is a server error (true: the caller terminates the socket). The connection's listener and the chat's
 * @fastify/websocket errorHandler (lib/index.ts) both use it.
 */
export function socketErrorIsFatal (err: Error, log: FastifyBaseLogger, bindings: Record<string, unknown> = {}): boolean {
  const code = (err as Error & { code?: unknown }).code
  if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
    log.debug({ ...bindings, code, reason: err.message }, 'chat socket closed: protocol error')
    return false
  }
  log.error({ ...bindings, err }, 'chat socket failed')
  return true
}

/** A socket's ChatConnection, kept on the socket: its listeners are shared by every socket, not closures of each. */
const kConnection = Symbol('chat.connection')
type OwnedSocket = WebSocket & { [kConnection]: ChatConnection }

/**
 * One WebSocket. Frames are taken in arrival order and their replies go out in that order. Consecutive `send`
 * frames into one conversation go to storage without waiting for each other's ack (send-pipeline.ts: stores
 * started in frame order, so seqs follow the frames); any other frame waits until the sends before it are over,
 * and is handled alone. Everything it starts stops when it closes.
 */
export class ChatConnection implements HumanSocket {
  readonly id = newId()
  readonly user: ChatUser
  /** Cleared by the heartbeat, set by a pong. */
  alive = true
  private readonly openedMs = Date.now()
  private readonly socket: WebSocket
  private readonly ctx: ConnectionContext
  // What only a socket that sends frames needs is made when it does (an idle socket holds none of it): the frames
  // waiting, the drain's and the loop's waiters, the replies' order, the sends in flight, the subscriptions.
  private queue: Queued[] | undefined
  private queuedBytes = 0
  private busy = false
  private closed = false
  /** Set by drain(): frames that arrive from now on are refused, those already received are finished. */
  private draining = false
  private idle: Array<() => void> | undefined
  /** Entries taken off the queue, and those handled; the drain waits until `drainAt` are handled. */
  private taken = 0
  private done = 0
  private drainAt: number | undefined
  /** Smoothed time to handle one frame: how long a socket whose queue is full should wait. */
  private frameMs = 1
  private subscriptions: Map<string, SocketSubscription> | undefined
  /** Replies in frame order, whichever frame is ready first. */
  private replies: ReplyOrder | undefined
  private pipeline: SendPipeline | undefined
  /** The loop waiting for a send to be over or a frame to arrive. */
  private wakers: Array<() => void> | undefined
  /** When the last reply went out (frameMs). */
  private lastDone = 0
  /** @internal cleared by uncork() */
  corked = false
  /** @internal written in this tick (ws-frames.ts) */
  touched = false
  /** When the token expires, as start() scheduled it. */
  private expiresAt: number | undefined
  /** Shared, pre-framed frames can be written to this socket's TCP stream directly (sharedFramesFit). */
  private readonly shared: boolean

  /** The address the socket came from (audit). */
  readonly ip: string | undefined

  constructor (socket: WebSocket, user: ChatUser, ctx: ConnectionContext, ip?: string) {
    this.socket = socket
    this.user = user
    this.ip = ip
    this.ctx = ctx
    this.shared = sharedFramesFit(socket)
    // Listeners go on before anything else can happen on this socket.
    ;(socket as OwnedSocket)[kConnection] = this
    socket.on('message', ChatConnection.onMessage)
    socket.on('pong', ChatConnection.onPong)
    socket.on('close', ChatConnection.onClose)
    socket.on('error', ChatConnection.onError)
    this.write(readyFor(user.id, this.id, ctx.options))
  }

  // The socket's listeners, the same functions for every socket (`this` is the socket).
  private static readonly onMessage = function (this: WebSocket, data: RawData, isBinary: boolean): void {
    (this as OwnedSocket)[kConnection].receive(data, isBinary)
  }

  private static readonly onPong = function (this: WebSocket): void {
    (this as OwnedSocket)[kConnection].alive = true
  }

  private static readonly onClose = function (this: WebSocket): void {
    (this as OwnedSocket)[kConnection].dispose()
  }

  private static readonly onError = function (this: WebSocket, err: Error): void {
    (this as OwnedSocket)[kConnection].socketError(err)
  }

  private socketError (err: Error): void {
    if (socketErrorIsFatal(err, this.ctx.log, { userId: this.user.id })) this.terminate()
  }

  get openedAt (): string {
    return new Date(this.openedMs).toISOString()
  }

  /** Sends added to the pipeline and not over yet. */
  private get inFlight (): number {
    return this.pipeline === undefined ? 0 : this.pipeline.size
  }

  private get waiting (): number {
    return this.queue === undefined ? 0 : this.queue.length
  }

  get userId (): string {
    return this.user.id
  }

  get conversations (): string[] {
    return this.subscriptions === undefined ? [] : [...this.subscriptions.keys()]
  }

  /**
   * Sends a serialized frame; a socket whose outbound buffer is over the limit is closed as a slow consumer.
   * Frames written in one tick leave in one write: the TCP socket is corked until the tick ends.
   */
  write (frame: string | WireFrame): void {
    this.put(frame, typeof frame !== 'string')
  }

  /**
   * write(), `shared` telling whether the frame is one many sockets get (an encoded broadcast frame: framed once,
   * see wsTextFrame) or this socket's alone (a reply: `ws` frames it, without copying it into a framed buffer).
   */
  private put (frame: string | WireFrame, shared: boolean): void {
    const raw = this.begin(true)
    if (raw === null) return
    if (shared && this.shared && raw !== undefined && typeof frame !== 'string' && senderIdle(this.socket)) {
      // An encoded frame is usually written to many sockets: the same framed bytes go to each, unless `ws`
      // has something of its own queued on this one (then it frames this one too, in order).
      raw.write(wsTextFrame(frame))
      return
    }
    this.socket.send(frame, TEXT)
  }

  /**
   * One text frame given in pieces (a big conversation's `joined`: lists shared by every joiner between small
   * pieces of its own): its header, then each piece, written to the TCP stream as they are, never copied into
   * one buffer; `ws` gets them joined when it has something of its own queued.
   */
  private putParts (parts: Buffer[]): void {
    const raw = this.begin(false)
    if (raw === null) return
    if (this.shared && raw !== undefined && senderIdle(this.socket)) {
      let length = 0
      for (const part of parts) length += part.length
      raw.write(wsTextHeader(length))
      for (const part of parts) raw.write(part)
      return
    }
    this.socket.send(Buffer.concat(parts), TEXT)
  }

  /**
   * Before a write (`oneWrite`: of a single buffer): null when the socket is closed (or closed now as a slow
   * consumer); else its TCP stream, corked until the tick ends (undefined when it has none to cork: `ws` writes
   * then). While a big conversation fans a frame out, the tick's first one goes at once (ws-frames.ts, wideFanout).
   */
  private begin (oneWrite: boolean): Duplex | undefined | null {
    if (this.closed || this.socket.readyState !== 1) return null
    const raw = this.raw()
    if (!this.corked) {
      // Measured at the first write of a tick: what earlier ticks left unsent is the peer's backlog (what
      // this tick batches, or sent at once, is not).
      if (!this.touched && this.socket.bufferedAmount > this.ctx.options.limits.maxBufferedBytes) {
        this.policyClose(CLOSE_SLOW_CONSUMER, 'slow consumer')
        return null
      }
      if (raw !== undefined) corkForTick(this, raw, oneWrite)
    }
    return raw
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
    if (this.subscriptions?.get(sub.conversationId) !== sub) return
    this.subscriptions.delete(sub.conversationId)
    this.write(leftFrame(sub.conversationId))
  }

  /**
   * A frame arrives. A small one is parsed at once, so a `ping` is answered at once, even behind a full queue; a
   * large one waits as text (what waits is bounded in bytes). Every frame but a ping, and the error that refuses
   * one (not JSON, binary, queue full, draining), waits its turn: a socket's replies come in its frames' order.
   */
  private receive (data: RawData, isBinary: boolean): void {
    if (this.closed) return
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength
    const { maxFrameBytes, maxQueuedFrames, maxBufferedBytes } = this.ctx.options.limits
    // The ws server enforces this too, unless the host registered @fastify/websocket with its own maxPayload.
    if (size > maxFrameBytes) {
      this.policyClose(CLOSE_TOO_BIG, 'frame too big')
      return
    }
    const text = isBinary ? undefined : data.toString()
    let frame: ClientFrame | undefined
    let error: unknown
    const parse = (): void => {
      if (text === undefined) {
        error = new CHAT_ERR_BAD_FRAME('frames must be JSON text')
        return
      }
      try {
        frame = parseClientFrame(text)
      } catch (err) {
        error = err
      }
    }
    if (size <= PARSE_ON_ARRIVAL_BYTES) parse()
    if (frame?.type === 'ping') {
      this.write(pongFrame(frame.ref))
      return
    }
    // Refusals wait in line too, but not without end (draining included): a client that ignores them is cut off.
    const waiting = this.waiting
    if (waiting >= maxQueuedFrames + MAX_QUEUED_REFUSALS) {
      this.policyClose(CLOSE_POLICY, 'too many frames')
      return
    }
    // Waiting frames are bounded in count and in bytes (one frame may always wait, whatever its size).
    const full = waiting >= maxQueuedFrames || (waiting > 0 && this.queuedBytes + size > maxBufferedBytes)
    if (this.draining || full) {
      // The refusal carries the frame's ref: a large frame is read for it, then let go.
      if (frame === undefined && error === undefined) parse()
      const ref = (frame as ClientFrame | undefined)?.ref ?? (error as { ref?: string } | undefined)?.ref
      const refusal = this.draining
        ? withRetryAfter(new CHAT_ERR_UNAVAILABLE('the server is shutting down'), 1000)
        : withRetryAfter(new CHAT_ERR_QUEUE_FULL(), Math.ceil(Math.max(50, waiting * this.frameMs)))
      this.enqueue({ error: refusal, ref, bytes: 0 })
      return
    }
    if (frame !== undefined) {
      this.queuedBytes += size
      this.enqueue({ frame, bytes: size })
    } else if (error !== undefined || text === undefined) {
      if (error === undefined) parse()
      this.enqueue({ error, ref: (error as { ref?: string }).ref, bytes: 0 })
    } else {
      this.queuedBytes += size
      this.enqueue({ text, bytes: size })
    }
  }

  private enqueue (entry: Queued): void {
    (this.queue ??= []).push(entry)
    if (this.busy) {
      this.nudge()
      return
    }
    this.loop().catch((err: unknown) => { this.ctx.log.error({ err, userId: this.user.id }, 'chat socket loop failed') })
  }

  /** Wakes the loop: a send is over, a frame arrived, or the socket closed. */
  private nudge (): void {
    const wakers = this.wakers
    if (wakers === undefined || wakers.length === 0) return
    this.wakers = undefined
    for (const wake of wakers) wake()
  }

  /** Resolves once `ready()` holds, or the socket is closed. */
  private async until (ready: () => boolean): Promise<void> {
    while (!ready() && !this.closed) await new Promise<void>((resolve) => { (this.wakers ??= []).push(resolve) })
  }

  /**
   * Writes a frame's reply once those of the frames before it are out (see ReplyOrder), and counts the frame
   * handled: undefined when written now, else a promise resolved once written.
   */
  private reply (slot: number, started: number, write: () => void): Promise<void> | undefined {
    return (this.replies ??= new ReplyOrder()).settle(slot, () => {
      write()
      const now = performance.now()
      this.frameMs = this.frameMs * 0.9 + (now - Math.max(started, this.lastDone)) * 0.1
      this.lastDone = now
      this.done++
      this.wakeDrain()
    })
  }

  private async loop (): Promise<void> {
    this.busy = true
    let handled = 0
    try {
      while (!this.closed) {
        if (this.waiting === 0) {
          if (this.inFlight === 0) break
          // Sends are still being stored: the loop stays busy (a drain waits for them) and takes what arrives.
          await this.until(() => this.waiting > 0 || this.inFlight === 0)
          continue
        }
        // A burst of frames that never waits on I/O would hold every reply until the whole burst is done.
        if (++handled % FRAMES_PER_TURN === 0) {
          await new Promise(setImmediate)
          continue // the socket may have closed meanwhile: check again
        }
        const entry = (this.queue as Queued[]).shift() as Queued
        this.queuedBytes -= entry.bytes
        this.taken++
        const slot = (this.replies ??= new ReplyOrder()).open()
        const started = performance.now()
        if ('error' in entry) {
          this.reply(slot, started, () => { this.fail(entry.error, entry.ref) })
          continue
        }
        let frame: ClientFrame | undefined
        try {
          frame = 'frame' in entry ? entry.frame : parseClientFrame(entry.text)
          if (frame.type === 'send') {
            await this.send(frame, slot, started)
          } else {
            // Any other frame waits for the sends before it (a join lists them) and is handled alone.
            await this.until(() => this.inFlight === 0)
            await this.handle(frame)
            this.reply(slot, started, () => {})
          }
        } catch (err) {
          const ref = frame?.ref
          this.reply(slot, started, () => { this.fail(err, ref) })
        }
      }
    } finally {
      this.busy = false
      // Idle (or closed): whatever was received is handled.
      this.wakeIdle()
    }
  }

  /** Resolves the drain once the entries received before it began are handled (later refusals do not count). */
  private wakeDrain (): void {
    if (this.drainAt !== undefined && this.done >= this.drainAt) this.wakeIdle()
  }

  private wakeIdle (): void {
    const idle = this.idle
    if (idle === undefined) return
    this.idle = undefined
    for (const resolve of idle) resolve()
  }

  /**
   * The first step of a graceful close: frames that arrive from now on are refused (UNAVAILABLE with
   * retryAfterMs); resolves once every frame received before it is handled (a send stored is acked), or after
   * DRAIN_TIMEOUT_MS if a dependency stalls.
   */
  async quiesce (): Promise<void> {
    this.draining = true
    if (this.busy && !this.closed) {
      this.drainAt = this.taken + this.waiting // the one in hand (taken, not done), then those waiting
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        new Promise<void>((resolve) => { (this.idle ??= []).push(resolve) }),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, DRAIN_TIMEOUT_MS).unref() })
      ])
      clearTimeout(timer)
    }
    this.flush()
  }

  /** Closed for what the client did (or its token): counted and audited by the registry. */
  policyClose (code: number, reason: string): void {
    if (this.closed) return
    this.ctx.onPolicyClose?.(this, code, reason)
    this.close(code, reason)
  }

  /** Once registered: from now on the socket may close by itself (its token expiring). */
  start (): void {
    const at = this.user.expiresAt
    if (at === undefined || this.closed) return
    if (at <= Date.now()) {
      this.policyClose(CLOSE_TOKEN_EXPIRED, 'token expired')
      return
    }
    this.expiresAt = at // what was scheduled, whatever the user object holds later (a host may refresh it)
    tokenExpiry.add(this, at)
  }

  get isOpen (): boolean {
    return !this.closed
  }

  /** Every frame but a send (those go through send()). */
  private async handle (frame: Exclude<ClientFrame, SendFrame>): Promise<void> {
    const { manager } = this.ctx
    switch (frame.type) {
      case 'join':
        return await this.join(frame)
      case 'leave': {
        const sub = this.subscriptions?.get(frame.conversationId)
        if (sub !== undefined) {
          this.subscriptions?.delete(frame.conversationId)
          manager.leave(sub, frame.conversationId)
        }
        this.write(leftFrame(frame.conversationId, frame.ref))
        return
      }
      case 'typing':
        return await manager.typing(this.user, frame.conversationId)
      case 'cancel':
        return await manager.cancel(this.user, frame.conversationId, frame.messageId)
      case 'ping':
        this.write(pongFrame(frame.ref))
    }
  }

  private async join (frame: JoinFrame): Promise<void> {
    const subscribed = await this.subscribe(frame.conversationId, frame.since)
    if (subscribed === undefined) return
    const { sub, result } = subscribed
    const joined = joinedParts(frame.ref, { conversationId: frame.conversationId, ...result })
    if (typeof joined === 'string') this.put(joined, false)
    else this.putParts(joined)
    const last = result.messages.length === 0 ? 0 : result.messages[result.messages.length - 1].seq
    sub.open(Math.max(result.lastSeq, last))
  }

  /** Subscribes this socket (again) to a conversation; live frames wait until the caller opens it. */
  private async subscribe (conversationId: string, since: number | undefined, implicit = false): Promise<{ sub: SocketSubscription, result: JoinResult } | undefined> {
    const { manager } = this.ctx
    // A join the user may not make (over budget) leaves the subscription it has as it is.
    if (!implicit) await manager.spendJoin(this.user)
    const previous = this.subscriptions?.get(conversationId)
    if (previous !== undefined) {
      this.subscriptions?.delete(conversationId)
      manager.leave(previous, conversationId)
    }
    const sub = new SocketSubscription(this, conversationId)
    // A `join` frame spends the user's join budget; the subscription a `send` makes (with no history) does not.
    let result: JoinResult
    try {
      result = await manager.subscribe(this.user, conversationId, since, sub)
    } catch (err) {
      // The subscription it had is gone: say so, so the client does not take itself as joined.
      if (previous !== undefined && !this.closed) this.write(leftFrame(conversationId))
      throw err
    }
    if (this.closed) {
      manager.leave(sub, conversationId)
      return undefined
    }
    // Removed from the conversation (or it was deleted) while the history was read.
    if (sub.over) throw new CHAT_ERR_NOT_FOUND('Conversation')
    ;(this.subscriptions ??= new Map()).set(conversationId, sub)
    return { sub, result }
  }

  /**
   * Puts a send in the pipeline (send-pipeline.ts); its reply is written in its turn. It first waits for the
   * sends in flight into another conversation (the pipeline holds one conversation's), for all of them when
   * this socket must first subscribe, and for room (pipelineDepth).
   */
  private async send (frame: SendFrame, slot: number, started: number): Promise<void> {
    const pipeline = this.pipeline ??= new SendPipeline({
      manager: this.ctx.manager,
      user: this.user,
      ack: (frame, result) => { this.ack(frame, result) },
      fail: (err, ref) => { this.fail(err, ref) },
      settled: () => { this.nudge() }
    })
    const depth = Math.max(1, Math.min(MAX_PIPELINED_SENDS, Math.floor(this.ctx.options.limits.maxPendingSends / 4)))
    const empty = (): boolean => pipeline.size === 0
    if (pipeline.conversationId !== frame.conversationId) await this.until(empty)
    if (this.subscriptions?.has(frame.conversationId) !== true) {
      await this.until(empty)
      // A socket that sends into a conversation gets its frames, joined or not (from now on, no history).
      const joined = await this.subscribe(frame.conversationId, Number.MAX_SAFE_INTEGER, true)
      if (joined === undefined) {
        this.reply(slot, started, () => {})
        return
      }
      joined.sub.open(joined.result.lastSeq)
    }
    await this.until(() => pipeline.size < depth)
    pipeline.add(frame, (write) => this.reply(slot, started, write))
  }

  private ack (frame: SendFrame, { message }: AppendResult): void {
    this.write(ackFrame(frame.ref, {
      conversationId: frame.conversationId,
      clientMessageId: frame.clientMessageId,
      messageId: message.id,
      seq: message.seq
    }))
  }

  private fail (thrown: unknown, ref: string | undefined): void {
    const err = (typeof thrown === 'object' && thrown !== null ? thrown : {}) as ChatErrorLike & { ref?: string }
    const pub = toPublicError(err, 'ws')
    this.ctx.metrics.errors.inc({ code: pub.code, transport: 'ws' })
    // A refused frame is the client's doing: counted in metrics, logged at debug so a bad client cannot flood the log.
    if (this.draining) this.ctx.log.debug({ code: pub.code, userId: this.user.id, reason: pub.message }, 'chat frame refused: shutting down')
    else if (pub.status >= 500 && pub.code !== 'UNAVAILABLE') this.ctx.log.error({ err, userId: this.user.id }, 'chat frame failed')
    else if (pub.status >= 500) this.ctx.log.warn({ code: pub.code, userId: this.user.id, reason: pub.message }, 'chat frame refused: a dependency is unavailable')
    else this.ctx.log.debug({ code: pub.code, userId: this.user.id, reason: pub.message }, 'chat frame rejected')
    this.write(errorFrame(ref ?? err.ref, pub))
  }

  private dispose (): void {
    if (this.closed) return
    this.closed = true
    if (this.expiresAt !== undefined) tokenExpiry.delete(this, this.expiresAt)
    this.queue = undefined
    this.queuedBytes = 0
    this.nudge()
    this.ctx.onClose(this) // first, so presence sees this socket gone
    const subscriptions = this.subscriptions
    this.subscriptions = undefined
    if (subscriptions !== undefined) for (const [id, sub] of subscriptions) this.ctx.manager.leave(sub, id)
  }
}
