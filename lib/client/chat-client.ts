import type { Participant } from '../schemas/entities.ts'
import type { AckFrame, JoinedFrame, ParticipantFrame, PresenceFrame, ReadyFrame, ServerFrame } from '../schemas/server-frames.ts'
import { ConversationLog } from './conversation-log.ts'
import { Emitter } from './emitter.ts'
import { ChatClientError } from './errors.ts'
import { openEventTransport, type StreamFetch } from './event-transport.ts'
import { ChatRest, type FetchLike } from './rest.ts'
import { Roster } from './roster.ts'
import { openSocket, type SocketLike, type WebSocketConstructor } from './socket.ts'
import type { ChatClientEvents, ChatClientOptions, ChatClientState, ChatTransport, JoinResult, SendAck, SendOptions } from './types.ts'

export type * from './types.ts'

type Pending =
  | { kind: 'send', clientMessageId: string }
  | { kind: 'join', conversationId: string }
  | { kind: 'other' }

interface Outgoing {
  frame: { type: 'send', conversationId: string, clientMessageId: string, content: string, metadata?: Record<string, unknown> }
  resolve: (ack: SendAck) => void
  reject: (err: ChatClientError) => void
}

interface JoinWaiter { resolve: (r: JoinResult) => void, reject: (err: ChatClientError) => void }

