import pg from 'pg'
import { CHAT_ERR_CONFLICT, CHAT_ERR_NOT_FOUND } from '../errors.ts'
import type { Message } from '../schemas/entities.ts'
import { optional, rowReader, type ConversationRowOf, type MessageRowOf, type ParticipantRow } from './rows.ts'
import { createAppendQueue, type QueuedAppend } from './postgres-append-queue.ts'
import { toChatError } from './postgres-errors.ts'
import { migrate } from './postgres-migrations.ts'
import { statements, type Statement, type Statements } from './postgres-queries.ts'
import type { AppendResult, AuditEntry, ChatStorage, MessageDraft, ReplyFor } from './types.ts'

/**
 * What the storage needs of a node-postgres `Pool`: the host's own (`fastify.pg.pool` from @fastify/postgres,
 * or any `new pg.Pool()`) fits as it is.
 */
export interface PostgresPool {
  query: (...args: any[]) => Promise<any>
  connect: (...args: any[]) => Promise<any>
}

export type PostgresStorageOptions = { schema?: string } & (
  /** A pool the storage creates from this URL, and ends on close. */
  | { connectionString: string, pool?: undefined }
  /** The host's pool: used, never ended. */
  | { pool: PostgresPool, connectionString?: undefined }
)

export const DEFAULT_SCHEMA = 'chat'
/** How long a query waits for a connection of a pool we create before the storage reports itself unavailable. */
const CONNECT_TIMEOUT_MS = 5000
/** Most appends stored by one statement (see postgres-append-queue.ts). */
const MAX_BATCH = 500
/** Most append statements in flight at once (at most one per conversation; see postgres-append-queue.ts). */
const MAX_IN_FLIGHT = 2
/** Bounds for seq parameters (the column is a 32-bit integer). */
const MAX_SEQ = 2_147_483_647

type ConversationRow = ConversationRowOf<unknown>
type MessageRow = MessageRowOf<unknown>
interface AppendRow extends Partial<MessageRow> { created_seq: number | null }
interface BatchRow { last_seq: number | null, stored: number, repeats: Array<MessageRow & { n: number }> | null }
interface AuditRow {
  id: string, at: string, actor: string, action: string, target: string | null, details: Record<string, unknown> | null
}

/** JSON parameters are serialized here: node-postgres would turn a JS array into a PostgreSQL array. */
const json = (value: unknown): string | null => value === undefined ? null : JSON.stringify(value)
const orNull = <T> (value: T | undefined): T | null => value === undefined ? null : value
const clampSeq = (n: number): number => Math.max(-1, Math.min(MAX_SEQ, Math.floor(n)))

/** Rows to entities (lib/storage/rows.ts), with this driver's JSON columns. */
const { toConversation, toParticipant, toMessage } = rowReader<unknown>((value: unknown) => value)

function toAudit (row: AuditRow): AuditEntry {
  const e: AuditEntry = { id: row.id, at: row.at, actor: row.actor, action: row.action }
  optional(e, 'target', row.target)
  optional(e, 'details', row.details)
  return e
}

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

type Queryable = Pick<pg.Pool, 'query'>

/**
 * Keeps everything in PostgreSQL, for any number of processes: seq is the conversation row's `last_seq`,
 * bumped and used in the same statement (the row lock orders concurrent writers), and a clientMessageId
 * is unique per (conversation, sender) in an index. Appends take one round trip; an append with a reply
 * (an AI answer's placeholder) is one short transaction holding the row lock, so the reply gets the next seq.
 * Statements are prepared once per connection, but for the lookups by client id (see postgres-queries.ts).
 * Migrations run at `init`, under an advisory lock.
 */
