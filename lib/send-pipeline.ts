import type { ConversationManager, PreparedSend } from './conversations.ts'
import type { ChatUser } from './schemas/entities.ts'
import type { SendFrame } from './schemas/frames.ts'
import type { AppendResult } from './storage/types.ts'

/**
 * The replies to a socket's frames, written in frame order whatever order they are ready in. Each frame takes
 * a slot as it is taken off the queue; its reply (ack, error, or nothing) is written once every earlier slot's
 * has been.
 */
export class ReplyOrder {
  private next = 0
  /** The first slot whose reply is not written yet. */
  private head = 0
  /** Replies ready before their turn, by slot (made the first time one is). */
  private ready: Map<number, () => void> | undefined

  open (): number {
    return this.next++
  }

  /** Writes now (undefined) when every earlier reply is out, or later: the promise resolves once written. */
  settle (slot: number, write: () => void): Promise<void> | undefined {
    if (slot !== this.head) {
      const ready = this.ready ??= new Map()
      return new Promise((resolve) => { ready.set(slot, () => { write(); resolve() }) })
    }
    this.head++
    write()
    const ready = this.ready
    if (ready === undefined) return undefined
    for (let w = ready.get(this.head); w !== undefined; w = ready.get(this.head)) {
      ready.delete(this.head++)
      w()
    }
    return undefined
  }
}

export interface PipelineDeps {
  manager: ConversationManager
  user: ChatUser
  ack: (frame: SendFrame, result: AppendResult) => void
  fail: (err: unknown, ref: string | undefined) => void
  /** A send is over (stored and acked, or failed): the socket's loop may take more. */
  settled: () => void
}

/**
 * A socket's `send` frames on their way to storage, several at once, with the guarantees of one at a time:
 * - checks (membership, limits, the message budget) run at once for each, but the stores START in frame
 *   order, each once the one before it has started, so a storage's queue sees them in that order and gives
 *   them seqs in that order (a send the AI answers waits until the earlier ones are stored, and the later
 *   ones wait until it is: its answer's placeholder is stored in its step, which not every storage queues);
 * - replies go out in frame order (the caller's ReplyOrder, through `reply`), an ack before its message;
 * - a repeated clientMessageId is the storage's to find, in a batch too; a failed store fails its own frame.
 * The socket keeps it to one conversation at a time (a send into another waits until this one is empty) and
 * bounds how many are in flight.
 */
export class SendPipeline {
  /** The conversation of the sends in flight (the last one added). */
  conversationId: string | undefined
  /** Sends added and not over yet. */
  size = 0
  private count = 0
  /** Resolves once the last send added has started its store (or failed before it). */
  private gate: Promise<void> = Promise.resolve()
  private readonly unsettled = new Map<number, Promise<void>>()
  private readonly deps: PipelineDeps

  constructor (deps: PipelineDeps) {
    this.deps = deps
  }

  /** `reply` writes this frame's reply in frame order (undefined when written now, else a promise of it). */
  add (frame: SendFrame, reply: (write: () => void) => Promise<void> | undefined): void {
    const { manager, user, ack, fail } = this.deps
    this.conversationId = frame.conversationId
    this.size++
    const index = this.count++
    const prepared = manager.prepareSend(user, frame)
    const after = this.gate
    let release!: () => void
    this.gate = new Promise((resolve) => { release = resolve })

    const store = async (): Promise<void> => {
      let ready: PreparedSend | undefined
      let failure: unknown
      try {
        ready = await prepared
      } catch (err) {
        failure = err
      }
      await after // the previous send's store has started
      if (ready === undefined) {
        release()
        throw failure
      }
      let started: ReturnType<ConversationManager['storeSend']>
      try {
        started = manager.storeSend(ready, (result) => reply(() => { ack(frame, result) }), async () => { await this.before(index) })
      } catch (err) {
        release()
        throw err
      }
      if (started.answered) started.done.then(release, release)
      else release()
      await started.done
    }

    const settled = store().then(() => {}, (err: unknown) => { reply(() => { fail(err, frame.ref) }) }).then(() => {
      this.unsettled.delete(index)
      this.size--
      this.deps.settled()
    })
    this.unsettled.set(index, settled)
  }

  /** Resolves once every send added before the `index`th is over. */
  private async before (index: number): Promise<void> {
    const earlier: Array<Promise<void>> = []
    for (const [i, p] of this.unsettled) if (i < index) earlier.push(p)
    await Promise.all(earlier)
  }
}
