import type { Message } from '../schemas/entities.ts'

export interface LogSink {
  /** A message whose turn has come: every lower seq has gone out before it. */
  deliver: (message: Message) => void
  /** A delivered AI answer grew (a chunk) or ended. */
  update: (message: Message, chunk?: { index: number, part: unknown }) => void
  /** Reads the stored messages with after < seq < before, ascending (REST paging). */
  fill: (conversationId: string, after: number, before: number) => Promise<Message[]>
  /** A fill failed; the log tries again after this many ms (or sooner, when the socket gives it more). */
  fillFailed: (err: unknown) => void
}

const FILL_RETRY_MS = 1000

/**
 * One conversation as the client has delivered it: every stored message once, in seq order, with no gap.
 * Messages may arrive out of order or twice (a replay after a reconnect, REST pages, live frames); those at or
 * below `delivered` are dropped, those above a gap wait while the gap is read over REST.
 */
export class ConversationLog {
  readonly id: string
  /** The app asked to be joined: rejoined after every reconnect. */
  wanted = false
  /** Highest seq handed to the app; 0 until the first `joined` (or the first message) says where to start. */
  delivered = 0
  started = false
  /** Highest seq the server said exists. */
  private known = 0
  private readonly pending = new Map<number, Message>()
  /** AI answers still streaming, by message id: the very objects the app was given, grown in place. */
  private readonly streams = new Map<string, Message>()
  private filling = false
  private retry: ReturnType<typeof setTimeout> | undefined
  private readonly sink: LogSink

  constructor (id: string, sink: LogSink) {
    this.id = id
    this.sink = sink
  }

  /** Where to start, on the first `joined` or the first message: history before this point is not replayed. */
  start (delivered: number): void {
    if (this.started) return
    this.started = true
    this.delivered = delivered
  }

  /** The server says messages up to `seq` exist (a `joined`'s lastSeq). */
  reach (seq: number): void {
    if (seq > this.known) this.known = seq
    this.drain()
  }

  /** A message carried by any frame: `message`, `stream.start`, `stream.end`, a replay or a REST page. */
  add (message: Message): void {
    if (message.seq > this.known) this.known = message.seq
    if (message.seq <= this.delivered) {
      this.merge(message)
      return
    }
    const waiting = this.pending.get(message.seq)
    if (waiting === undefined || newer(message, waiting)) this.pending.set(message.seq, message)
    this.drain()
  }

  /** A chunk of a streaming answer; only the next index is taken (the rest come with a snapshot or stream.end). */
  chunk (messageId: string, index: number, part: unknown): void {
    const message = this.streams.get(messageId)
    if (message === undefined) return
    const parts = (message.parts ??= [])
    if (index !== parts.length) return
    parts.push(part)
    if (message.seq <= this.delivered) this.sink.update(message, { index, part })
  }

  /**
   * After a (re)join: answers this log holds as streaming that the server no longer lists as streaming ended
   * while the socket was away, and their seq is at or below `since`, so no replay carries them: read them back.
   */
  settle (stillStreaming: ReadonlySet<string>): void {
    for (const message of this.streams.values()) {
      if (stillStreaming.has(message.id) || message.seq > this.delivered) continue
      this.sink.fill(this.id, message.seq - 1, message.seq + 1).then((page) => {
        for (const m of page) this.add(m)
      }, (err: unknown) => { this.sink.fillFailed(err) })
    }
  }

  close (): void {
    if (this.retry !== undefined) clearTimeout(this.retry)
    this.retry = undefined
    this.pending.clear()
    this.streams.clear()
  }

  /** A message already delivered comes again: an AI answer that grew or ended updates the object the app holds. */
  private merge (message: Message): void {
    const held = this.streams.get(message.id)
    if (held === undefined) return
    const before = held.parts?.length ?? 0
    const parts = message.parts ?? []
    if (message.status === 'streaming') {
      if (parts.length <= before) return
      held.parts = [...(held.parts ?? []), ...parts.slice(before)]
      for (let index = before; index < parts.length; index++) this.sink.update(held, { index, part: parts[index] })
      return
    }
    Object.assign(held, message)
    this.streams.delete(message.id)
    this.sink.update(held)
  }

  private drain (): void {
    for (let next = this.pending.get(this.delivered + 1); next !== undefined; next = this.pending.get(this.delivered + 1)) {
      this.pending.delete(next.seq)
      this.delivered = next.seq
      if (next.kind === 'ai' && next.status === 'streaming') this.streams.set(next.id, next)
      this.sink.deliver(next)
    }
    if (this.delivered < this.known && !this.filling && this.retry === undefined) void this.fillGap()
  }

  /** Reads (delivered, first waiting seq) over REST, page by page, until the gap is closed. */
  private async fillGap (): Promise<void> {
    this.filling = true
    try {
      while (this.delivered < this.known && !this.pending.has(this.delivered + 1)) {
        const waiting = [...this.pending.keys()]
        const before = waiting.length === 0 ? this.known + 1 : Math.min(...waiting)
        const page = await this.sink.fill(this.id, this.delivered, before)
        if (page.length === 0) {
          // Storage holds nothing in the gap: nothing more to wait for below the first waiting message.
          if (this.pending.size === 0) this.known = this.delivered
          else this.delivered = before - 1
          break
        }
        for (const message of page) this.add(message)
      }
    } catch (err) {
      this.sink.fillFailed(err)
      this.retry = setTimeout(() => { this.retry = undefined; this.drain() }, FILL_RETRY_MS)
    } finally {
      this.filling = false
    }
    this.drain()
  }
}

/** Of two copies of one message, the one further along (a finished answer beats its placeholder). */
function newer (a: Message, b: Message): boolean {
  if (b.status === 'streaming' && a.status !== 'streaming') return true
  return (a.parts?.length ?? 0) > (b.parts?.length ?? 0)
}
