import { mkdirSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { RESTART_FRAMES, startCheckpointer } from './sqlite-checkpointer.ts'
import { createSqliteAppends, type SqliteAppend } from './sqlite-appends.ts'
import { prepareSearch, setupSearch } from './sqlite-search.ts'
import { sqliteFault, unavailable } from './sqlite-errors.ts'
import { CHAT_ERR_NOT_FOUND, CHAT_ERR_UNAVAILABLE } from '../errors.ts'
import type { ConversationRecord, Message, ParticipantRecord } from '../schemas/entities.ts'
import { optional, rowReader, type ConversationRowOf, type MessageRowOf, type ParticipantRow } from './rows.ts'
import type { AddParticipantResult, AppendResult, AuditEntry, ChatStorage, MessageDraft } from './types.ts'

export interface SqliteStorageOptions {
  /** Path of the database file (its directory is created if missing, at `init` only), or ':memory:'. */
  filename: string
  /**
   * How long a call waits for another connection's write lock, retrying with timers (never blocking the event
   * loop), before it fails with CHAT_ERR_UNAVAILABLE. Default 1000 ms.
   */
  lockTimeoutMs?: number
  /**
   * The largest the database may grow, in bytes (SQLite's `max_page_count`). Past it, writes fail as on a full
   * disk: CHAT_ERR_UNAVAILABLE, and the health check reports the storage down until room is freed.
   */
  maxSizeBytes?: number
  /**
   * How long after a write the messages it stored wait to be put in the search index, together with those
   * of the writes that follow (one index write for all of them). A search indexes what waits first, so it
   * never misses a message. Default 100 ms.
   */
  searchIndexDelayMs?: number
}

const DEFAULT_LOCK_TIMEOUT_MS = 1000
/** `init` waits longer: several processes may be starting on one file at once. */
const INIT_LOCK_TIMEOUT_MS = 10_000
/** The longest pause between two tries of a locked database. */
const MAX_PAUSE_MS = 25
/** How soon after a write the messages it noted are put in the search index (sqlite-search.ts), in one go. */
const DEFAULT_INDEX_DELAY_MS = 100
/** Room the health probe allocates (and frees): health says ok only while a message of this size still fits. */
const PROBE_RESERVE_BYTES = 64 * 1024

const SCHEMA = `
CREATE TABLE IF NOT EXISTS conversations (
  id TEXT PRIMARY KEY, title TEXT NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL, last_seq INTEGER NOT NULL, metadata TEXT, closed_at TEXT
);
CREATE TABLE IF NOT EXISTS participants (
  conversation_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, role TEXT NOT NULL,
  joined_at TEXT NOT NULL, PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX IF NOT EXISTS participants_by_user ON participants (user_id, conversation_id);
CREATE TABLE IF NOT EXISTS messages (
  conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, sender_id TEXT NOT NULL,
  sender TEXT NOT NULL, content TEXT NOT NULL, parts TEXT, status TEXT, reply_to INTEGER, client_message_id TEXT,
  created_at TEXT NOT NULL, metadata TEXT, PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_client_id
  ON messages (conversation_id, sender_id, client_message_id) WHERE client_message_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_by_id ON messages (conversation_id, id);
-- AI answers still streaming, for the sweep that fails those whose writer died (few rows: the index stays small).
CREATE INDEX IF NOT EXISTS messages_streaming_answers ON messages (created_at) WHERE kind = 'ai' AND status = 'streaming';
CREATE TABLE IF NOT EXISTS audit (
  id TEXT PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT, details TEXT
);
-- The health probe's write: one row kept (when it last passed), one written and deleted to prove room.
CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, at TEXT NOT NULL, pad BLOB);
`

type ConversationRow = ConversationRowOf<string>
interface MessageRow extends MessageRowOf<string> { sender_id: string }
interface AuditRow {
  id: string, at: string, actor: string, action: string, target: string | null, details: string | null
}

type Statement<R = unknown> = Database.Statement<unknown[], R>

/** JSON columns: undefined (absent, or unchanged in a patch) is stored as NULL. */
const json = (value: unknown): string | null => value === undefined ? null : JSON.stringify(value)
const orNull = <T> (value: T | undefined): T | null => value === undefined ? null : value

/** Rows to entities (lib/storage/rows.ts), with this driver's JSON columns. */
const { toConversation, toParticipant, toMessage } = rowReader<string>(JSON.parse)

function toAudit (row: AuditRow): AuditEntry {
  const e: AuditEntry = { id: row.id, at: row.at, actor: row.actor, action: row.action }
  optional(e, 'target', row.target)
  optional(e, 'details', row.details === null ? null : JSON.parse(row.details))
  return e
}

/** Every statement, prepared once per connection. */
function prepare (db: Database.Database) {
  const s = <R = unknown> (sql: string): Statement<R> => db.prepare<unknown[], R>(sql)
  return {
    probeMark: s('INSERT INTO health (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at'),
    probeReserve: s('INSERT INTO health (id, at, pad) VALUES (2, ?, zeroblob(?))'),
    probeRelease: s('DELETE FROM health WHERE id = 2'),
    insertConversation: s(`INSERT INTO conversations (id, title, created_by, created_at, updated_at, last_seq, metadata, closed_at)
      VALUES (@id, @title, @createdBy, @createdAt, @updatedAt, @lastSeq, @metadata, @closedAt)`),
    getConversation: s<ConversationRow>('SELECT * FROM conversations WHERE id = ?'),
    updateConversation: s<ConversationRow>(`UPDATE conversations SET title = COALESCE(@title, title),
      metadata = COALESCE(@metadata, metadata), closed_at = COALESCE(@closedAt, closed_at), updated_at = @updatedAt
      WHERE id = @id RETURNING *`),
    deleteConversation: s('DELETE FROM conversations WHERE id = ?'),
    deleteParticipants: s('DELETE FROM participants WHERE conversation_id = ?'),
    deleteMessages: s('DELETE FROM messages WHERE conversation_id = ?'),
    listConversations: s<ConversationRow>(`SELECT * FROM conversations WHERE (@cursor IS NULL OR id < @cursor)
      ORDER BY id DESC LIMIT @limit`),
    listUserConversations: s<ConversationRow>(`SELECT c.* FROM participants p JOIN conversations c ON c.id = p.conversation_id
      WHERE p.user_id = @userId AND (@cursor IS NULL OR p.conversation_id < @cursor)
      ORDER BY p.conversation_id DESC LIMIT @limit`),
    countConversations: s<number>('SELECT COUNT(*) FROM conversations').pluck(),
    getParticipants: s<ParticipantRow>('SELECT * FROM participants WHERE conversation_id = ? ORDER BY rowid'),
    hasParticipant: s<number>('SELECT 1 FROM participants WHERE conversation_id = ? AND user_id = ?').pluck(),
    countParticipants: s<number>('SELECT COUNT(*) FROM participants WHERE conversation_id = ?').pluck(),
    insertParticipant: s(`INSERT INTO participants (conversation_id, user_id, name, type, role, joined_at)
      VALUES (@conversationId, @id, @name, @type, @role, @joinedAt)`),
    removeParticipant: s('DELETE FROM participants WHERE conversation_id = ? AND user_id = ?'),
    nextSeq: s<number>(`UPDATE conversations SET last_seq = last_seq + 1, updated_at = ? WHERE id = ?
      RETURNING last_seq`).pluck(),
    insertMessage: s(`INSERT INTO messages (conversation_id, seq, id, kind, sender_id, sender, content, parts, status,
      reply_to, client_message_id, created_at, metadata) VALUES (@conversation_id, @seq, @id, @kind, @sender_id,
      @sender, @content, @parts, @status, @reply_to, @client_message_id, @created_at, @metadata)`),
    updateMessage: s<MessageRow>(`UPDATE messages SET content = COALESCE(@content, content),
      parts = COALESCE(@parts, parts), status = COALESCE(@status, status), metadata = COALESCE(@metadata, metadata)
      WHERE conversation_id = @conversationId AND id = @id RETURNING conversation_id, seq, id, kind, sender_id, sender,
      content, CASE WHEN @parts IS NULL THEN parts END AS parts, status, reply_to, client_message_id, created_at, metadata`),
    messagesAfter: s<MessageRow>(`SELECT * FROM messages WHERE conversation_id = @conversationId AND seq > @after
      AND (@before IS NULL OR seq < @before) ORDER BY seq LIMIT @limit`),
    newestMessages: s<MessageRow>(`SELECT * FROM (SELECT * FROM messages WHERE conversation_id = @conversationId
      AND (@before IS NULL OR seq < @before) ORDER BY seq DESC LIMIT @limit) ORDER BY seq`),
    findByClientId: s<MessageRow>(`SELECT * FROM messages
      WHERE conversation_id = ? AND sender_id = ? AND client_message_id = ?`),
    failStaleAnswers: s<MessageRow>(`UPDATE messages SET status = 'failed' WHERE rowid IN (
        SELECT rowid FROM messages WHERE kind = 'ai' AND status = 'streaming' AND created_at < @startedBefore
        ORDER BY created_at LIMIT @limit
      ) RETURNING *`),
    insertAudit: s('INSERT INTO audit (id, at, actor, action, target, details) VALUES (?, ?, ?, ?, ?, ?)'),
    listAudit: s<AuditRow>('SELECT * FROM audit WHERE (@before IS NULL OR id < @before) ORDER BY id DESC LIMIT @limit')
  }
}

/** Opens the file (fileMustExist: a reopen never creates an empty database), creates the tables, prepares once. */
/** Pages a conversation's delete may use past `maxSizeBytes` (see `remove`). */
const DELETE_HEADROOM_PAGES = 256

function connect (filename: string, opts: { create: boolean, maxSizeBytes?: number }) {
  if (opts.create && filename !== ':memory:' && filename !== '') mkdirSync(dirname(filename), { recursive: true })
  // timeout 0: a locked database fails at once (SQLITE_BUSY) and the caller waits asynchronously, off the event loop.
  const db = new Database(filename, { fileMustExist: !opts.create, timeout: 0 })
  let capPages: number | undefined
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    // After a checkpoint, the WAL file is cut back to this size (it would otherwise keep its largest size).
    db.pragma('journal_size_limit = 67108864')
    db.exec(SCHEMA)
    setupSearch(db)
    if (opts.maxSizeBytes !== undefined) {
      const pageSize = db.pragma('page_size', { simple: true }) as number
      capPages = Math.max(1, Math.floor(opts.maxSizeBytes / pageSize))
      db.pragma(`max_page_count = ${capPages}`)
    }
  } catch (err) {
    db.close()
    throw err
  }
  const q = prepare(db)

  // Transactions that write are IMMEDIATE: the write lock is taken first (a busy database fails at BEGIN, before
  // anything ran, so the whole call can be retried), and another connection cannot slip in between a read and
  // the write (no SQLITE_BUSY_SNAPSHOT midway).
  const create = db.transaction((record: ConversationRecord, participants: ParticipantRecord[]) => {
    q.insertConversation.run({ ...record, metadata: json(record.metadata), closedAt: orNull(record.closedAt) })
    for (const p of participants) q.insertParticipant.run({ ...p, conversationId: record.id })
  }).immediate
  const removeAll = db.transaction((id: string) => {
    q.deleteMessages.run(id)
    q.deleteParticipants.run(id)
    return q.deleteConversation.run(id).changes > 0
  }).immediate
  // Deleting is how a full database gets room back, but the search index records a deletion before the
  // messages' pages are free again: under `maxSizeBytes` a delete may go a little past the cap (the next writes
  // reuse the pages it freed).
  const remove = (id: string): boolean => {
    if (capPages === undefined) return removeAll(id)
    db.pragma(`max_page_count = ${capPages + DELETE_HEADROOM_PAGES}`)
    try {
      return removeAll(id)
    } finally {
      db.pragma(`max_page_count = ${capPages}`)
    }
  }
  const addParticipant = db.transaction((conversationId: string, p: ParticipantRecord, max: number): AddParticipantResult => {
    if (q.getConversation.get(conversationId) === undefined) return 'missing'
    if (q.hasParticipant.get(conversationId, p.id) !== undefined) return 'exists'
    if ((q.countParticipants.get(conversationId) as number) >= max) return 'full'
    q.insertParticipant.run({ ...p, conversationId })
    return 'added'
  }).immediate
  const insert = (conversationId: string, draft: MessageDraft): Message => {
    const seq = q.nextSeq.get(draft.createdAt, conversationId)
    if (seq === undefined) throw new CHAT_ERR_NOT_FOUND('Conversation')
    const row: MessageRow = {
      conversation_id: conversationId,
      seq,
      id: draft.id,
      kind: draft.kind,
      sender_id: draft.sender.id,
      sender: JSON.stringify(draft.sender),
      content: draft.content,
      parts: json(draft.parts),
      status: orNull(draft.status),
      reply_to: orNull(draft.replyTo),
      client_message_id: orNull(draft.clientMessageId),
      created_at: draft.createdAt,
      metadata: json(draft.metadata)
    }
    q.insertMessage.run(row) // the unique index on the client id is the last guard against a duplicate
    return toMessage(row)
  }
  const appendRow = ({ conversationId, draft, reply }: SqliteAppend): AppendResult => {
    if (draft.clientMessageId !== undefined) {
      const first = q.findByClientId.get(conversationId, draft.sender.id, draft.clientMessageId)
      if (first !== undefined) return { message: toMessage(first), created: false }
    }
    const message = insert(conversationId, draft)
    const next = reply?.(message)
    return next === undefined ? { message, created: true } : { message, created: true, reply: insert(conversationId, next) }
  }
  const append = db.transaction(appendRow).immediate
  // Group commit (sqlite-appends.ts): rows in order, each one seeing those before it (dedupe inside the batch).
  const appendMany = db.transaction((appends: SqliteAppend[]): AppendResult[] => appends.map(appendRow)).immediate

  // One statement, in a write transaction of its own: a sweep in another process waits for it, then finds none of these.
  const failStale = db.transaction((startedBefore: string, limit: number): Message[] =>
    q.failStaleAnswers.all({ startedBefore, limit }).map(toMessage)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0))).immediate

  // A committed write of its own (the write lock, the WAL), plus room for PROBE_RESERVE_BYTES more: the
  // reserve's pages are allocated (past the size limit or a full disk: SQLITE_FULL) and freed again at once.
  const probe = db.transaction((at: string) => {
    q.probeMark.run(at)
    q.probeReserve.run(at, PROBE_RESERVE_BYTES)
    q.probeRelease.run()
  }).immediate

  const search = prepareSearch(db, toMessage)

  return { db, q, create, remove, addParticipant, append, appendMany, failStale, probe, search }
}