function randomId (): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  return c?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`
}

/**
 * A client for `/chat/ws`, for browsers and Node, with no dependencies. It stays connected (reconnecting with
 * jittered backoff), stays joined (resuming with `since`, closing gaps over REST), and resends unacknowledged
 * sends with their `clientMessageId`: across any number of drops the app sees each message once, in order.
 *
 * Where WebSockets are blocked (the socket ends before `ready` `fallbackAfter` times in a row), it carries on
 * over event streams and REST (event-transport.ts), with the same events; from there it tries a WebSocket
 * again every `websocketRetryMs` and moves back to it once one reaches `ready`.
 */
export class ChatClient extends Emitter<ChatClientEvents> {
  readonly rest: ChatRest
  state: ChatClientState = 'connecting'
  /** From the server's `ready`: who we are and the limits that apply. */
  ready: ReadyFrame | undefined
  /** The transport in use, or being tried: `websocket`, or `sse` (event streams and REST). */
  transport: ChatTransport
  private readonly opts: ChatClientOptions
  private readonly httpBase: string
  private readonly fetchImpl: FetchLike
  private socket: SocketLike | undefined
  /** The current connection reached `ready`. */
  private opened = false
  /** WebSocket attempts in a row that ended before `ready`. */
  private socketFailures = 0
  private probeTimer: ReturnType<typeof setTimeout> | undefined
  private probeSocket: SocketLike | undefined
  private attempt = 0
  private refs = 0
  private readonly logs = new Map<string, ConversationLog>()
  /** Who is in each joined conversation, and who is online there. */
  private readonly rosters = new Map<string, Roster>()
  private readonly outbox = new Map<string, Outgoing>()
  private readonly refsInFlight = new Map<string, Pending>()
  private readonly joinWaiters = new Map<string, JoinWaiter[]>()
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private pingTimer: ReturnType<typeof setInterval> | undefined
  private heard = true

  constructor (opts: ChatClientOptions) {
    super()
    this.opts = opts
    // Called as a plain function: browsers refuse `fetch` called as a method of anything but `window`.
    const global = globalThis.fetch as unknown as FetchLike | undefined
    const fetchImpl: FetchLike = opts.fetch ?? (async (url, init) => {
      if (global === undefined) throw new Error('no fetch: pass one in the options')
      return await global(url, init)
    })
    this.fetchImpl = fetchImpl
    this.httpBase = (opts.httpUrl ?? restBase(opts.url)).replace(/\/$/, '')
    this.rest = new ChatRest(this.httpBase, async () => await this.token(), fetchImpl)
    this.transport = this.transports()[0]
    void this.connect()
  }

  /** Joins a conversation and stays joined across reconnects. Its messages come as `message` events. */
  async join (conversationId: string, opts: { since?: number } = {}): Promise<JoinResult> {
    const log = this.log(conversationId)
    log.wanted = true
    if (opts.since !== undefined) log.start(opts.since)
    const result = new Promise<JoinResult>((resolve, reject) => {
      const waiters = this.joinWaiters.get(conversationId) ?? []
      waiters.push({ resolve, reject })
      this.joinWaiters.set(conversationId, waiters)
    })
    if (this.state === 'open') this.sendJoin(log)
    else if (this.state === 'closed') this.settleJoin(conversationId, new ChatClientError('CLOSED', 0, 'the client is closed'))
    return await result
  }

  /** Stops receiving a conversation's frames (membership is unchanged). */
  leave (conversationId: string): void {
    this.dropped(conversationId, undefined)
    this.transmit({ type: 'leave', conversationId }, { kind: 'other' })
  }

  /** Resolves once the message is stored, with its seq; rejects with a ChatClientError (e.g. RATE_LIMITED). */
  async send (conversationId: string, content: string, opts: SendOptions = {}): Promise<SendAck> {
    if (this.state === 'closed') throw new ChatClientError('CLOSED', 0, 'the client is closed')
    const clientMessageId = opts.clientMessageId ?? randomId()
    const frame: Outgoing['frame'] = { type: 'send', conversationId, clientMessageId, content }
    if (opts.metadata !== undefined) frame.metadata = opts.metadata
    return await new Promise<SendAck>((resolve, reject) => {
      const existing = this.outbox.get(clientMessageId)
      if (existing !== undefined) {
        // The same message sent twice before its ack: both callers get the one ack.
        const { resolve: r1, reject: j1 } = existing
        existing.resolve = (ack) => { r1(ack); resolve(ack) }
        existing.reject = (err) => { j1(err); reject(err) }
        return
      }
      this.outbox.set(clientMessageId, { frame, resolve, reject })
      if (this.state === 'open') this.transmit(frame, { kind: 'send', clientMessageId })
    })
  }

  /** Tells the others this user is typing (dropped while disconnected). */
  typing (conversationId: string): void {
    this.transmit({ type: 'typing', conversationId }, { kind: 'other' })
  }

  /** Stops an AI answer; its stream ends with status `cancelled`. */
  cancel (conversationId: string, messageId: string): void {
    this.transmit({ type: 'cancel', conversationId, messageId }, { kind: 'other' })
  }

  /**
   * The participants of a joined conversation as the frames told them, with their online flags kept current
   * (`participant` and `presence` frames); empty before its `joined`. In a big conversation (more than the
   * server's `limits.presenceBatchAbove` participants) only those `joined` listed and those who joined since:
   * `participantCount` and `online` cover everyone, and `rest.conversation(id)` lists them all.
   */
  participants (conversationId: string): Participant[] {
    return this.rosters.get(conversationId)?.participants() ?? []
  }

  /** The ids of a joined conversation's participants online now, in a conversation of any size. */
  online (conversationId: string): string[] {
    return this.rosters.get(conversationId)?.online() ?? []
  }

  /** How many participants a joined conversation has; 0 before its `joined`. */
  participantCount (conversationId: string): number {
    return this.rosters.get(conversationId)?.participantCount ?? 0
  }

  /** Closes the socket for good; every unsettled promise rejects with CLOSED. */
  close (): void {
    if (this.state === 'closed') return
    this.setState('closed')
    clearTimeout(this.reconnectTimer)
    clearInterval(this.pingTimer)
    clearTimeout(this.probeTimer)
    this.probeSocket?.close(1000, 'client closed')
    const socket = this.socket
    this.socket = undefined
    socket?.close(1000, 'client closed')
    const err = new ChatClientError('CLOSED', 0, 'the client is closed')
    for (const out of this.outbox.values()) out.reject(err)
    this.outbox.clear()
    for (const id of [...this.joinWaiters.keys()]) this.settleJoin(id, err)
    for (const log of this.logs.values()) log.close()
  }

  private async token (): Promise<string | undefined> {
    const { token } = this.opts
    return typeof token === 'function' ? await token() : token
  }

  private async connect (): Promise<void> {
    let token: string | undefined
    try {
      token = await this.token()
    } catch (err) {
      this.emit('error', new ChatClientError('UNAUTHORIZED', 401, `token: ${(err as Error).message}`))
      this.scheduleReconnect()
      return
    }
    if (this.state === 'closed') return
    const allowed = this.transports()
    if (!allowed.includes(this.transport)) this.transport = allowed[0]
    if (this.transport === 'websocket' && this.webSocketClass() === undefined && allowed.includes('sse')) this.transport = 'sse'
    this.opened = false
    const handlers = {
      message: (frame: ServerFrame) => { if (this.socket === socket) this.onFrame(frame) },
      close: () => { if (this.socket === socket) this.onDrop() }
    }
    const socket: SocketLike = this.transport === 'sse'
      ? openEventTransport(this.httpBase, token, this.fetchImpl as unknown as StreamFetch, handlers)
      : openSocket(this.opts, token, handlers)
    this.socket = socket
    this.heard = true
    const every = this.opts.pingIntervalMs ?? 25_000
    clearInterval(this.pingTimer)
    if (every > 0) this.pingTimer = setInterval(() => { this.checkAlive() }, every)
  }

  private checkAlive (): void {
    if (this.state !== 'open') return
    if (!this.heard) {
      // Nothing came back since the last ping: the connection is dead even if the socket has not noticed.
      this.socket?.close(4000, 'no answer to ping')
      this.onDrop()
      return
    }
    this.heard = false
    this.transmit({ type: 'ping' }, { kind: 'other' })
  }

  private onDrop (): void {
    this.socket = undefined
    this.refsInFlight.clear()
    clearInterval(this.pingTimer)
    clearTimeout(this.probeTimer)
    if (this.state === 'closed') return
    this.chooseTransport()
    if (this.opts.reconnect === false) {
      this.close()
      return
    }
    this.scheduleReconnect()
  }

  private scheduleReconnect (): void {
    if (this.state === 'closed') return
    this.setState('reconnecting')
    const cfg = this.opts.reconnect === false ? {} : this.opts.reconnect ?? {}
    const initial = cfg.initialDelayMs ?? 250
    const max = cfg.maxDelayMs ?? 10_000
    const ceiling = Math.min(max, initial * 2 ** Math.min(this.attempt, 16))
    this.attempt++
    const delay = Math.random() * ceiling // full jitter: replicas' clients do not come back in step
    clearTimeout(this.reconnectTimer)
    this.reconnectTimer = setTimeout(() => { void this.connect() }, delay)
  }

  private onFrame (frame: ServerFrame): void {
    this.heard = true
    switch (frame.type) {
      case 'ready': {
        this.ready = frame
        this.attempt = 0
        this.opened = true
        if (this.transport === 'websocket') this.socketFailures = 0
        else this.scheduleProbe()
        this.setState('open')
        this.emit('ready', frame)
        // Rejoin first: the server handles a socket's frames in order, so resent messages land joined.
        for (const log of this.logs.values()) if (log.wanted) this.sendJoin(log)
        for (const out of this.outbox.values()) this.transmit(out.frame, { kind: 'send', clientMessageId: out.frame.clientMessageId })
        return
      }
      case 'joined': return this.onJoined(frame)
      case 'ack': return this.onAck(frame)
      case 'message':
      case 'stream.start':
      case 'stream.end':
        this.logFor(frame.conversationId, frame.message.seq).add(frame.message)
        return
      case 'stream.chunk':
        this.logs.get(frame.conversationId)?.chunk(frame.messageId, frame.index, frame.part)
        return
      case 'left': return this.dropped(frame.conversationId, frame.ref === undefined ? new ChatClientError('NOT_FOUND', 404, 'no longer a participant, or the conversation was deleted') : undefined)
      case 'participant': return this.onParticipant(frame)
      case 'presence': return this.onPresence(frame)
      case 'typing': return this.emit('typing', frame)
      case 'error': return this.onError(frame)
      default:
    }
  }

  private onJoined (frame: JoinedFrame): void {
    if (frame.ref !== undefined) this.refsInFlight.delete(frame.ref)
    const log = this.logs.get(frame.conversationId)
    if (log === undefined) return // left meanwhile
    const first = frame.messages[0]
    log.start(first === undefined ? frame.lastSeq : first.seq - 1)
    for (const message of frame.messages) log.add(message)
    for (const message of frame.streaming ?? []) log.add(message)
    log.settle(new Set([...frame.messages, ...frame.streaming ?? []].filter((m) => m.status === 'streaming').map((m) => m.id)))
    log.reach(frame.lastSeq)
    let roster = this.rosters.get(frame.conversationId)
    if (roster === undefined) this.rosters.set(frame.conversationId, roster = new Roster())
    roster.joined(frame)
    const result: JoinResult = { conversation: frame.conversation, lastSeq: frame.lastSeq }
    if (frame.participantCount !== undefined) result.participantCount = frame.participantCount
    if (frame.online !== undefined) result.online = frame.online
    this.emit('joined', result)
    this.settleJoin(frame.conversationId, result)
  }

  private onParticipant (frame: ParticipantFrame): void {
    this.rosters.get(frame.conversationId)?.participant(frame)
    this.emit('participant', frame)
  }

  /**
   * A big conversation's presence changes, coalesced: `presence` with the frame, then, for each other
   * participant this client holds a record of, the `participant` event (`online`/`offline`) the change stands for.
   */
  private onPresence (frame: PresenceFrame): void {
    const events = this.rosters.get(frame.conversationId)?.presence(frame) ?? []
    this.emit('presence', frame)
    // As with the per-event frames, the user is not told of itself.
    for (const event of events) if (event.participant.id !== this.ready?.userId) this.emit('participant', event)
  }

  private onAck (frame: AckFrame): void {
    if (frame.ref !== undefined) this.refsInFlight.delete(frame.ref)
    const out = this.outbox.get(frame.clientMessageId)
    if (out === undefined) return
    this.outbox.delete(frame.clientMessageId)
    out.resolve({ conversationId: frame.conversationId, clientMessageId: frame.clientMessageId, messageId: frame.messageId, seq: frame.seq })
  }

  private onError (frame: Extract<ServerFrame, { type: 'error' }>): void {
    const err = ChatClientError.fromFrame(frame)
    const pending = frame.ref === undefined ? undefined : this.refsInFlight.get(frame.ref)
    if (frame.ref !== undefined) this.refsInFlight.delete(frame.ref)
    if (pending?.kind === 'send') {
      const out = this.outbox.get(pending.clientMessageId)
      this.outbox.delete(pending.clientMessageId)
      out?.reject(err)
      return
    }
    if (pending?.kind === 'join') {
      const waited = this.joinWaiters.has(pending.conversationId)
      const log = this.logs.get(pending.conversationId)
      // A rejoin (after a reconnect) refused for now (a budget, a busy or unavailable server) is tried again
      // when the server says; the conversation is not given up.
      if (!waited && log !== undefined && err.retryAfterMs !== undefined) {
        const again = setTimeout(() => { if (this.logs.get(log.id) === log && this.state === 'open') this.sendJoin(log) }, err.retryAfterMs + Math.random() * 250)
        again.unref?.()
        return
      }
      this.settleJoin(pending.conversationId, err)
      // A rejoin nobody waits on (after a reconnect) that finds the conversation gone is news for the app.
      if (this.logs.has(pending.conversationId)) this.dropped(pending.conversationId, waited ? undefined : err)
      return
    }
    this.emit('error', err)
  }

  /** Forgets a conversation and says so (`left`). */
  private dropped (conversationId: string, reason: ChatClientError | undefined): void {
    const log = this.logs.get(conversationId)
    if (log === undefined) return
    log.close()
    this.logs.delete(conversationId)
    this.rosters.delete(conversationId)
    this.emit('left', reason === undefined ? { conversationId } : { conversationId, reason })
  }

  private sendJoin (log: ConversationLog): void {
    const frame: { type: 'join', conversationId: string, since?: number } = { type: 'join', conversationId: log.id }
    if (log.started) frame.since = log.delivered
    this.transmit(frame, { kind: 'join', conversationId: log.id })
  }

  private settleJoin (conversationId: string, outcome: JoinResult | ChatClientError): void {
    const waiters = this.joinWaiters.get(conversationId)
    if (waiters === undefined) return
    this.joinWaiters.delete(conversationId)
    for (const w of waiters) {
      if (outcome instanceof ChatClientError) w.reject(outcome)
      else w.resolve(outcome)
    }
  }

  private transports (): ChatTransport[] {
    const list = (this.opts.transports ?? ['websocket', 'sse']).filter((t) => t === 'websocket' || t === 'sse')
    return list.length === 0 ? ['websocket'] : list
  }

  private webSocketClass (): WebSocketConstructor | undefined {
    return this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  }

  /**
   * After a drop: a WebSocket that ended before `ready` `fallbackAfter` times in a row gives way to event
   * streams; event streams that ended before `ready` too give the WebSocket its turn again (the server was
   * down, not the WebSocket blocked). A transport that reached `ready` is kept.
   */
  private chooseTransport (): void {
    const allowed = this.transports()
    if (this.opened || allowed.length < 2) return
    if (this.transport === 'websocket') {
      if (++this.socketFailures >= (this.opts.fallbackAfter ?? 2)) this.transport = 'sse'
    } else {
      this.socketFailures = 0
      this.transport = 'websocket'
    }
  }

  /** On event streams: a WebSocket is tried beside them every `websocketRetryMs`, and taken once it is ready. */
  private scheduleProbe (): void {
    clearTimeout(this.probeTimer)
    const every = this.opts.websocketRetryMs ?? 300_000
    if (every <= 0 || !this.transports().includes('websocket') || this.webSocketClass() === undefined) return
    this.probeTimer = setTimeout(() => { void this.probe() }, every)
    ;(this.probeTimer as { unref?: () => void }).unref?.()
  }

  private async probe (): Promise<void> {
    if (this.state !== 'open' || this.transport !== 'sse' || this.probeSocket !== undefined) return
    let token: string | undefined
    try {
      token = await this.token()
    } catch {
      this.scheduleProbe()
      return
    }
    if (this.state !== 'open' || this.transport !== 'sse') return
    const probe: SocketLike = openSocket(this.opts, token, {
      message: (frame) => {
        if (this.socket === probe) {
          this.onFrame(frame)
          return
        }
        this.probeSocket = undefined
        if (frame.type !== 'ready' || this.state !== 'open' || this.transport !== 'sse') {
          probe.close(1000, 'not needed')
          return
        }
        // Taken: the event streams close, and `ready` rejoins every conversation with `since` and resends.
        const old = this.socket
        this.socket = probe
        this.transport = 'websocket'
        this.refsInFlight.clear()
        old?.close(1000, 'moved to a WebSocket')
        this.onFrame(frame)
      },
      close: () => {
        if (this.socket === probe) {
          this.onDrop()
        } else if (this.probeSocket === probe) {
          this.probeSocket = undefined
          this.scheduleProbe()
        }
      }
    })
    this.probeSocket = probe
  }

  private transmit (frame: Record<string, unknown>, pending: Pending): void {
    const socket = this.socket
    if (socket === undefined || this.state !== 'open') return
    const ref = `r${++this.refs}`
    this.refsInFlight.set(ref, pending)
    socket.send(JSON.stringify({ ...frame, ref }))
  }

  private log (conversationId: string): ConversationLog {
    let log = this.logs.get(conversationId)
    if (log === undefined) {
      log = new ConversationLog(conversationId, {
        deliver: (message) => {
          this.emit('message', message)
          if (message.kind === 'ai' && message.status === 'streaming') this.emit('stream.start', message)
        },
        update: (message, chunk) => {
          if (chunk !== undefined) {
            this.emit('stream.chunk', { conversationId: message.conversationId, messageId: message.id, ...chunk, message })
          } else {
            this.emit('stream.end', message)
          }
          this.emit('update', message)
        },
        fill: async (id, after, before) => await this.rest.messages(id, {
          after,
          before,
          limit: Math.min(this.opts.pageSize ?? 500, 500)
        }),
        fillFailed: (err) => {
          this.emit('error', err instanceof ChatClientError ? err : new ChatClientError('UNAVAILABLE', 503, String(err)))
        }
      })
      this.logs.set(conversationId, log)
    }
    return log
  }

  /** The log of a conversation a frame names; one never joined (the server subscribes a sender) starts here. */
  private logFor (conversationId: string, seq: number): ConversationLog {
    const log = this.log(conversationId)
    log.start(seq - 1)
    return log
  }

  private setState (state: ChatClientState): void {
    if (this.state === state) return
    this.state = state
    this.emit('state', state)
  }
}

/** `ws://host/chat/ws` → `http://host/chat`. */
function restBase (url: string): string {
  const u = new URL(url)
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:'
  u.pathname = u.pathname.replace(/\/[^/]*\/?$/, '')
  u.search = ''
  return u.toString().replace(/\/$/, '')
}
