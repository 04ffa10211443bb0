import type Database from 'better-sqlite3'
import type { Message } from '../schemas/entities.ts'
import type { MessageRowOf } from './rows.ts'
import { readSearchCursor, SEARCH_START, searchPage, searchTerms, searchWords } from './search-query.ts'
import type { Page, SearchQuery } from './types.ts'

/**
 * History search on SQLite: an FTS5 index of the words of every message, as search-query.ts splits and folds
 * them (`searchWords`, so SQLite's own Unicode tables and case folding play no part), each word prefixed with
 * its conversation: a search reads the index entries of its conversation's words only, whatever the other
 * conversations hold. A match ranks by the distinct words it holds, then their occurrences (counted from the
 * index), then newest first: the same ranking as every storage, depending on the message alone.
 *
 * The index is contentless (the words are derived from `messages.content`, not kept twice) and deletes by
 * rowid (`contentless_delete`). An append does not index its message: FTS5 writes a segment per transaction,
 * which would halve the appends a second. Its trigger notes the row in `messages_search_pending` (one small
 * row); `indexPending` splits what is noted into words and moves it into the index, INDEX_SLICE messages per
 * transaction: shortly after appends (the storage's timer, a few milliseconds per turn of the event loop) and,
 * all of it, before every search, so a search sees every message stored before it. An update or a delete takes
 * the row out of the index (a no-op while it is pending); an update notes it again. Triggers are plain SQL: any
 * tool may write the file; the words are computed only here.
 *
 * Rows are tied to the index by `messages.rowid`, which VACUUM keeps in the SQLite versions this runs on
 * (SQLite does not promise it for a table without an INTEGER PRIMARY KEY: after a VACUUM by another tool,
 * `DELETE FROM messages_search; INSERT INTO messages_search_pending (id) SELECT rowid FROM messages` puts the
 * index right).
 */
const SEARCH_SCHEMA = `
CREATE VIRTUAL TABLE messages_search USING fts5(
  words, content = '', contentless_delete = 1, tokenize = "ascii tokenchars '_'"
);
CREATE VIRTUAL TABLE messages_search_hits USING fts5vocab(messages_search, instance);
CREATE TABLE messages_search_pending (id INTEGER PRIMARY KEY);
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
  INSERT OR IGNORE INTO messages_search_pending (id) VALUES (new.rowid);
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
  DELETE FROM messages_search WHERE rowid = old.rowid AND NOT EXISTS (SELECT 1 FROM messages_search_pending WHERE id = old.rowid);
  DELETE FROM messages_search_pending WHERE id = old.rowid;
END;
-- updateMessage sets content to itself when its patch has none: only a real change is indexed again.
CREATE TRIGGER messages_search_update AFTER UPDATE OF content ON messages WHEN old.content IS NOT new.content BEGIN
  DELETE FROM messages_search WHERE rowid = old.rowid AND NOT EXISTS (SELECT 1 FROM messages_search_pending WHERE id = old.rowid);
  INSERT OR IGNORE INTO messages_search_pending (id) VALUES (new.rowid);
END;
`

/** The index of earlier versions (bm25 over the whole database, SQLite's case folding): replaced on open. */
const OLD_SCHEMA = `
DROP TRIGGER IF EXISTS messages_fts_insert;
DROP TRIGGER IF EXISTS messages_fts_delete;
DROP TRIGGER IF EXISTS messages_fts_update;
DROP TABLE IF EXISTS messages_fts;
DROP TABLE IF EXISTS messages_fts_pending;
`

/**
 * The index token of a word of a conversation: the conversation id in hex (only [0-9a-f]), `_`, the word. The
 * `ascii` tokenizer splits on ASCII punctuation and spaces only (`_` excepted) and folds nothing but A-Z, which
 * the words, lowercased letters and digits of any script, do not hold: each token is indexed as it is.
 */
export function searchToken (conversationId: string, word: string): string {
  return `${Buffer.from(conversationId, 'utf8').toString('hex')}_${word}`
}

/** What the index holds for a message: its words as tokens, repeats included. */
export function searchTokens (conversationId: string, content: string): string {
  return searchWords(content).map((word) => searchToken(conversationId, word)).join(' ')
}

/**
 * Creates the index, its notes and its triggers in a database that has none (a new file, or one a version
 * without search or with the earlier index wrote), with every message already there noted (indexed before
 * the first search, or by the storage's timer), in one IMMEDIATE transaction: processes opening the file at
 * once take turns (a busy database fails at BEGIN and the caller retries), and the second finds the work
 * done. A database that has the index is only read.
 */