type Connection = ReturnType<typeof connect>

/** Which file a path names now: device and inode, or undefined when there is none (or it cannot be read). */
function fileAt (filename: string): { dev: bigint, ino: bigint } | undefined {
  try {
    const st = statSync(filename, { bigint: true, throwIfNoEntry: false })
    return st === undefined ? undefined : { dev: st.dev, ino: st.ino }
  } catch {
    return undefined
  }
}

/**
 * Keeps everything in one SQLite file (WAL mode), shared safely by several processes on one machine: seq comes
 * from `last_seq` bumped inside an IMMEDIATE transaction, which SQLite serialises across connections.
 * Every read builds fresh objects, so callers always get copies.
 *
 * Faults of the database (disk full, I/O errors, read-only, a file deleted or damaged, a lock held too long)
 * reject with CHAT_ERR_UNAVAILABLE (503, `retryAfterMs`), see sqlite-errors.ts. Nothing waits on the event
 * loop: a locked database is retried with timers for `lockTimeoutMs`. A database file deleted (or replaced)
 * while open is noticed after every write, which then fails, since on Linux the unlinked file still accepts
 * writes that would vanish on restart. The connection is then dropped; every call tries to open the file
 * again, and succeeds once a database file is back at the path (restored by an operator). It never creates an
 * empty one in its place while running: that happens only at `init`, like on a first start.
 */
