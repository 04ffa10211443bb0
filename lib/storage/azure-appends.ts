import { randomUUID } from 'node:crypto'
import type { TransactionAction } from '@azure/data-tables'
import { CHAT_ERR_NOT_FOUND } from '../errors.ts'
import type { Message } from '../schemas/entities.ts'
import { all, CONTENTION_MS, contended, get, isConflict, MAX_BATCH_OPS, pause, transaction, type Tables } from './azure-client.ts'
import { statusOf, toChatError } from './azure-errors.ts'
import {
  draftBytes, fromDraft, isStreamingAnswer, key, messageEntity, partition, streamingKey, toMessage, type Entity
} from './azure-entities.ts'
import type { AppendResult, MessageDraft, ReplyFor } from './types.ts'

/** A transaction's body is at most 4 MiB: a batch keeps well under it. */
const MAX_BATCH_BYTES = 3 * 1024 * 1024
/** Conversations whose counter's ETag and value this process remembers (the oldest forgotten first). */
const MAX_CACHED_COUNTERS = 10_000

interface Waiting {
  draft: MessageDraft
  reply?: ReplyFor
  resolve: (result: AppendResult) => void
  reject: (err: unknown) => void
  ops: number
  bytes: number
  done?: boolean
}

interface Lane { queue: Waiting[], running: boolean }

/** What this process last wrote (or read) of a conversation's counter entity. */
interface Counter { etag: string, lastSeq: number }

/**
 * Appends with group commit. A conversation's seq is its counter (`lastSeq` on the entity 'c'), moved on
 * in the same entity group transaction that creates the messages, with If-Match on its ETag: a writer in
 * another process that got in first makes the transaction fail whole (412, or 409 on a client id it
 * stored), and it is built again on the new counter after a jittered pause. In this process, appends to one
 * conversation never race each other: one transaction is in flight per conversation, and those that arrive
 * meanwhile go together in the next (at most 100 operations). The counter's ETag after each commit is
 * remembered, so a lone writer pays one round trip per append.
 *
 * A transaction whose response was lost is sent again by the SDK (`retryOptions`); when the first one was
 * committed, the second fails on the counter's ETag it moved. So every transaction marks the messages it
 * stores with a token of its own (`tx`, a random UUID; reads ignore it), and a conflict first looks whether
 * the messages it planned are stored at their seqs with that token: then the batch is done (created, as
 * planned), and nothing is built again (a message without client id would be stored twice). The token, not
 * the message id, tells: another process may store the same draft at the same seq.
 */
