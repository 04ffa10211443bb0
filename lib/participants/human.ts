/** What the registry needs of one socket. */
export interface HumanSocket {
  readonly id: string
  readonly userId: string
  /** Closes the socket with a protocol close code. */
  close (code: number, reason: string): void
  /** Sends a serialized frame. */
  write (frame: Buffer | string): void
}

/**
 * A human participant as the live side sees it: the user's open sockets. Online while it has one.
 * A user with several sockets gets every frame on each: each socket subscribes on its own.
 */
export class HumanParticipant<S extends HumanSocket = HumanSocket> {
  readonly id: string
  name: string
  readonly sockets = new Set<S>()

  constructor (id: string, name: string) {
    this.id = id
    this.name = name
  }

  get online (): boolean {
    return this.sockets.size > 0
  }

  /** A frame for every socket of the user, subscribed or not (e.g. "you were added to a conversation"). */
  send (frame: Buffer | string): void {
    for (const socket of this.sockets) socket.write(frame)
  }

  disconnect (code: number, reason: string): number {
    const n = this.sockets.size
    for (const socket of [...this.sockets]) socket.close(code, reason)
    return n
  }
}
