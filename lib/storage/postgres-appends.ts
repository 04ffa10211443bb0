import type pg from 'pg'
import { CHAT_ERR_CONFLICT, CHAT_ERR_NOT_FOUND } from '../errors.ts'
import type { Message } from '../schemas/entities.ts'
import { rowReader, type MessageRowOf } from './rows.ts'
import { createAppendQueue, type QueuedAppend } from './postgres-append-queue.ts'
import type { Statement, Statements } from './postgres-queries.ts'
import type { AppendResult, ChatStorage, MessageDraft, ReplyFor } from './types.ts'

/** Most appends stored by one statement (see postgres-append-queue.ts). */
const MAX_BATCH = 500
/** Most append statements in flight at once (at most one per conversation; see postgres-append-queue.ts). */
const MAX_IN_FLIGHT = 2

type MessageRow = MessageRowOf<unknown>
interface AppendRow extends Partial<MessageRow> { created_seq: number | null }
interface BatchRow { last_seq: number | null, stored: number, repeats: Array<MessageRow & { n: number }> | null }

type Queryable = Pick<pg.Pool, 'query'>

/** What the appends need of the storage (postgres.ts): its statements, and its ways of running them. */
export interface AppendsDeps {
  q: Statements
  /** Runs a statement on the pool, or on `on`, with database errors as the chat's. */
  run: <R extends pg.QueryResultRow> (statement: Statement | string, values: unknown[], on?: Queryable) => Promise<pg.QueryResult<R>>
  /** `fn` inside BEGIN/COMMIT on one pooled connection; ROLLBACK when it throws. */
  transaction: <T> (fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>
}

/** JSON parameters are serialized here: node-postgres would turn a JS array into a PostgreSQL array. */
const json = (value: unknown): string | null => value === undefined ? null : JSON.stringify(value)
const orNull = <T> (value: T | undefined): T | null => value === undefined ? null : value

/** Rows to entities (lib/storage/rows.ts), with this driver's JSON columns. */
const { toMessage } = rowReader<unknown>((value: unknown) => value)

/** A draft as the appendMessage statement's parameters. */
function draftValues (conversationId: string, d: MessageDraft): unknown[] {
  return [conversationId, d.id, d.kind, d.sender.id, JSON.stringify(d.sender), d.content, json(d.parts),
    orNull(d.status), orNull(d.replyTo), json(d.metadata), orNull(d.clientMessageId), d.createdAt]
}

/**
 * A draft as one element of the JSON array of appendFresh, appendFreshMany (with `c`) and appendBatch (absent
 * fields are NULL columns).
 */
function draftItem (n: number, d: MessageDraft, conversationId?: string): Record<string, unknown> {
  return {
    c: conversationId,
    n,
    id: d.id,
    kind: d.kind,
    sender_id: d.sender.id,
    sender: d.sender,
    content: d.content,
    parts: d.parts,
    status: d.status,
    reply_to: d.replyTo,
    client_message_id: d.clientMessageId,
    created_at: d.createdAt,
    metadata: d.metadata
  }
}

/** A deep copy through JSON, as storing and reading back would give it (keys set to undefined dropped). */
const viaJson = <T> (value: T): T => JSON.parse(JSON.stringify(value))

/** The message as stored, built from the draft rather than read back: a copy, equal to what a read returns. */
function storedMessage (conversationId: string, seq: number, d: MessageDraft): Message {
  const m: Message = {
    id: d.id,
    conversationId,
    seq,
    kind: d.kind,
    sender: viaJson(d.sender),
    content: d.content,
    createdAt: d.createdAt
  }
  if (d.parts !== undefined) m.parts = viaJson(d.parts)
  if (d.status !== undefined) m.status = d.status
  if (d.replyTo !== undefined) m.replyTo = d.replyTo
  if (d.clientMessageId !== undefined) m.clientMessageId = d.clientMessageId
  if (d.metadata !== undefined) m.metadata = viaJson(d.metadata)
  return m
}

/**
 * A batch's drafts less the client ids repeated inside it (same sender, same clientMessageId): `unique` to
 * store, and `answer`, which turns their results into one per draft of the batch, a repeat getting a copy of
 * its first one's message, not created.
 */
function withoutRepeats (drafts: MessageDraft[]) {
  const seen = new Map<string, number>()
  const unique: MessageDraft[] = []
  const slot: number[] = []
  const repeat: boolean[] = []
  for (const draft of drafts) {
    const key = draft.clientMessageId === undefined ? undefined : `${draft.sender.id}\u0000${draft.clientMessageId}`
    const first = key === undefined ? undefined : seen.get(key)
    repeat.push(first !== undefined)
    if (first !== undefined) { slot.push(first); continue }
    if (key !== undefined) seen.set(key, unique.length)
    slot.push(unique.length)
    unique.push(draft)
  }
  const answer = (stored: Array<AppendResult | Error>): Array<AppendResult | Error> => drafts.map((_, i) => {
    const r = stored[slot[i]]
    return !repeat[i] || r instanceof Error ? r : { message: viaJson(r.message), created: false }
  })
  return { unique, answer }
}

/** A unique-index violation by a duplicate clientMessageId that raced past the statement's own check. */
function isClientIdRace (err: unknown): boolean {
  const e = err as { code?: string, constraint?: string }
  return e.code === '23505' && e.constraint === 'messages_by_client_id'
}

/**
 * The PostgreSQL storage's appends. An append with no reply joins the append queue (postgres-append-queue.ts),
 * whose batches go in one statement that looks nothing up (appendFresh, or appendFreshMany for several
 * conversations); a repeat or a refused message sends them through the statements that look for repeats
 * (appendBatch, then appendMessage one by one). An append with a reply (an AI answer's placeholder) is one
 * short transaction holding the row lock, so the reply gets the next seq.
 */
export function createAppends ({ q, run, transaction }: AppendsDeps): Pick<ChatStorage, 'appendMessage'> {
  const queue = createAppendQueue(async (appends) => await sendQueued(appends), { maxBatch: MAX_BATCH, maxInFlight: MAX_IN_FLIGHT })

  /** The first message with this client id, after a racing duplicate lost on the unique index. */
  async function firstOf (conversationId: string, draft: MessageDraft): Promise<AppendResult> {
    const { rows } = await run<MessageRow>(q.findByClientId, [conversationId, draft.sender.id, draft.clientMessageId])
    if (rows.length === 0) throw new CHAT_ERR_NOT_FOUND('Conversation') // deleted since
    return { message: toMessage(rows[0]), created: false }
  }

  /** The append statement's answer: stored, a repeat, or no such conversation. */
  function appended (conversationId: string, draft: MessageDraft, row: AppendRow): AppendResult {
    if (row.created_seq !== null) return { message: storedMessage(conversationId, row.created_seq, draft), created: true }
    if (row.id != null) return { message: toMessage(row as MessageRow), created: false }
    throw new CHAT_ERR_NOT_FOUND('Conversation')
  }

  async function appendWithReply (conversationId: string, draft: MessageDraft, reply: ReplyFor): Promise<AppendResult> {
    return await transaction(async (client) => {
      const first = appended(conversationId, draft, (await run<AppendRow>(q.appendMessage, draftValues(conversationId, draft), client)).rows[0])
      const next = first.created ? reply(first.message) : undefined
      if (next === undefined) return first
      // The row lock taken by the question is still held: the reply's seq is the one right after it.
      const row = (await run<AppendRow>(q.appendMessage, draftValues(conversationId, next), client)).rows[0]
      if (row.created_seq === null) throw new CHAT_ERR_CONFLICT('the reply\'s clientMessageId is already used')
      return { ...first, reply: storedMessage(conversationId, row.created_seq, next) }
    })
  }

  /** One message, one statement; a duplicate that raced past the statement's check gets the first one. */
  async function appendOne (conversationId: string, draft: MessageDraft): Promise<AppendResult> {
    try {
      return appended(conversationId, draft, (await run<AppendRow>(q.appendMessage, draftValues(conversationId, draft))).rows[0])
    } catch (err) {
      if (isClientIdRace(err)) return await firstOf(conversationId, draft)
      throw err
    }
  }

  /**
   * The append queue's batches (postgres-append-queue.ts): one statement for the lot, whatever conversations
   * they are for. A client id repeated inside the batch is sent once (the later ones get its message, not
   * created).
   */
  async function sendQueued (appends: QueuedAppend[]): Promise<Array<AppendResult | Error>> {
    const positions = new Map<string, number[]>()
    appends.forEach((a, i) => {
      const p = positions.get(a.conversationId)
      if (p === undefined) positions.set(a.conversationId, [i])
      else p.push(i)
    })
    const groups = [...positions].map(([conversationId, at]) => ({ conversationId, at, ...withoutRepeats(at.map((i) => appends[i].draft)) }))
    const stored = groups.length === 1
      ? [await appendFresh(groups[0].conversationId, groups[0].unique)]
      : await appendFreshMany(groups)
    const results: Array<AppendResult | Error> = new Array(appends.length)
    groups.forEach((g, j) => { g.answer(stored[j]).forEach((r, k) => { results[g.at[k]] = r }) })
    return results
  }

  /**
   * Distinct drafts of several conversations in one statement (appendFreshMany). When it fails for another
   * reason than an unreachable database, nothing of it was stored, and each conversation's drafts go on
   * their own (appendFresh and its fallbacks), so each gets its own answer.
   */
  async function appendFreshMany (groups: Array<{ conversationId: string, unique: MessageDraft[] }>): Promise<Array<Array<AppendResult | Error>>> {
    let rows: Array<{ id: string, base: number }>
    try {
      const items: Array<Record<string, unknown>> = []
      for (const g of groups) g.unique.forEach((d, k) => { items.push(draftItem(k, d, g.conversationId)) })
      rows = (await run<{ id: string, base: number }>(q.appendFreshMany, [
        groups.map((g) => g.conversationId), groups.map((g) => g.unique.length),
        groups.map((g) => g.unique[g.unique.length - 1].createdAt), JSON.stringify(items)
      ])).rows
    } catch (err) {
      if ((err as { code?: string }).code === 'CHAT_ERR_UNAVAILABLE') throw err
      return await Promise.all(groups.map(async (g) =>
        await appendFresh(g.conversationId, g.unique).catch((e: Error) => g.unique.map(() => e))))
    }
    const bases = new Map(rows.map((r) => [r.id, r.base]))
    return groups.map((g) => {
      const base = bases.get(g.conversationId)
      if (base === undefined) return g.unique.map(() => new CHAT_ERR_NOT_FOUND('Conversation'))
      return g.unique.map((draft, k) => ({ message: storedMessage(g.conversationId, base + k + 1, draft), created: true }))
    })
  }

  /**
   * Distinct drafts in one statement that looks nothing up (appendFresh): the common case, where none is a
   * repeat. When it fails for another reason than an unreachable database (a client id already stored, a
   * message the database refuses), nothing of it was stored and the drafts go through the statements that
   * look for repeats.
   */
  async function appendFresh (conversationId: string, drafts: MessageDraft[]): Promise<Array<AppendResult | Error>> {
    let rows: Array<{ last_seq: number }>
    try {
      rows = (await run<{ last_seq: number }>(q.appendFresh, [conversationId, JSON.stringify(drafts.map((d, n) => draftItem(n, d))),
        drafts.length, drafts[drafts.length - 1].createdAt])).rows
    } catch (err) {
      if ((err as { code?: string }).code === 'CHAT_ERR_UNAVAILABLE') throw err
      return drafts.length === 1
        ? [await appendOne(conversationId, drafts[0]).catch((e: Error) => e)]
        : await appendMany(conversationId, drafts)
    }
    if (rows.length === 0) return drafts.map(() => new CHAT_ERR_NOT_FOUND('Conversation'))
    let seq = rows[0].last_seq - drafts.length
    return drafts.map((draft) => ({ message: storedMessage(conversationId, ++seq, draft), created: true }))
  }

  /** Several distinct drafts in one statement that finds repeats, or one by one when it fails (see appendFresh). */
  async function appendMany (conversationId: string, drafts: MessageDraft[]): Promise<Array<AppendResult | Error>> {
    let row: BatchRow
    try {
      row = (await run<BatchRow>(q.appendBatch, [conversationId, JSON.stringify(drafts.map((d, n) => draftItem(n, d)))])).rows[0]
    } catch (err) {
      if ((err as { code?: string }).code === 'CHAT_ERR_UNAVAILABLE') throw err
      const one: Array<AppendResult | Error> = []
      for (const draft of drafts) one.push(await appendOne(conversationId, draft).catch((e: Error) => e))
      return one
    }
    const repeats = new Map((row.repeats ?? []).map((r) => [r.n, r]))
    let seq = (row.last_seq ?? 0) - row.stored
    return drafts.map((draft, n) => {
      const repeat = repeats.get(n)
      if (repeat !== undefined) return { message: toMessage(repeat), created: false }
      if (row.last_seq === null) return new CHAT_ERR_NOT_FOUND('Conversation')
      return { message: storedMessage(conversationId, ++seq, draft), created: true }
    })
  }

  return {
    /** ChatStorage.appendMessage: queued and batched without a reply; one transaction with one. */
    async appendMessage (conversationId, draft, reply) {
      if (reply === undefined) return await queue.append(conversationId, draft)
      try {
        return await appendWithReply(conversationId, draft, reply)
      } catch (err) {
        if (isClientIdRace(err)) return await firstOf(conversationId, draft)
        throw err
      }
    }
  }
}
