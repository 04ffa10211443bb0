import type { ChatConnection } from './connection.ts'
import type { Subscriber, WireFrame } from './delivery.ts'

/** One socket's view of one conversation: frames wait while its `joined` reply is being built. */
export class SocketSubscription implements Subscriber {
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
