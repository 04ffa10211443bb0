import type { Subscriber, WireFrame } from './delivery.ts'
import type { ChatUser } from './schemas/entities.ts'

/** Where a subscription's frames go: a WebSocket (connection.ts) or an event stream (event-stream.ts). */
export interface SubscriptionOwner {
  readonly user: ChatUser
  /** `seq` comes with the frames that carry a new message (an event stream makes it the event's id). */
  write (frame: WireFrame, seq?: number): void
  flush (): void
  subscriptionEnded (sub: SocketSubscription): void
}

/** One socket's (or event stream's) view of one conversation: frames wait while its `joined` reply is being built. */
export class SocketSubscription implements Subscriber {
  readonly conn: SubscriptionOwner
  readonly conversationId: string
  /** Highest message seq this socket has been given; a repeat at or below it is dropped. */
  seen = 0
  private held: Array<[WireFrame, number | undefined]> | null = []

  constructor (conn: SubscriptionOwner, conversationId: string) {
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
    this.conn.write(frame, seq)
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
