import type { Message } from './schemas/entities.ts'

/** One socket's subscription to one conversation; receives pre-serialized frames. */
export interface Subscriber {
  readonly userId: string
  /** `seq` is given for frames that carry a new message (message, stream.start); used to drop repeats. */
  write (frame: string, seq?: number): void
  /** The user was removed from the conversation, or it was deleted: the subscription is over. */
  ended (): void
  /** Sends what this tick has written so far now, rather than at the end of the tick. */
  flush (): void
}

export interface ChannelOptions {
  /** Called for each message as it goes out, in seq order (cache write, AI participants, ...). */
  onDeliver: (message: Message) => void
  /** Reads stored messages to fill a gap that stays open (an append that never reported back). */
  fill: (conversationId: string, after: number, before: number) => Promise<Message[]>
  gapMs: number
  onError: (err: unknown) => void
}

export function messageFrame (message: Message): string {
  const type = message.kind === 'ai' && message.status === 'streaming' ? 'stream.start' : 'message'
  return JSON.stringify({ type, conversationId: message.conversationId, message })
}

/**
 * The live side of one conversation: its subscribed sockets, and the sequencer that hands messages out in
 * strictly increasing seq with no gap, whatever order their stores completed in.
 */
export class Channel {
  readonly id: string
  readonly subscribers = new Set<Subscriber>()
  /** The last seq handed to subscribers. */
  delivered: number
  /** Appends started here and not yet delivered. */
  inflight = 0
  private readonly pending = new Map<number, { message: Message, extra?: string[] }>()
  private gapTimer: NodeJS.Timeout | undefined
  private readonly opts: ChannelOptions

  constructor (id: string, delivered: number, opts: ChannelOptions) {
    this.id = id
    this.delivered = delivered
    this.opts = opts
  }

  get idle (): boolean {
    return this.subscribers.size === 0 && this.inflight === 0 && this.pending.size === 0
  }

  /** Queues a stored message; it goes out once every lower seq has. `extra` frames follow it. */
  deliver (message: Message, extra?: string[]): void {
    if (message.seq <= this.delivered || this.pending.has(message.seq)) return
    this.pending.set(message.seq, { message, extra })
    this.drain()
  }

  /** A frame outside the sequence (typing, stream chunks, presence) to everyone, or to all but one user. */
  broadcast (frame: string, exceptUserId?: string): void {
    for (const sub of this.subscribers) {
      if (sub.userId !== exceptUserId) sub.write(frame)
    }
  }

  /** Lets every subscriber's batched frames leave now (before slow work in the same tick). */
  flush (): void {
    for (const sub of this.subscribers) sub.flush()
  }

  close (): void {
    clearTimeout(this.gapTimer)
    this.gapTimer = undefined
    this.pending.clear()
  }

  private drain (): void {
    let next = this.pending.get(this.delivered + 1)
    while (next !== undefined) {
      this.pending.delete(this.delivered + 1)
      this.delivered++
      this.emit(next.message, next.extra)
      next = this.pending.get(this.delivered + 1)
    }
    if (this.pending.size === 0) {
      clearTimeout(this.gapTimer)
      this.gapTimer = undefined
    } else if (this.gapTimer === undefined) {
      this.gapTimer = setTimeout(() => { this.fillGap() }, this.opts.gapMs).unref()
    }
  }

  private emit (message: Message, extra?: string[]): void {
    const frame = messageFrame(message) // serialized once for every recipient
    for (const sub of this.subscribers) sub.write(frame, message.seq)
    if (extra !== undefined) {
      for (const e of extra) this.broadcast(e)
    }
    try {
      this.opts.onDeliver(message)
    } catch (err) {
      this.opts.onError(err)
    }
  }

  private fillGap (): void {
    this.gapTimer = undefined
    if (this.pending.size === 0) return
    const lowest = Math.min(...this.pending.keys())
    this.opts.fill(this.id, this.delivered, lowest).then((found) => {
      for (const m of found) this.deliver(m)
      // With no append of ours still running, whatever storage does not have was never stored:
      // skip past it so the rest can go out. Otherwise the missing one is still on its way.
      if (this.inflight === 0 && this.pending.size > 0 && !this.pending.has(this.delivered + 1)) {
        this.delivered = Math.min(...this.pending.keys()) - 1
      }
      this.drain()
    }, (err: unknown) => {
      this.opts.onError(err)
      this.drain()
    })
  }
}