export function createPostgresStorage (opts: PostgresStorageOptions): ChatStorage {
  const schema = opts.schema ?? DEFAULT_SCHEMA
  const q: Statements = statements(schema)
  const owned = opts.pool === undefined
  let pool: pg.Pool
  let ended = false
  const queue = createAppendQueue(async (appends) => await sendQueued(appends), { maxBatch: MAX_BATCH, maxInFlight: MAX_IN_FLIGHT })

  /** Runs a statement (a named one, or plain text), with database errors as the chat's (unreachable: UNAVAILABLE). */
  async function run<R extends pg.QueryResultRow> (statement: Statement | string, values: unknown[], on: Queryable = pool): Promise<pg.QueryResult<R>> {
    try {
      return typeof statement === 'string'
        ? await on.query<R>(statement)
        : await on.query<R>(statement.name === undefined ? { text: statement.text, values } : { name: statement.name, text: statement.text, values })
    } catch (err) {
      throw toChatError(err)
    }
  }

  /** `fn` inside BEGIN/COMMIT on one pooled connection; ROLLBACK when it throws. */
  async function transaction<T> (fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient
    try {
      client = await pool.connect()
    } catch (err) {
      throw toChatError(err)
    }
    // A checked-out client has no 'error' listener of the pool's: a connection lost between two queries
    // would otherwise crash the process. The next query fails instead.
    const onError = (): void => {}
    client.on('error', onError)
    let broken: Error | undefined
    try {
      await run('BEGIN', [], client)
      const result = await fn(client)
      await run('COMMIT', [], client)
      return result
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => { broken = rollbackErr })
      throw err
    } finally {
      client.off('error', onError)
      client.release(broken)
    }
  }

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

  /** Several distinct drafts in one statement that finds repeats, or one by one when it fails (see sendBatch). */
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
    name: 'postgres',

    async init () {
      if (opts.pool !== undefined) {
        pool = opts.pool as unknown as pg.Pool
      } else {
        pool = new pg.Pool({ connectionString: opts.connectionString, connectionTimeoutMillis: CONNECT_TIMEOUT_MS })
        // An idle connection dropped by the server: the pool discards it and opens another when needed.
        pool.on('error', () => {})
      }
      try {
        await migrate(pool, schema)
      } catch (err) {
        throw toChatError(err)
      }
    },

    async close () {
      if (!owned || ended || pool === undefined) return
      ended = true
      await pool.end()
    },

    async ping () {
      await run(q.ping, [])
    },

    async createConversation (record, participants) {
      await run(q.createConversation, [
        record.id, record.title, record.createdBy, record.createdAt, record.updatedAt, record.lastSeq,
        json(record.metadata), orNull(record.closedAt),
        participants.map((p) => p.id), participants.map((p) => p.name), participants.map((p) => p.type),
        participants.map((p) => p.role), participants.map((p) => p.joinedAt)
      ])
    },

    async getConversation (id) {
      const { rows } = await run<ConversationRow>(q.getConversation, [id])
      return rows.length === 0 ? null : toConversation(rows[0])
    },

    async updateConversation (id, patch) {
      const { rows } = await run<ConversationRow>(q.updateConversation, [
        id, orNull(patch.title), json(patch.metadata), orNull(patch.closedAt), new Date().toISOString()
      ])
      return rows.length === 0 ? null : toConversation(rows[0])
    },

    async deleteConversation (id) {
      return ((await run(q.deleteConversation, [id])).rowCount ?? 0) > 0
    },

    async listConversations ({ userId, limit, cursor }) {
      const n = Math.max(0, limit)
      const { rows } = userId === undefined
        ? cursor === undefined
          ? await run<ConversationRow>(q.listConversations, [n + 1])
          : await run<ConversationRow>(q.listConversationsBefore, [cursor, n + 1])
        : cursor === undefined
          ? await run<ConversationRow>(q.listUserConversations, [userId, n + 1])
          : await run<ConversationRow>(q.listUserConversationsBefore, [userId, cursor, n + 1])
      const items = rows.slice(0, n).map(toConversation)
      return { items, nextCursor: rows.length > items.length && items.length > 0 ? items[items.length - 1].id : null }
    },

    async countConversations () {
      return (await run<{ n: number }>(q.countConversations, [])).rows[0].n
    },

    async getParticipants (conversationId) {
      return (await run<ParticipantRow>(q.getParticipants, [conversationId])).rows.map(toParticipant)
    },

    async addParticipant (conversationId, p, max) {
      return await transaction(async (client) => {
        if ((await run(q.lockConversation, [conversationId], client)).rowCount === 0) return 'missing'
        const { rows } = await run<{ present: boolean, added: boolean }>(q.addParticipant,
          [conversationId, p.id, p.name, p.type, p.role, p.joinedAt, max], client)
        return rows[0].present ? 'exists' : rows[0].added ? 'added' : 'full'
      })
    },

    async removeParticipant (conversationId, userId) {
      return ((await run(q.removeParticipant, [conversationId, userId])).rowCount ?? 0) > 0
    },

    async appendMessage (conversationId, draft, reply) {
      if (reply === undefined) return await queue.append(conversationId, draft)
      try {
        return await appendWithReply(conversationId, draft, reply)
      } catch (err) {
        if (isClientIdRace(err)) return await firstOf(conversationId, draft)
        throw err
      }
    },

    async updateMessage (conversationId, id, patch, encoded) {
      const { rows } = await run<MessageRow>(q.updateMessage, [
        conversationId, id, orNull(patch.content),
        patch.parts === undefined ? null : encoded?.parts ?? json(patch.parts),
        orNull(patch.status), json(patch.metadata)
      ])
      if (rows.length === 0) return null
      const message = toMessage(rows[0])
      // The parts just written are not read back and parsed again: the caller's (large) answer is returned.
      if (patch.parts !== undefined) message.parts = patch.parts
      return message
    },

    async getMessages (conversationId, { after, before, limit }) {
      const until = before === undefined ? MAX_SEQ : clampSeq(before)
      const n = Math.max(0, limit)
      const { rows } = after === undefined
        ? await run<MessageRow>(q.newestMessages, [conversationId, until, n])
        : await run<MessageRow>(q.messagesAfter, [conversationId, clampSeq(after), until, n])
      return rows.map(toMessage)
    },

    async findMessageByClientId (conversationId, senderId, clientMessageId) {
      const { rows } = await run<MessageRow>(q.findByClientId, [conversationId, senderId, clientMessageId])
      return rows.length === 0 ? null : toMessage(rows[0])
    },

    async failStaleAnswers (startedBefore, limit) {
      const { rows } = await run<MessageRow>(q.failStaleAnswers, [startedBefore, Math.max(0, Math.floor(limit))])
      return rows.map(toMessage).sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0))
    },

    async appendAudit (entry) {
      await run(q.appendAudit, [entry.id, entry.at, entry.actor, entry.action, orNull(entry.target), json(entry.details)])
    },

    async listAudit ({ limit, before }) {
      const n = Math.max(0, limit)
      const { rows } = before === undefined
        ? await run<AuditRow>(q.listAudit, [n])
        : await run<AuditRow>(q.listAuditBefore, [before, n])
      return rows.map(toAudit)
    }
  }
}