export function createSqliteStorage (opts: SqliteStorageOptions): ChatStorage {
  const { filename, maxSizeBytes } = opts
  const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS
  const indexDelayMs = opts.searchIndexDelayMs ?? DEFAULT_INDEX_DELAY_MS
  const onDisk = filename !== ':memory:' && filename !== ''
  /** The open connection; undefined before init, after close and while the file is missing. */
  let c: Connection | undefined
  /** The file `c` has open, to tell when the path no longer leads to it. */
  let opened: { dev: bigint, ino: bigint } | undefined
  let closed = false
  let checkpointer: { stop: () => Promise<void> } | undefined

  function start (create: boolean): Connection {
    const conn = connect(filename, { create, maxSizeBytes })
    opened = onDisk ? fileAt(filename) : undefined
    if (onDisk) {
      // Checkpoints happen in a worker, which starts the WAL over from RESTART_FRAMES (~32 MB); the main connection
      // steps in only if the WAL grows past twice that (~64 MB, the journal_size_limit): the worker fell behind.
      conn.db.pragma(`wal_autocheckpoint = ${2 * RESTART_FRAMES}`)
      checkpointer = startCheckpointer(filename)
    }
    c = conn
    return conn
  }

  /**
   * Gives up a connection whose file is gone. Closing is safe: SQLite skips the checkpoint (and the deletion
   * of the -wal and -shm files by name) when the database file has moved, so a restored file is left alone.
   */
  function drop (): void {
    const conn = c
    c = undefined
    opened = undefined
    const worker = checkpointer
    checkpointer = undefined
    worker?.stop().catch(() => {})
    try { conn?.db.close() } catch {}
  }

  /** The connection, reopened if the file came back; UNAVAILABLE while closed or missing. */
  function connection (): Connection {
    if (c !== undefined) return c
    if (closed) throw unavailable('cantopen', new Error('the storage is closed'))
    if (!onDisk || fileAt(filename) === undefined) throw unavailable('missing')
    return start(false)
  }

  /** After a write: throws (and drops the connection) if the path no longer leads to the file written. */
  function verify (): void {
    if (opened === undefined) return
    const now = fileAt(filename)
    if (now !== undefined && now.dev === opened.dev && now.ino === opened.ino) return
    drop()
    throw unavailable('missing', new Error(`the database file ${filename} was deleted or replaced while open; the last write is not kept`))
  }

  /** A driver error as the chat's: faults are UNAVAILABLE; an I/O fault may mean the file went away. */
  function fault (err: unknown): unknown {
    const kind = sqliteFault(err)
    if (kind === undefined || err instanceof CHAT_ERR_UNAVAILABLE) return err
    if ((kind === 'io' || kind === 'cantopen' || kind === 'readonly') && c !== undefined) {
      try { verify() } catch (missing) { (missing as Error).cause = err; return missing }
    }
    return unavailable(kind, err)
  }

  /**
   * Runs `op` on the connection. A busy database is retried with a growing pause (timers, never a blocking
   * wait) until `lockTimeoutMs` has passed; a write is checked to have reached the file at the path.
   */
  async function run<T> (write: boolean, op: (conn: Connection) => T, patience = lockTimeoutMs, get = connection): Promise<T> {
    const deadline = performance.now() + patience
    for (let attempt = 0; ; attempt++) {
      try {
        const result = op(get())
        if (write) verify()
        return result
      } catch (err) {
        const left = deadline - performance.now()
        if (sqliteFault(err) !== 'locked' || left <= 0) throw fault(err)
        const pause = Math.min(left, Math.min(2 ** attempt, MAX_PAUSE_MS) * (0.5 + Math.random()))
        await new Promise((resolve) => setTimeout(resolve, Math.max(1, pause)))
      }
    }
  }

  const probe = async (): Promise<void> => {
    await run(true, (conn) => { conn.probe(new Date().toISOString()) })
  }

  let indexTimer: NodeJS.Timeout | undefined
  /**
   * Indexes for search, shortly, the messages the writes of the last moments noted: one FTS5 write for many
   * appends. A failure (a lock held too long, the file gone) leaves the notes for the next time, or the next
   * search, which indexes them first.
   */
  function indexSoon (): void {
    if (indexTimer !== undefined || closed) return
    indexTimer = setTimeout(() => {
      indexTimer = undefined
      run(false, (c) => { c.search.indexPending() }).catch(() => {})
    }, indexDelayMs)
    indexTimer.unref()
  }

  const appends = createSqliteAppends({
    one: async (a) => await run(true, (c) => c.append(a)),
    many: async (batch) => await run(true, (c) => c.appendMany(batch)),
    // A row may fail a batch (its conversation deleted, the size limit); a database that is down fails them all.
    perRow: (err) => { const f = (err as { fault?: string }).fault; return f === undefined || f === 'full' }
  })

  return {
    name: 'sqlite',

    async init () {
      closed = false
      // Starting up: other processes may be creating the tables too, so the lock gets longer than a request.
      await run(false, () => {}, Math.max(lockTimeoutMs, INIT_LOCK_TIMEOUT_MS), () => c ?? start(true))
    },

    async close () {
      closed = true
      clearTimeout(indexTimer)
      indexTimer = undefined
      await checkpointer?.stop()
      checkpointer = undefined
      if (c?.db.open === true) c.db.close()
      c = undefined
    },

    /** The health check's: the write probe, not only a read. */
    ping: probe,
    probe,

    async createConversation (record, participants) {
      await run(true, (c) => { c.create(record, participants) })
    },

    async getConversation (id) {
      const row = await run(false, (c) => c.q.getConversation.get(id))
      return row === undefined ? null : toConversation(row)
    },

    async updateConversation (id, patch) {
      const row = await run(true, (c) => c.q.updateConversation.get({
        id,
        title: orNull(patch.title),
        metadata: json(patch.metadata),
        closedAt: orNull(patch.closedAt),
        updatedAt: new Date().toISOString()
      }))
      return row === undefined ? null : toConversation(row)
    },

    async deleteConversation (id) {
      return await run(true, (c) => c.remove(id))
    },

    async listConversations ({ userId, limit, cursor }) {
      const params = { userId, cursor: orNull(cursor), limit: Math.max(0, limit) + 1 }
      const rows = await run(false, (c) => userId === undefined ? c.q.listConversations.all(params) : c.q.listUserConversations.all(params))
      const items = rows.slice(0, Math.max(0, limit)).map(toConversation)
      return { items, nextCursor: rows.length > items.length && items.length > 0 ? items[items.length - 1].id : null }
    },

    async countConversations () {
      return await run(false, (c) => c.q.countConversations.get() as number)
    },

    async getParticipants (conversationId) {
      return (await run(false, (c) => c.q.getParticipants.all(conversationId))).map(toParticipant)
    },

    async addParticipant (conversationId, participant, max) {
      return await run(true, (c) => c.addParticipant(conversationId, participant, max))
    },

    async removeParticipant (conversationId, userId) {
      return await run(true, (c) => c.q.removeParticipant.run(conversationId, userId).changes > 0)
    },

    /** Group commit: appends called in one turn of the event loop share a transaction (sqlite-appends.ts). */
    async appendMessage (conversationId, draft, reply) {
      const result = await appends.append(conversationId, draft, reply)
      if (result.created) indexSoon()
      return result
    },

    async updateMessage (conversationId, id, patch, encoded) {
      const row = await run(true, (c) => c.q.updateMessage.get({
        conversationId,
        id,
        content: orNull(patch.content),
        parts: patch.parts === undefined ? null : encoded?.parts ?? json(patch.parts),
        status: orNull(patch.status),
        metadata: json(patch.metadata)
      }))
      if (row === undefined) return null
      if (patch.content !== undefined) indexSoon()
      const message = toMessage(row)
      // The parts just written are not read back and parsed again: the caller's (large) answer is returned.
      if (patch.parts !== undefined) message.parts = patch.parts
      return message
    },

    async getMessages (conversationId, { after, before, limit }) {
      const params = { conversationId, after: after ?? 0, before: orNull(before), limit: Math.max(0, limit) }
      return (await run(false, (c) => (after === undefined ? c.q.newestMessages : c.q.messagesAfter).all(params))).map(toMessage)
    },

    async findMessageByClientId (conversationId, senderId, clientMessageId) {
      const row = await run(false, (c) => c.q.findByClientId.get(conversationId, senderId, clientMessageId))
      return row === undefined ? null : toMessage(row)
    },

    async failStaleAnswers (startedBefore, limit) {
      return await run(true, (c) => c.failStale(startedBefore, Math.max(0, limit)))
    },

    async searchMessages (conversationId, query) {
      return await run(false, (c) => c.search.searchMessages(conversationId, query))
    },

    async appendAudit (entry) {
      await run(true, (c) => { c.q.insertAudit.run(entry.id, entry.at, entry.actor, entry.action, orNull(entry.target), json(entry.details)) })
    },

    async listAudit ({ limit, before }) {
      return (await run(false, (c) => c.q.listAudit.all({ before: orNull(before), limit: Math.max(0, limit) }))).map(toAudit)
    }
  }
}
