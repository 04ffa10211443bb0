import { mkdirSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { SqliteAppend } from './sqlite-appends.ts'
import { prepareSearch, setupSearch } from './sqlite-search.ts'
import { CHAT_ERR_NOT_FOUND } from '../errors.ts'
import type { ConversationRecord, Message, ParticipantRecord } from '../schemas/entities.ts'
import { optional, rowReader, type ConversationRowOf, type MessageRowOf, type ParticipantRow } from './rows.ts'
import type { AddParticipantResult, AppendResult, AuditEntry, MessageDraft } from './types.ts'

// One connection to the SQLite file: the tables, the statements prepared once, the transactions every write
// runs in, and rows read back as the chat's entities. sqlite.ts makes the storage of it (locks waited for
// on timers, faults, a file that went away, group commit, the checkpoint worker, the search index timer).

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

export type ConversationRow = ConversationRowOf<string>
export interface MessageRow extends MessageRowOf<string> { sender_id: string }
export interface AuditRow {
  id: string, at: string, actor: string, action: string, target: string | null, details: string | null
}

/** A prepared statement whose rows are R (an interface, so declarations can name it). */
export interface Statement<R = unknown> extends Database.Statement<unknown[], R> {}
/** The driver's connection, by a name declarations can use. */
export type SqliteDatabase = Database.Database

/** JSON columns: undefined (absent, or unchanged in a patch) is stored as NULL. */
export const json = (value: unknown): string | null => value === undefined ? null : JSON.stringify(value)
export const orNull = <T> (value: T | undefined): T | null => value === undefined ? null : value

/** Rows to entities (lib/storage/rows.ts), with this driver's JSON columns. */
export const { toConversation, toParticipant, toMessage } = rowReader<string>(JSON.parse)

export function toAudit (row: AuditRow): AuditEntry {
  const e: AuditEntry = { id: row.id, at: row.at, actor: row.actor, action: row.action }
  optional(e, 'target', row.target)
  optional(e, 'details', row.details === null ? null : JSON.parse(row.details))
  return e
}

/** Every statement, prepared once per connection. */
export function prepare (db: SqliteDatabase) {
  const s = <R = unknown> (sql: string): Statement<R> => db.prepare<unknown[], R>(sql)
  /** A statement that returns its rows' first column only. */
  const column = <R> (sql: string): Statement<R> => s<R>(sql).pluck()
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
    countConversations: column<number>('SELECT COUNT(*) FROM conversations'),
    getParticipants: s<ParticipantRow>('SELECT * FROM participants WHERE conversation_id = ? ORDER BY rowid'),
    hasParticipant: column<number>('SELECT 1 FROM participants WHERE conversation_id = ? AND user_id = ?'),
    countParticipants: column<number>('SELECT COUNT(*) FROM participants WHERE conversation_id = ?'),
    insertParticipant: s(`INSERT INTO participants (conversation_id, user_id, name, type, role, joined_at)
      VALUES (@conversationId, @id, @name, @type, @role, @joinedAt)`),
    removeParticipant: s('DELETE FROM participants WHERE conversation_id = ? AND user_id = ?'),
    nextSeq: column<number>(`UPDATE conversations SET last_seq = last_seq + 1, updated_at = ? WHERE id = ?
      RETURNING last_seq`),
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

/** Pages a conversation's delete may use past `maxSizeBytes` (see `remove`). */
const DELETE_HEADROOM_PAGES = 256

/** Opens the file (fileMustExist: a reopen never creates an empty database), creates the tables, prepares once. */
export function connect (filename: string, opts: { create: boolean, maxSizeBytes?: number }): Connection {
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

/** An open connection: the driver's, its statements, and the transactions the storage runs. */
export interface Connection {
  db: SqliteDatabase
  q: ReturnType<typeof prepare>
  create: (record: ConversationRecord, participants: ParticipantRecord[]) => void
  remove: (id: string) => boolean
  addParticipant: (conversationId: string, p: ParticipantRecord, max: number) => AddParticipantResult
  append: (append: SqliteAppend) => AppendResult
  appendMany: (appends: SqliteAppend[]) => AppendResult[]
  failStale: (startedBefore: string, limit: number) => Message[]
  probe: (at: string) => void
  search: ReturnType<typeof prepareSearch>
}

/** Which file a path names now: device and inode, or undefined when there is none (or it cannot be read). */
export function fileAt (filename: string): { dev: bigint, ino: bigint } | undefined {
  try {
    const st = statSync(filename, { bigint: true, throwIfNoEntry: false })
    return st === undefined ? undefined : { dev: st.dev, ino: st.ino }
  } catch {
    return undefined
  }
}
