import type { AppendResult, MessageDraft } from './types.ts'

/** One append waiting to be stored. */
export interface QueuedAppend {
  conversationId: string
  draft: MessageDraft
}

/**
 * Stores appends in one go (one statement, one commit), for one conversation or several; one result (or
 * error) per append, in order. Appends to one conversation are in arrival order.
 */
export type SendBatch = (appends: QueuedAppend[]) => Promise<Array<AppendResult | Error>>

interface Waiting {
  draft: MessageDraft
  resolve: (result: AppendResult) => void
  reject: (err: unknown) => void
}

/**
 * Group commit for appends. Every statement that stores messages pays a commit (a WAL flush), and holds the
 * row lock of each conversation it writes until that flush is done; writers to one conversation queue on
 * that lock anyway. So an append that finds nothing in flight goes at the end of the current tick (no timer:
 * the appends its caller starts in the same tick, a socket's pipelined sends, go with it), and the appends
 * that arrive while statements are in flight wait here and go together: one round trip and one commit for
 * the lot, seqs in arrival order per conversation.
 *
 * At most `maxInFlight` statements are in flight, and at most one per conversation: a batch takes every
 * waiting conversation that has none in flight, up to `maxBatch` appends. A conversation whose statement
 * waits on another process's lock therefore holds up only the appends batched with it.
 */
export function createAppendQueue (send: SendBatch, opts: { maxBatch: number, maxInFlight: number }) {
  /** Appends not yet sent, per conversation, in arrival order (a Map keeps the conversations' order too). */
  const waiting = new Map<string, Waiting[]>()
  /** Conversations with a statement in flight. */
  const busy = new Set<string>()
  let inFlight = 0
  let turnPending = false
  let tickPending = false

  function pumpAtTickEnd (): void {
    tickPending = false
    if (!turnPending) pump()
  }

  /** The next batch: waiting appends of conversations with nothing in flight, oldest conversation first. */
  function take (): Array<{ conversationId: string, w: Waiting }> {
    const batch: Array<{ conversationId: string, w: Waiting }> = []
    for (const [conversationId, queue] of waiting) {
      if (busy.has(conversationId)) continue
      for (const w of queue.splice(0, opts.maxBatch - batch.length)) batch.push({ conversationId, w })
      if (queue.length === 0) waiting.delete(conversationId)
      busy.add(conversationId)
      if (batch.length >= opts.maxBatch) break
    }
    return batch
  }

  function pump (): void {
    while (inFlight < opts.maxInFlight) {
      const batch = take()
      if (batch.length === 0) return
      inFlight++
      store(batch).catch(() => {}) // never rejects: every append of the batch is answered either way
    }
  }

  async function store (batch: Array<{ conversationId: string, w: Waiting }>): Promise<void> {
    try {
      const results = await send(batch.map((b) => ({ conversationId: b.conversationId, draft: b.w.draft })))
      for (let i = 0; i < batch.length; i++) {
        const result = results[i]
        if (result instanceof Error) batch[i].w.reject(result)
        else batch[i].w.resolve(result)
      }
    } catch (err) {
      for (const b of batch) b.w.reject(err)
    }
    for (const b of batch) busy.delete(b.conversationId)
    inFlight--
    // Callers answered by this batch often append again at once: one turn of the event loop lets them join
    // the next batch, rather than the next batch leaving with only those that came while this one was in
    // flight (writers would then settle into two halves taking turns, each half a batch).
    if (turnPending) return
    turnPending = true
    setImmediate(() => {
      turnPending = false
      pump()
    })
  }

  return {
    append (conversationId: string, draft: MessageDraft): Promise<AppendResult> {
      return new Promise((resolve, reject) => {
        const queue = waiting.get(conversationId)
        if (queue === undefined) waiting.set(conversationId, [{ draft, resolve, reject }])
        else queue.push({ draft, resolve, reject })
        if (!turnPending && !tickPending) {
          tickPending = true
          process.nextTick(pumpAtTickEnd)
        }
      })
    }
  }
}
