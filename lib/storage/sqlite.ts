import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { startCheckpointer } from './sqlite-checkpointer.ts'
import { CHAT_ERR_NOT_FOUND } from '../errors.ts'
import type { ConversationRecord, Message, ParticipantRecord } from '../schemas/entities.ts'
import { optional, rowReader, type ConversationRowOf, type MessageRowOf, type ParticipantRow } from './rows.ts'
import type { AddParticipantResult, AppendResult, AuditEntry, ChatStorage, MessageDraft, ReplyFor } from './types.ts'

export interface SqliteStorageOptions {
  /** Path of the database file (its directory is created if missing), or ':memory:'. */
  filename: string
}

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
    ping: s('SELECT 1'),
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


/** Opens the file, creates the tables and prepares every statement and transaction once. */
function connect (filename: string) {
  if (filename !== ':memory:' && filename !== '') mkdirSync(dirname(filename), { recursive: true })
  const db = new Database(filename)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(SCHEMA)
  const q = prepare(db)

  // Transactions are IMMEDIATE where they read before writing: the write lock is taken first, so another
  // connection cannot slip in between the read and the write (and no SQLITE_BUSY_SNAPSHOT midway).
  const create = db.transaction((record: ConversationRecord, participants: ParticipantRecord[]) => {
    q.insertConversation.run({ ...record, metadata: json(record.metadata), closedAt: orNull(record.closedAt) })
    for (const p of participants) q.insertParticipant.run({ ...p, conversationId: record.id })
  })
  const remove = db.transaction((id: string) => {
    q.deleteMessages.run(id)
    q.deleteParticipants.run(id)
    return q.deleteConversation.run(id).changes > 0
  })
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
  const append = db.transaction((conversationId: string, draft: MessageDraft, reply?: ReplyFor): AppendResult => {
    if (draft.clientMessageId !== undefined) {
      const first = q.findByClientId.get(conversationId, draft.sender.id, draft.clientMessageId)
      if (first !== undefined) return { message: toMessage(first), created: false }
    }
    const message = insert(conversationId, draft)
    const next = reply?.(message)
    return next === undefined ? { message, created: true } : { message, created: true, reply: insert(conversationId, next) }
  }).immediate

  // One statement, in a write transaction of its own: a sweep in another process waits for it, then finds none of these.
  const failStale = db.transaction((startedBefore: string, limit: number): Message[] =>
    q.failStaleAnswers.all({ startedBefore, limit }).map(toMessage)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0))).immediate

  return { db, q, create, remove, addParticipant, append, failStale }
}

/**
 * Keeps everything in one SQLite file (WAL mode), shared safely by several processes on one machine: seq comes
 * from `last_seq` bumped inside an IMMEDIATE transaction, which SQLite serialises across connections.
 * Every read builds fresh objects, so callers always get copies.
 */
export function createSqliteStorage (opts: SqliteStorageOptions): ChatStorage {
  let c: ReturnType<typeof connect>
  let q: ReturnType<typeof prepare>
  let checkpointer: { stop: () => Promise<void> } | undefined

  return {
    name: 'sqlite',

    async init () {
      c = connect(opts.filename)
      q = c.q
      if (c.db.memory) return
      // Checkpoints happen in a worker; the main connection steps in only if the WAL grows past ~40 MB.
      c.db.pragma('wal_autocheckpoint = 10000')
      checkpointer = startCheckpointer(opts.filename)
    },

    async close () {
      await checkpointer?.stop()
      checkpointer = undefined
      if (c?.db.open) c.db.close()
    },

    async ping () {
      q.ping.get()
    },

    async createConversation (record, participants) {
      c.create(record, participants)
    },

    async getConversation (id) {
      const row = q.getConversation.get(id)
      return row === undefined ? null : toConversation(row)
    },

    async updateConversation (id, patch) {
      const row = q.updateConversation.get({
        id,
        title: orNull(patch.title),
        metadata: json(patch.metadata),
        closedAt: orNull(patch.closedAt),
        updatedAt: new Date().toISOString()
      })
      return row === undefined ? null : toConversation(row)
    },

    async deleteConversation (id) {
      return c.remove(id)
    },

    async listConversations ({ userId, limit, cursor }) {
      const params = { userId, cursor: orNull(cursor), limit: Math.max(0, limit) + 1 }
      const rows = userId === undefined ? q.listConversations.all(params) : q.listUserConversations.all(params)
      const items = rows.slice(0, Math.max(0, limit)).map(toConversation)
      return { items, nextCursor: rows.length > items.length && items.length > 0 ? items[items.length - 1].id : null }
    },

    async countConversations () {
      return q.countConversations.get() as number
    },

    async getParticipants (conversationId) {
      return q.getParticipants.all(conversationId).map(toParticipant)
    },

    async addParticipant (conversationId, participant, max) {
      return c.addParticipant(conversationId, participant, max)
    },

    async removeParticipant (conversationId, userId) {
      return q.removeParticipant.run(conversationId, userId).changes > 0
    },

    async appendMessage (conversationId, draft, reply) {
      return c.append(conversationId, draft, reply)
    },

    async updateMessage (conversationId, id, patch, encoded) {
      const row = q.updateMessage.get({
        conversationId,
        id,
        content: orNull(patch.content),
        parts: patch.parts === undefined ? null : encoded?.parts ?? json(patch.parts),
        status: orNull(patch.status),
        metadata: json(patch.metadata)
      })
      if (row === undefined) return null
      const message = toMessage(row)
      // The parts just written are not read back and parsed again: the caller's (large) answer is returned.
      if (patch.parts !== undefined) message.parts = patch.parts
      return message
    },

    async getMessages (conversationId, { after, before, limit }) {
      const params = { conversationId, after: after ?? 0, before: orNull(before), limit: Math.max(0, limit) }
      return (after === undefined ? q.newestMessages : q.messagesAfter).all(params).map(toMessage)
    },

    async findMessageByClientId (conversationId, senderId, clientMessageId) {
      const row = q.findByClientId.get(conversationId, senderId, clientMessageId)
      return row === undefined ? null : toMessage(row)
    },

    async failStaleAnswers (startedBefore, limit) {
      return c.failStale(startedBefore, Math.max(0, limit))
    },

    async appendAudit (entry) {
      q.insertAudit.run(entry.id, entry.at, entry.actor, entry.action, orNull(entry.target), json(entry.details))
    },

    async listAudit ({ limit, before }) {
      return q.listAudit.all({ before: orNull(before), limit: Math.max(0, limit) }).map(toAudit)
    }
  }
}
