import type Database from 'better-sqlite3'
import type { Message } from '../schemas/entities.ts'
import type { MessageRowOf } from './rows.ts'
import { readSearchCursor, searchPage, searchTerms } from './search-query.ts'
import type { Page, SearchQuery } from './types.ts'

/**
 * History search on SQLite: an FTS5 index of `messages.content` (external content: the text is kept once, in
 * `messages`), kept in step by triggers, so every write path (appends, AI answers completing, deletes) keeps
 * it right without the storage's code knowing. Ranked with bm25, equal ranks newest first.
 *
 * An append does not index its message: FTS5 writes a segment per transaction, which would halve the appends
 * a second. Its trigger notes the row in `messages_fts_pending` (one small row); `indexPending` moves what is
 * noted into the index in one transaction, shortly after appends (the storage's timer) and before every
 * search, so a search sees every message stored before it. An update or a delete of a row still pending
 * only touches the note; of an indexed row, takes it out of the index (an update notes it again).
 *
 * The tokenizer takes letters, digits, private-use characters and combining marks as word characters and
 * keeps diacritics (`café` is not `cafe`), as the other storages do (search-query.ts). Rows are tied to the
 * index by `messages.rowid`, which VACUUM keeps in the SQLite versions this runs on (SQLite does not promise
 * it for a table without an INTEGER PRIMARY KEY: after a VACUUM by another tool, `INSERT INTO
 * messages_fts (messages_fts) VALUES ('rebuild')` puts the index right).
 */
const SEARCH_SCHEMA = `
CREATE VIRTUAL TABLE messages_fts USING fts5(
  content, content = 'messages', content_rowid = 'rowid',
  tokenize = "unicode61 remove_diacritics 0 categories 'L* N* Co M*'"
);
CREATE TABLE messages_fts_pending (id INTEGER PRIMARY KEY);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts_pending (id) VALUES (new.rowid);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) SELECT 'delete', old.rowid, old.content
    WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE id = old.rowid);
  DELETE FROM messages_fts_pending WHERE id = old.rowid;
END;
-- updateMessage sets content to itself when its patch has none: only a real change is indexed again.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages WHEN old.content IS NOT new.content BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) SELECT 'delete', old.rowid, old.content
    WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE id = old.rowid);
  INSERT OR IGNORE INTO messages_fts_pending (id) VALUES (new.rowid);
END;
`

/**
 * Creates the index, its notes and its triggers in a database that has none (a new file, or one a version
 * without search wrote), filled from the messages already there, in one IMMEDIATE transaction: processes
 * opening the file at once take turns (a busy database fails at BEGIN and the caller retries), and the
 * second finds the work done. A database that has the index is only read.
 */
export function setupSearch (db: Database.Database): void {
  const present = db.prepare<[], number>("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages_fts'").pluck()
  if (present.get() !== undefined) return
  db.transaction(() => {
    if (present.get() !== undefined) return
    db.exec(SEARCH_SCHEMA)
    db.exec("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
  }).immediate()
}

/** The words of `q`, each quoted (a phrase of one word: no FTS5 syntax survives), any of them matching. */
function matchExpression (terms: string[]): string {
  return terms.map((term) => `"${term.replaceAll('"', '""')}"`).join(' OR ')
}

/** The search's statements, prepared once per connection: the search itself, and `indexPending`. */
export function prepareSearch<R extends MessageRowOf<string>> (db: Database.Database, toMessage: (row: R) => Message) {
  const lastSeq = db.prepare<[string], number>('SELECT last_seq FROM conversations WHERE id = ?').pluck()
  const anyPending = db.prepare<[], number>('SELECT 1 FROM messages_fts_pending LIMIT 1').pluck()
  const indexNoted = db.prepare(`INSERT INTO messages_fts (rowid, content)
    SELECT m.rowid, m.content FROM messages_fts_pending p JOIN messages m ON m.rowid = p.id`)
  const clearNotes = db.prepare('DELETE FROM messages_fts_pending')
  // CROSS JOIN: the index's matches first, each joined to its message by rowid. The planner would otherwise walk
  // the conversation's messages and query the index once per message (a full-text lookup each: 100x slower).
  const search = db.prepare<[Record<string, unknown>], R>(`SELECT m.* FROM messages_fts
    CROSS JOIN messages m ON m.rowid = messages_fts.rowid
    WHERE messages_fts MATCH @match AND m.conversation_id = @conversationId AND m.seq <= @ceiling
    ORDER BY messages_fts.rank, m.seq DESC LIMIT @limit OFFSET @offset`)

  const moveNotes = db.transaction(() => {
    indexNoted.run()
    clearNotes.run()
  }).immediate

  /** Indexes the messages noted since the last time, in one write transaction; only a read when there are none. */
  function indexPending (): void {
    if (anyPending.get() !== undefined) moveNotes()
  }

  function searchMessages (conversationId: string, { q, limit, cursor }: SearchQuery): Page<Message> {
    const terms = searchTerms(q)
    const n = Math.max(0, Math.floor(limit))
    const position = readSearchCursor(cursor) ?? { offset: 0, ceiling: lastSeq.get(conversationId) ?? 0 }
    if (terms.length === 0 || n === 0 || position.ceiling === 0) return { items: [], nextCursor: null }
    indexPending()
    const rows = search.all({ match: matchExpression(terms), conversationId, ceiling: position.ceiling, limit: n + 1, offset: position.offset })
    return searchPage(rows.map(toMessage), n, position)
  }

  return { searchMessages, indexPending }
}
