import type { Message } from './schemas/entities.ts'
import { messageFrame, type WireFrame } from './server-frames.ts'
import { wideFanout } from './ws-frames.ts'

export type { WireFrame }

/** One socket's subscription to one conversation; receives pre-encoded frames. */
export interface Subscriber {
  readonly userId: string
  /** `seq` is given for frames that carry a new message (message, stream.start); used to drop repeats. */
  write (frame: WireFrame, seq?: number): void
  /** The user was removed from the conversation, or it was deleted: the subscription is over. */
  ended (): void
  /** Sends what this tick has written so far now, rather than at the end of the tick. */
  flush (): void
}

export interface ChannelOptions {
  /** Called for each message as it goes out, in seq order (cache write, AI participants, ...); `remote` when another instance stored it. */
  onDeliver: (message: Message, remote: boolean) => void
  /** Reads stored messages to fill a gap that stays open (an append that never reported back). */
  fill: (conversationId: string, after: number, before: number) => Promise<Message[]>
  gapMs: number
  onError: (err: unknown) => void
}

/**
 * Above this many subscribers, a frame fanned out to a conversation leaves each socket at once when it is the
 * socket's first of the tick (ws-frames.ts, wideFanout); in smaller ones every frame of a tick waits for the
 * socket's one write at the end of it (a sender's ack, message and stream.start leave together).
 */
const WIDE_ROOM = 64

interface Pending {
  message: Message
  extra?: WireFrame[]
  emitted?: () => void
  remote?: boolean
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
  /** Subscribed sockets per user: presence without scanning every subscriber. */
  private readonly perUser = new Map<string, number>()
  private readonly pending = new Map<number, Pending>()
  private gapTimer: NodeJS.Timeout | undefined
  private filling = false
  private readonly opts: ChannelOptions

  constructor (id: string, delivered: number, opts: ChannelOptions) {
    this.id = id
    this.delivered = delivered
    this.opts = opts
  }

  get idle (): boolean {
    return this.subscribers.size === 0 && this.inflight === 0 && this.pending.size === 0
  }

  /** Adds a subscriber; true when it is the user's first socket here. */
  add (sub: Subscriber): boolean {
    if (this.subscribers.has(sub)) return false
    this.subscribers.add(sub)
    const n = this.perUser.get(sub.userId) ?? 0
    this.perUser.set(sub.userId, n + 1)
    return n === 0
  }

  /** Removes a subscriber; true when it was the user's last socket here. */
  remove (sub: Subscriber): boolean {
    if (!this.subscribers.delete(sub)) return false
    const n = (this.perUser.get(sub.userId) ?? 1) - 1
    if (n > 0) {
      this.perUser.set(sub.userId, n)
      return false
    }
    this.perUser.delete(sub.userId)
    return true
  }

  /**
   * Queues a stored message; it goes out once every lower seq has. `extra` frames follow it. `remote`: another
   * instance stored it (and told us through the fan-out), or it was read back from storage.
   */
  deliver (message: Message, extra?: WireFrame[], emitted?: () => void, remote = false): void {
    if (message.seq <= this.delivered || this.pending.has(message.seq)) {
      emitted?.()
      return
    }
    this.pending.set(message.seq, { message, extra, emitted, remote })
    this.drain()
  }

  /**
   * Fills a gap from storage now rather than after `gapMs`. Another instance's message above a gap means the
   * lower seqs are committed already (a seq is taken in the transaction that stores it), so storage has them.
   */
  fillNow (): void {
    if (this.pending.size === 0 || this.filling) return
    clearTimeout(this.gapTimer)
    this.fillGap()
  }

  /** Reads whatever storage has past `delivered` (events from other instances may have been lost). */
  catchUp (): void {
    if (this.filling) return
    this.filling = true
    this.opts.fill(this.id, this.delivered, this.delivered + 501).then((found) => {
      for (const m of found) this.deliver(m, undefined, undefined, true)
    }, (err: unknown) => { this.opts.onError(err) }).finally(() => { this.filling = false })
  }

  /** A frame outside the sequence (typing, stream chunks, presence) to everyone, or to all but one user. */
  broadcast (frame: WireFrame, exceptUserId?: string): void {
    this.fanOut(frame, true, undefined, exceptUserId)
  }

  /** Lets every subscriber's batched frames leave now (before slow work in the same tick). */
  flush (): void {
    for (const sub of this.subscribers) sub.flush()
  }

  /** Stops the sequencer; returns the subscribers it had, and forgets them. */
  close (): Subscriber[] {
    clearTimeout(this.gapTimer)
    this.gapTimer = undefined
    for (const p of this.pending.values()) p.emitted?.()
    this.pending.clear()
    const subs = [...this.subscribers]
    this.subscribers.clear()
    this.perUser.clear()
    return subs
  }

  /** One frame to every subscriber (but `exceptUserId`'s); `alone`: nothing follows it in this tick here. */
  private fanOut (frame: WireFrame, alone: boolean, seq?: number, exceptUserId?: string): void {
    wideFanout.active = alone && this.subscribers.size > WIDE_ROOM
    try {
      for (const sub of this.subscribers) {
        if (sub.userId !== exceptUserId) sub.write(frame, seq)
      }
    } finally {
      wideFanout.active = false
    }
  }

  private drain (): void {
    let next = this.pending.get(this.delivered + 1)
    while (next !== undefined) {
      this.pending.delete(this.delivered + 1)
      this.delivered++
      this.emit(next)
      next = this.pending.get(this.delivered + 1)
    }
    if (this.pending.size === 0) {
      clearTimeout(this.gapTimer)
      this.gapTimer = undefined
    } else if (this.gapTimer === undefined) {
      this.gapTimer = setTimeout(() => { this.fillGap() }, this.opts.gapMs).unref()
    }
  }

  private emit ({ message, extra, emitted, remote }: Pending): void {
    try {
      // Encoded once for every recipient. Alone, the message may leave each socket of a big conversation at
      // once; with frames following it (an answer's stream.start), they are corked to leave together.
      this.fanOut(messageFrame(message), extra === undefined, message.seq)
      if (extra !== undefined) {
        for (const e of extra) this.broadcast(e)
      }
      this.opts.onDeliver(message, remote === true)
    } catch (err) {
      this.opts.onError(err)
    }
    emitted?.()
  }

  /**
   * Reads the first gap, (delivered, lowest waiting seq), from storage. A seq is taken in the transaction that
   * stores it, so every seq below a stored one is committed: what storage lacks in that range was never stored
   * (a failed append) and is skipped, once no append of ours is still running. Only the range read is skipped;
   * the next gap is read at once (another instance's message may be on its way; storage has it already).
   */
  private fillGap (): void {
    this.gapTimer = undefined
    if (this.pending.size === 0 || this.filling) return
    const lowest = Math.min(...this.pending.keys())
    this.filling = true
    this.opts.fill(this.id, this.delivered, lowest).then((found) => {
      this.filling = false
      for (const m of found) this.deliver(m)
      if (this.inflight === 0 && this.delivered < lowest - 1) this.delivered = lowest - 1
      this.drain()
      if (this.pending.size > 0 && !this.pending.has(this.delivered + 1) && this.inflight === 0) this.fillNow()
    }, (err: unknown) => {
      // Nothing is skipped on a failed read: the gap timer tries again.
      this.filling = false
      this.opts.onError(err)
      this.drain()
    }).catch((err: unknown) => { this.opts.onError(err) })
  }
}
