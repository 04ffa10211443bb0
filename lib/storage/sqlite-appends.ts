import type { AppendResult, MessageDraft, ReplyFor } from './types.ts'

/** Most appends written in one transaction. */
const MAX_BATCH = 500

/** One append waiting for its transaction. */
export interface SqliteAppend {
  conversationId: string
  draft: MessageDraft
  reply?: ReplyFor
}

interface Waiting extends SqliteAppend {
  resolve: (result: AppendResult) => void
  reject: (err: unknown) => void
}

export interface SqliteAppendsDeps {
  /** Stores one append in a transaction of its own (lock waits, faults: as every write of the storage). */
  one: (append: SqliteAppend) => Promise<AppendResult>
  /** Stores several in ONE transaction, each as `one` would (dedupe per row), in order; all or none. */
  many: (appends: SqliteAppend[]) => Promise<AppendResult[]>
  /** Whether retrying the appends of a failed batch one by one may store some of them. */
  perRow: (err: unknown) => boolean
}

/**
 * Group commit for SQLite's appends. Every transaction pays a commit (the WAL written, a lock taken and given back);
 * better-sqlite3 runs one at a time, so appends called in the same tick (a socket's pipelined sends, the frames of one
 * read) would otherwise each pay one. Here they wait for the end of the tick (no turn of the event loop:
 * process.nextTick, after the tick's promise callbacks) and go in one transaction, in the order they were called, so
 * seqs follow the calls. A caller's promise settles only after the commit. When the batch's transaction fails for a
 * reason one row may have caused (a conversation deleted, a size limit), nothing of it was stored and its appends go
 * again one by one, each with its own answer; when the database itself is down (locked too long, file gone), every one
 * of them fails with that error.
 */
export function createSqliteAppends (deps: SqliteAppendsDeps) {
  const waiting: Waiting[] = []
  let scheduled = false
  let running = false

  function settle (batch: Waiting[], results: Array<AppendResult | { error: unknown }>): void {
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]
      if ('error' in r) batch[i].reject(r.error)
      else batch[i].resolve(r)
    }
  }

  async function store (batch: Waiting[]): Promise<void> {
    if (batch.length === 1) {
      const [w] = batch
      try {
        w.resolve(await deps.one(w))
      } catch (err) {
        w.reject(err)
      }
      return
    }
    try {
      settle(batch, await deps.many(batch))
      return
    } catch (err) {
      if (!deps.perRow(err)) {
        for (const w of batch) w.reject(err)
        return
      }
    }
    const results: Array<AppendResult | { error: unknown }> = []
    for (const w of batch) results.push(await deps.one(w).catch((error: unknown) => ({ error })))
    settle(batch, results)
  }

  /** One batch: what waits now; what arrives meanwhile (a lock being waited for) is the next one. */
  async function flush (): Promise<void> {
    scheduled = false
    running = true
    try {
      await store(waiting.splice(0, MAX_BATCH))
    } finally {
      running = false
      if (waiting.length > 0) schedule()
    }
  }

  /**
   * At the end of the current tick, once its promise callbacks have run: the appends of the frames handled in
   * it (a socket's pipelined sends) are all there, and nothing waits for another turn of the event loop.
   */
  function schedule (): void {
    if (scheduled) return
    scheduled = true
    process.nextTick(() => { flush().catch(() => {}) }) // never rejects: each append is answered either way
  }

  return {
    append (conversationId: string, draft: MessageDraft, reply?: ReplyFor): Promise<AppendResult> {
      return new Promise((resolve, reject) => {
        waiting.push({ conversationId, draft, reply, resolve, reject })
        if (!running) schedule()
      })
    }
  }
}
