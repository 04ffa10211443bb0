import type { AppendResult, MessageDraft } from './types.ts'

/** Stores drafts for one conversation in one go; one result (or error) per draft, in order. */
export type SendBatch = (conversationId: string, drafts: MessageDraft[]) => Promise<Array<AppendResult | Error>>

interface Waiting {
  draft: MessageDraft
  resolve: (result: AppendResult) => void
  reject: (err: unknown) => void
}

/**
 * Group commit for appends to one conversation. Writers to a conversation queue on its row lock in the
 * database anyway, each paying a commit (a WAL flush) while holding it; so while one statement for a
 * conversation is in flight, the appends that arrive for it wait here and go together in the next one:
 * one round trip and one commit for the lot, seqs in arrival order. An append that finds nothing in flight
 * goes at once: no timer, no added latency.
 */
export function createAppendQueue (send: SendBatch, maxBatch: number) {
  /** Per conversation with a statement in flight: the appends waiting for the next one. */
  const waiting = new Map<string, Waiting[]>()

  async function drain (conversationId: string, queue: Waiting[]): Promise<void> {
    for (;;) {
      // Callers answered by the last batch often send again at once: one turn of the event loop lets
      // their appends join the next batch instead of the first of them going alone.
      if (queue.length === 0) await new Promise<void>((resolve) => { setImmediate(resolve) })
      if (queue.length === 0) break
      const batch = queue.splice(0, maxBatch)
      try {
        const results = await send(conversationId, batch.map((w) => w.draft))
        for (let i = 0; i < batch.length; i++) {
          const result = results[i]
          if (result instanceof Error) batch[i].reject(result)
          else batch[i].resolve(result)
        }
      } catch (err) {
        for (const w of batch) w.reject(err)
      }
    }
    waiting.delete(conversationId)
  }

  return {
    append (conversationId: string, draft: MessageDraft): Promise<AppendResult> {
      return new Promise((resolve, reject) => {
        const queue = waiting.get(conversationId)
        if (queue !== undefined) {
          queue.push({ draft, resolve, reject })
          return
        }
        const fresh = [{ draft, resolve, reject }]
        waiting.set(conversationId, fresh)
        void drain(conversationId, fresh)
      })
    }
  }
}