export function setupSearch (db: Database.Database): void {
  const present = db.prepare<[], number>("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages_search'").pluck()
  if (present.get() !== undefined) return
  db.transaction(() => {
    if (present.get() !== undefined) return
    db.exec(OLD_SCHEMA)
    db.exec(SEARCH_SCHEMA)
    db.exec('INSERT INTO messages_search_pending (id) SELECT rowid FROM messages')
  }).immediate()
}

/**
 * Most messages indexed in one transaction by the storage's timer: a few milliseconds of the event loop. A
 * backlog (thousands of appends a second) is indexed a slice at a time, as many per turn of the event loop as
 * fit in a couple of milliseconds (the storage's `searchIndexTurnMs`), other work running between two turns;
 * in one transaction, a 100 ms backlog of a `bench:store` run held the event loop 12–40 ms.
 */
export const INDEX_SLICE = 256

/** A match as read: the message's columns, and its score. */
type ScoredRow<R> = R & { search_words: number, search_hits: number }

/** The search's statements, prepared once per connection: the search itself, and `indexPending`. */
export function prepareSearch<R extends MessageRowOf<string>> (db: Database.Database, toMessage: (row: R) => Message) {
  const lastSeq = db.prepare<[string], number>('SELECT last_seq FROM conversations WHERE id = ?').pluck()
  const anyPending = db.prepare<[], number>('SELECT 1 FROM messages_search_pending LIMIT 1').pluck()
  // The oldest notes first; a note whose message is gone (the delete trigger clears them: only another tool's
  // delete leaves one) is cleared with the others.
  const noted = db.prepare<[number], { id: number, conversation_id: string | null, content: string | null }>(`SELECT p.id,
    m.conversation_id, m.content FROM (SELECT id FROM messages_search_pending ORDER BY id LIMIT ?) p
    LEFT JOIN messages m ON m.rowid = p.id ORDER BY p.id`)
  const index = db.prepare<[number, string]>('INSERT INTO messages_search (rowid, words) VALUES (?, ?)')
  const clearNotes = db.prepare<[number]>('DELETE FROM messages_search_pending WHERE id <= ?')
  // The occurrences of the conversation's tokens of the query, counted per message from the index (one row per
  // occurrence, read by term), then the page: the matches ranking after the cursor's key, best first.
  const search = db.prepare<[Record<string, unknown>], ScoredRow<R>>(`WITH matches AS (
      SELECT doc, count(DISTINCT term) AS words, count(*) AS hits FROM messages_search_hits
      WHERE term IN (SELECT value FROM json_each(@tokens)) GROUP BY doc)
    SELECT m.*, matches.words AS search_words, matches.hits AS search_hits FROM matches
    CROSS JOIN messages m ON m.rowid = matches.doc
    WHERE m.conversation_id = @conversationId AND m.seq <= @ceiling AND (matches.words, matches.hits, m.seq) < (@words, @hits, @seq)
    ORDER BY matches.words DESC, matches.hits DESC, m.seq DESC LIMIT @limit`)

  /** Moves the `limit` oldest notes into the index; true when that was all of them. */
  const moveNotes = db.transaction((limit: number): boolean => {
    const rows = noted.all(limit)
    for (const row of rows) {
      if (row.conversation_id === null || row.content === null) continue
      const tokens = searchTokens(row.conversation_id, row.content)
      if (tokens !== '') index.run(row.id, tokens)
    }
    if (rows.length > 0) clearNotes.run(rows[rows.length - 1].id)
    return rows.length < limit
  }).immediate

  /**
   * Indexes the messages noted since the last time, a slice per write transaction (only a read when there are
   * none), until none is left or `until` (performance.now()) has passed after a slice; true when none is left.
   */
  function indexPending (until = Infinity): boolean {
    for (;;) {
      if (anyPending.get() === undefined || moveNotes(INDEX_SLICE)) return true
      if (performance.now() >= until) return false
    }
  }

  function searchMessages (conversationId: string, { q, limit, cursor }: SearchQuery): Page<Message> {
    const terms = searchTerms(q)
    const n = Math.max(0, Math.floor(limit))
    const position = readSearchCursor(cursor) ?? { ceiling: lastSeq.get(conversationId) ?? 0 }
    if (terms.length === 0 || n === 0 || position.ceiling === 0) return { items: [], nextCursor: null }
    indexPending() // all of it: a search sees every message stored before it
    const after = position.after ?? SEARCH_START
    const rows = search.all({
      tokens: JSON.stringify(terms.map((term) => searchToken(conversationId, term))),
      conversationId,
      ceiling: position.ceiling,
      words: after.words,
      hits: after.hits,
      seq: after.seq,
      limit: n + 1
    })
    const page = searchPage(rows, n, position, (row) => ({ words: row.search_words, hits: row.search_hits, seq: row.seq }))
    return { items: page.items.map(toMessage), nextCursor: page.nextCursor }
  }

  return { searchMessages, indexPending }
}
