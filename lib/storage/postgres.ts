import pg from 'pg'
import { optional, rowReader, type ConversationRowOf, type MessageRowOf, type ParticipantRow } from './rows.ts'
import { createAppends } from './postgres-appends.ts'
import { toChatError } from './postgres-errors.ts'
import { migrate } from './postgres-migrations.ts'
import { statements, type Statement, type Statements } from './postgres-queries.ts'
import { readSearchCursor, SEARCH_START, searchPage, searchTerms } from './search-query.ts'
import type { AuditEntry, ChatStorage } from './types.ts'

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
/** Bounds for seq parameters (the column is a 32-bit integer). */
const MAX_SEQ = 2_147_483_647

type ConversationRow = ConversationRowOf<unknown>
type MessageRow = MessageRowOf<unknown>
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

type Queryable = Pick<pg.Pool, 'query'>

/**
 * Keeps everything in PostgreSQL, for any number of processes: seq is the conversation row's `last_seq`,
 * bumped and used in the same statement (the row lock orders concurrent writers), and a clientMessageId
 * is unique per (conversation, sender) in an index. Appends (postgres-appends.ts) go in batches, one round
 * trip and one commit each; an append with a reply (an AI answer's placeholder) is one short transaction
 * holding the row lock, so the reply gets the next seq.
 * Statements are prepared once per connection, but for the lookups by client id (see postgres-queries.ts).
 * Migrations run at `init`, under an advisory lock.
 */
export function createPostgresStorage (opts: PostgresStorageOptions): ChatStorage {
  const schema = opts.schema ?? DEFAULT_SCHEMA
  const q: Statements = statements(schema)
  const owned = opts.pool === undefined
  let pool: pg.Pool
  let ended = false

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

  const appends = createAppends({ q, run, transaction })

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

    // Batched through the append queue, or one transaction with a reply (postgres-appends.ts).
    appendMessage: appends.appendMessage,

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

    async searchMessages (conversationId, { q: text, limit, cursor }) {
      const n = Math.max(0, Math.floor(limit))
      let position = readSearchCursor(cursor)
      if (position === undefined) {
        const { rows } = await run<{ last_seq: number }>(q.lastSeq, [conversationId])
        position = { ceiling: rows[0]?.last_seq ?? 0 }
      }
      if (searchTerms(text).length === 0 || n === 0 || position.ceiling === 0) return { items: [], nextCursor: null }
      const after = position.after ?? SEARCH_START
      const { rows } = await run<MessageRow & { words: number, hits: number }>(q.searchMessages,
        [conversationId, clampSeq(position.ceiling), text, after.words, after.hits, clampSeq(after.seq), n + 1])
      const page = searchPage(rows, n, position, (row) => ({ words: row.words, hits: row.hits, seq: row.seq }))
      return { items: page.items.map(toMessage), nextCursor: page.nextCursor }
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