export function createAppends (tables: Tables) {
  const lanes = new Map<string, Lane>()
  const counters = new Map<string, Counter>()

  function remember (conversationId: string, counter: Counter | undefined): void {
    counters.delete(conversationId)
    if (counter === undefined) return
    counters.set(conversationId, counter)
    if (counters.size > MAX_CACHED_COUNTERS) counters.delete(counters.keys().next().value as string)
  }

  async function counter (conversationId: string): Promise<Counter | undefined> {
    const known = counters.get(conversationId)
    if (known !== undefined) return known
    const row = await get(tables.chat, partition.conversation(conversationId), key.conversation)
    return row === undefined ? undefined : { etag: row.etag, lastSeq: row.lastSeq as number }
  }

  /** The next batch: the oldest waiting appends that fit one transaction. */
  function take (lane: Lane): Waiting[] {
    let ops = 1 // the counter
    let bytes = 0
    let n = 0
    while (n < lane.queue.length) {
      const w = lane.queue[n]
      if (n > 0 && (ops + w.ops > MAX_BATCH_OPS || bytes + w.bytes > MAX_BATCH_BYTES)) break
      ops += w.ops
      bytes += w.bytes
      n++
    }
    return lane.queue.splice(0, n)
  }

  async function drain (conversationId: string, lane: Lane): Promise<void> {
    lane.running = true
    try {
      while (lane.queue.length > 0) await commit(conversationId, take(lane))
    } finally {
      lane.running = false
      if (lane.queue.length === 0) lanes.delete(conversationId)
    }
  }

  /** The first message stored with a client id, when another writer (or an earlier call) stored one. */
  async function stored (conversationId: string, clientKey: string): Promise<Message | undefined> {
    const pk = partition.conversation(conversationId)
    const k = await get(tables.chat, pk, clientKey)
    if (k === undefined) return undefined
    const m = await get(tables.chat, pk, key.message(k.seq as number))
    return m === undefined ? undefined : toMessage(conversationId, m)
  }

  /**
   * True when the planned messages are stored at their seqs with the transaction's token (read in one
   * range): that transaction was committed.
   */
  async function committed (conversationId: string, planned: Message[], tx: string): Promise<boolean> {
    if (planned.length === 0) return false
    const seqs = planned.map((m) => m.seq)
    const found = await all(tables.chat, partition.conversation(conversationId),
      { ge: key.message(Math.min(...seqs)), le: key.message(Math.max(...seqs)) }, ['RowKey', 'tx'])
    const stored = new Map(found.map((r) => [r.rowKey, r.tx]))
    return planned.every((m) => stored.get(key.message(m.seq)) === tx)
  }

  /** Stores a batch; answers every append of it, never throws. */
  async function commit (conversationId: string, batch: Waiting[]): Promise<void> {
    const pk = partition.conversation(conversationId)
    const clientKey = (d: MessageDraft) => d.clientMessageId === undefined ? undefined : key.clientId(d.sender.id, d.clientMessageId)
    /** Client ids found stored by another writer, with their first message. */
    const known = new Map<string, Message>()
    const fail = (err: unknown) => { for (const w of batch) if (w.done !== true) w.reject(err) }
    const deadline = Date.now() + CONTENTION_MS

    for (let attempt = 0; ; attempt++) {
      let last: Counter | undefined
      /** The messages this attempt's transaction stores (with their seqs), and the answers once it committed. */
      const planned: Message[] = []
      const answers: Array<{ w: Waiting, result: AppendResult }> = []
      const tx = randomUUID()
      try {
        last = await counter(conversationId)
        if (last === undefined) return fail(new CHAT_ERR_NOT_FOUND('Conversation'))
        let seq = last.lastSeq
        let updatedAt = ''
        const creates: TransactionAction[] = []
        const streaming: Entity[] = []
        const inBatch = new Map<string, Message>()
        const pointers = new Map<string, TransactionAction>()
        for (const w of batch) {
          if (w.done === true) continue
          const ck = clientKey(w.draft)
          const first = ck === undefined ? undefined : known.get(ck) ?? inBatch.get(ck)
          if (first !== undefined) {
            answers.push({ w, result: { message: first, created: false } })
            continue
          }
          const mark = creates.length
          const streamingMark = streaming.length
          const plannedMark = planned.length
          try {
            const plan = (m: Message) => {
              creates.push(['create', { ...messageEntity(m), tx }])
              planned.push(m)
              // A message id stored again (a caller's retry without client id) points to the newest; a
              // transaction takes each row once.
              const pointer: TransactionAction = ['upsert', { partitionKey: pk, rowKey: key.pointer(m.id), seq: m.seq }, 'Replace']
              const earlier = pointers.get(m.id)
              if (earlier === undefined) creates.push(pointer)
              else earlier[1].seq = m.seq
              pointers.set(m.id, earlier ?? pointer)
              const k = clientKey(m)
              if (k !== undefined) creates.push(['create', { partitionKey: pk, rowKey: k, seq: m.seq }])
              if (isStreamingAnswer(m)) {
                streaming.push({ partitionKey: partition.streaming, rowKey: streamingKey(m.createdAt, conversationId, m.id), conversationId, messageId: m.id })
              }
            }
            const message = fromDraft(conversationId, w.draft, seq + 1)
            plan(message)
            const next = w.reply?.(structuredClone(message))
            const reply = next === undefined ? undefined : fromDraft(conversationId, next, seq + 2)
            if (reply !== undefined) plan(reply)
            seq = (reply ?? message).seq
            updatedAt = (reply ?? message).createdAt
            if (ck !== undefined) inBatch.set(ck, message)
            answers.push({ w, result: reply === undefined ? { message, created: true } : { message, created: true, reply } })
          } catch (err) {
            creates.length = mark
            streaming.length = streamingMark
            planned.length = plannedMark
            w.done = true
            w.reject(err) // too large for an entity: this append alone fails
          }
        }
        if (creates.length > 0) {
          // The sweep's index first: an answer stored without it would never be ended if its writer died.
          await Promise.all(streaming.map(async (e) => await tables.index.upsertEntity(e, 'Replace')))
          const counterUpdate: TransactionAction = ['update', { partitionKey: pk, rowKey: key.conversation, lastSeq: seq, updatedAt }, 'Merge', { etag: last.etag }]
          const response = await transaction(tables.chat, [counterUpdate, ...creates])
          const etag = response.getResponseForEntity(key.conversation)?.etag
          remember(conversationId, etag === undefined ? undefined : { etag, lastSeq: seq })
        }
        for (const { w, result } of answers) w.resolve(structuredClone(result))
        return
      } catch (err) {
        remember(conversationId, undefined)
        const status = statusOf(err)
        // The counter is gone: the conversation was deleted.
        if (status === 404) return fail(new CHAT_ERR_NOT_FOUND('Conversation'))
        if (!isConflict(err)) return fail(toChatError(err))
        // Another writer got in first, or this very transaction did (sent again after its response was lost):
        // learn which, and which of these client ids another writer stored, then build again.
        try {
          if (await committed(conversationId, planned, tx)) {
            for (const { w, result } of answers) w.resolve(structuredClone(result))
            return
          }
          if (Date.now() > deadline) return fail(contended(err))
          await Promise.all(batch.map(async (w) => {
            const ck = clientKey(w.draft)
            if (w.done === true || ck === undefined || known.has(ck)) return
            const first = await stored(conversationId, ck)
            if (first !== undefined) known.set(ck, first)
          }))
        } catch (lookup) {
          return fail(toChatError(lookup))
        }
        await pause(attempt)
      }
    }
  }

  return {
    appendMessage (conversationId: string, draft: MessageDraft, reply?: ReplyFor): Promise<AppendResult> {
      return new Promise((resolve, reject) => {
        const ops = 2 + (draft.clientMessageId === undefined ? 0 : 1) + (reply === undefined ? 0 : 3)
        const bytes = draftBytes(draft) * (reply === undefined ? 1 : 2)
        let lane = lanes.get(conversationId)
        if (lane === undefined) {
          lane = { queue: [], running: false }
          lanes.set(conversationId, lane)
        }
        lane.queue.push({ draft, reply, resolve, reject, ops, bytes })
        if (!lane.running) drain(conversationId, lane).catch(() => {})
      })
    },
    /** Forgets the counter of a conversation deleted here. */
    forget (conversationId: string): void {
      remember(conversationId, undefined)
    }
  }
}
