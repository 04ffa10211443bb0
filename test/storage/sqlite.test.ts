import { join } from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { newId } from '../../lib/ids.ts'
import { createSqliteStorage } from '../../lib/storage/sqlite.ts'
import { INDEX_SLICE, searchTokens } from '../../lib/storage/sqlite-search.ts'
import type { ChatStorage } from '../../lib/storage/types.ts'
import { storageContract } from '../../lib/storage/contract.ts'
import { conversation, draft, opened, participant, raceInChildren } from '../helpers/storage.ts'

async function open (t: Test, filename: string): Promise<ChatStorage> {
  return await opened(t, createSqliteStorage({ filename }))
}

t.test('contract on a file', async (t) => {
  const dir = t.testdir()
  let n = 0
  // a fresh file per test, in a directory that does not exist yet
  storageContract(t, async () => createSqliteStorage({ filename: join(dir, `db${n++}`, 'chat.db') }))
})

t.test('contract in :memory:', async (t) => {
  storageContract(t, async () => createSqliteStorage({ filename: ':memory:' }))
})

t.test('data survives close and re-open of the same file', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const id = newId()
  const first = createSqliteStorage({ filename })
  await first.init()
  await first.createConversation(conversation(id), [participant])
  await first.appendMessage(id, draft('one', 'c1'))
  await first.appendAudit({ id: newId(), at: '2020-01-01T00:00:02.000Z', actor: 'alice', action: 'create', target: id })
  await first.close()
  await t.rejects(first.ping(), 'a closed storage does not answer')

  const again = await open(t, filename)
  t.match(await again.getConversation(id), { title: 'Kept', lastSeq: 1 })
  t.match(await again.getParticipants(id), [participant])
  t.match(await again.listAudit({ limit: 10 }), [{ actor: 'alice', target: id }])
  t.match(await again.appendMessage(id, draft('repeat', 'c1')), { created: false, message: { seq: 1, content: 'one' } },
    'dedupe holds across restarts')
  t.match(await again.appendMessage(id, draft('two')), { created: true, message: { seq: 2 } }, 'seq goes on')
})

t.test('two connections to one file share one seq', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const a = await open(t, filename)
  const b = await open(t, filename)
  const id = newId()
  await a.createConversation(conversation(id), [participant])
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) =>
    (i % 2 === 0 ? a : b).appendMessage(id, draft(`m${i}`, i % 10 === 0 ? 'same' : undefined))))
  const created = results.filter((r) => r.created).map((r) => r.message.seq).sort((x, y) => x - y)
  t.strictSame(created, Array.from({ length: 91 }, (_, i) => i + 1), 'no gap, no repeat, one "same" stored')
  t.match(await b.getConversation(id), { lastSeq: 91 })
})

t.test('appends called together (group commit) get seqs in call order, repeats inside the batch stored once', async (t) => {
  const storage = await open(t, join(t.testdir(), 'chat.db'))
  const id = newId()
  await storage.createConversation(conversation(id), [participant])
  // Every tenth repeats the client id of the one before it: a repeat in the same transaction as its first.
  const results = await Promise.all(Array.from({ length: 300 }, (_, i) =>
    storage.appendMessage(id, draft(`m${i}`, `c${i % 10 === 9 ? i - 1 : i}`))))
  let seq = 0
  for (const [i, r] of results.entries()) {
    if (i % 10 === 9) {
      t.match(r, { created: false, message: { content: `m${i - 1}`, seq } }, `m${i} is a repeat of m${i - 1}`)
      continue
    }
    seq++
    if (!r.created || r.message.seq !== seq || r.message.content !== `m${i}`) t.fail(`m${i}: created with seq ${seq}`, { got: r })
  }
  t.equal(seq, 270)
  const stored = await storage.getMessages(id, { after: 0, limit: 500 })
  t.strictSame(stored.map((m) => m.seq), Array.from({ length: 270 }, (_, i) => i + 1), 'stored 1..270, no gap')
  t.strictSame(stored.map((m) => m.content), results.filter((r) => r.created).map((r) => r.message.content), 'in call order')
})

t.test('an append that fails inside a batch fails alone: the others of its batch are stored, in order', async (t) => {
  const storage = await open(t, join(t.testdir(), 'chat.db'))
  const kept = newId()
  const gone = newId()
  await storage.createConversation(conversation(kept), [participant])
  await storage.createConversation(conversation(gone), [participant])
  await storage.deleteConversation(gone)
  const calls = Array.from({ length: 20 }, (_, i) => storage.appendMessage(i === 7 ? gone : kept, draft(`m${i}`, `c${i}`)))
  const settled = await Promise.allSettled(calls)
  t.match(settled[7], { status: 'rejected', reason: { code: 'CHAT_ERR_NOT_FOUND' } }, 'the one into a deleted conversation fails')
  const stored = settled.filter((r, i) => i !== 7).map((r) => r.status === 'fulfilled' ? r.value.message.seq : undefined)
  t.strictSame(stored, Array.from({ length: 19 }, (_, i) => i + 1), 'every other one stored, seqs in call order')
  t.match(await storage.getConversation(kept), { lastSeq: 19 })
})

t.test('processes appending to one file at once get 1..n with no gap', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const storage = await open(t, filename)
  const id = newId()
  await storage.createConversation(conversation(id), [participant])

  // Each child opens its own connection, says 'ready', and appends when all have: the appends overlap.
  const child = (n: number) => `
    const { createSqliteStorage } = await import(${JSON.stringify(new URL('../../lib/storage/sqlite.ts', import.meta.url).href)})
    const storage = createSqliteStorage({ filename: ${JSON.stringify(filename)} })
    await storage.init()
    process.once('message', async () => {
      const sender = { id: 'p${n}', name: 'P', type: 'human' }
      const seqs = []
      for (let i = 0; i < 100; i++) {
        const draft = { id: 'p${n}-' + i, kind: 'text', sender, content: 'x', createdAt: new Date().toISOString(), clientMessageId: 'c' + i }
        seqs.push((await storage.appendMessage(${JSON.stringify(id)}, draft)).message.seq)
      }
      await storage.close()
      process.send(seqs, () => process.disconnect())
    })
    process.send('ready')`
  const seqs = await raceInChildren(t, child)

  t.strictSame(seqs, Array.from({ length: 400 }, (_, i) => i + 1))
  t.match(await storage.getConversation(id), { lastSeq: 400 })
})

/** The index's tokens of every message (by rowid), sorted, from the index itself. */
function indexedTokens (raw: Database.Database): Record<number, string[]> {
  const out: Record<number, string[]> = {}
  for (const { doc, term } of raw.prepare<[], { doc: number, term: string }>('SELECT doc, term FROM messages_search_hits').all()) (out[doc] ??= []).push(term)
  for (const terms of Object.values(out)) terms.sort()
  return out
}

/** What the index should hold for every message: the tokens of its words, sorted. */
function expectedTokens (raw: Database.Database): Record<number, string[]> {
  const out: Record<number, string[]> = {}
  const rows = raw.prepare<[], { rowid: number, conversation_id: string, content: string }>('SELECT rowid, conversation_id, content FROM messages').all()
  for (const row of rows) {
    const tokens = searchTokens(row.conversation_id, row.content)
    if (tokens !== '') out[row.rowid] = tokens.split(' ').sort()
  }
  return out
}

t.test('a database file from before search gets the index on open, filled with the messages already there', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const id = newId()
  const first = createSqliteStorage({ filename })
  await first.init()
  await first.createConversation(conversation(id), [participant])
  await first.appendMessage(id, draft('an old message about lighthouses'))
  await first.appendMessage(id, draft('another one, about harbours'))
  await first.close()
  // The file as a version without search left it: the same tables, no index, no triggers.
  const raw = new Database(filename)
  raw.exec(`DROP TRIGGER messages_search_insert; DROP TRIGGER messages_search_delete; DROP TRIGGER messages_search_update;
    DROP TABLE messages_search_hits; DROP TABLE messages_search; DROP TABLE messages_search_pending`)
  raw.prepare('INSERT INTO messages (conversation_id, seq, id, kind, sender_id, sender, content, created_at) VALUES (?, 3, ?, \'text\', \'alice\', ?, ?, ?)')
    .run(id, newId(), JSON.stringify({ id: 'alice', name: 'Alice', type: 'human' }), 'lighthouses written by the old version', '2020-01-01T00:00:03.000Z')
  raw.prepare('UPDATE conversations SET last_seq = 3 WHERE id = ?').run(id)
  raw.close()

  // Two processes' worth of connections opening it at once: one fills the index, the other finds it done.
  const [a, b] = await Promise.all([open(t, filename), open(t, filename)])
  const seqs = async (storage: ChatStorage, q: string) =>
    (await storage.searchMessages?.(id, { q, limit: 10 }))?.items.map((m) => m.seq).sort((x, y) => x - y)
  t.strictSame(await seqs(a, 'lighthouses'), [1, 3], 'old messages are found, each once')
  await b.appendMessage(id, draft('lighthouses again'))
  t.strictSame(await seqs(a, 'lighthouses'), [1, 3, 4], 'new ones too')
  await a.close()
  const again = await open(t, filename)
  t.strictSame(await seqs(again, 'harbours'), [2], 'a later open leaves the index as it is')
})

t.test('a database file with the earlier search index (bm25, SQLite\'s case folding) gets the new one on open', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const [id, other] = [newId(), newId()]
  const first = createSqliteStorage({ filename })
  await first.init()
  for (const c of [id, other]) await first.createConversation(conversation(c), [participant])
  await first.appendMessage(id, draft('İSTANBUL, see example.com'))
  await first.appendMessage(other, draft('istanbul elsewhere'))
  await first.close()
  // The file as the earlier version left it: its index, notes and triggers, filled; none of the new ones.
  const raw = new Database(filename)
  raw.exec(`DROP TRIGGER messages_search_insert; DROP TRIGGER messages_search_delete; DROP TRIGGER messages_search_update;
    DROP TABLE messages_search_hits; DROP TABLE messages_search; DROP TABLE messages_search_pending;
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
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages WHEN old.content IS NOT new.content BEGIN
      INSERT INTO messages_fts (messages_fts, rowid, content) SELECT 'delete', old.rowid, old.content
        WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE id = old.rowid);
      INSERT OR IGNORE INTO messages_fts_pending (id) VALUES (new.rowid);
    END;
    INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');`)
  raw.close()

  const storage = await open(t, filename)
  const seqs = async (c: string, q: string) => (await storage.searchMessages?.(c, { q, limit: 10 }))?.items.map((m) => m.seq)
  t.strictSame(await seqs(id, 'İstanbul'), [1], 'words as JavaScript folds them')
  t.strictSame(await seqs(id, 'istanbul'), [], 'istanbul is another word')
  t.strictSame(await seqs(id, 'example'), [1])
  t.strictSame(await seqs(other, 'istanbul'), [1], 'every conversation is indexed')
  await storage.appendMessage(id, draft('example two'))
  t.strictSame(await seqs(id, 'example'), [2, 1], 'new messages too')
  const check = new Database(filename, { readonly: true })
  t.teardown(() => check.close())
  t.strictSame(check.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'messages_fts%'").all(), [], 'the earlier index is gone')
  t.strictSame(indexedTokens(check), expectedTokens(check), 'the index holds the words of every message')
})

t.test('VACUUM keeps the rows the search index points at', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const storage = await open(t, filename)
  const ids = [newId(), newId()]
  for (const id of ids) await storage.createConversation(conversation(id), [participant])
  for (let i = 0; i < 50; i++) await storage.appendMessage(ids[i % 2], draft(`note ${i} ${i % 5 === 0 ? 'pelican' : 'gull'}`))
  await storage.deleteConversation(ids[0]) // holes in the rowids
  const before = await storage.searchMessages?.(ids[1], { q: 'pelican gull', limit: 100 })
  const raw = new Database(filename)
  raw.exec('VACUUM')
  t.equal(raw.prepare("INSERT INTO messages_search (messages_search, rank) VALUES ('integrity-check', 1)").run().changes, 1, 'the index is sound')
  t.strictSame(indexedTokens(raw), expectedTokens(raw), 'the index matches the table')
  raw.close()
  t.strictSame(await storage.searchMessages?.(ids[1], { q: 'pelican gull', limit: 100 }), before)
})

/**
 * A backlog of 3 slices and a bit, appended at once, then the timer's indexing watched from another connection
 * on every turn of the event loop until no note is left: the drops between two turns, and what searches find.
 */
async function watchBacklog (t: Test, searchIndexTurnMs: number): Promise<{ seen: number[], steps: number[] }> {
  const filename = join(t.testdir(), 'chat.db')
  const storage = await opened(t, createSqliteStorage({ filename, searchIndexDelayMs: 1, searchIndexTurnMs }))
  const id = newId()
  await storage.createConversation(conversation(id), [participant])
  const total = 3 * INDEX_SLICE + 10
  await Promise.all(Array.from({ length: total }, async (_, i) => await storage.appendMessage(id, draft(`note ${i} about harbour${i}`))))
  const raw = new Database(filename, { readonly: true })
  t.teardown(() => raw.close())
  const notes = raw.prepare<[], number>('SELECT count(*) FROM messages_search_pending').pluck()
  const seen: number[] = [notes.get() as number]
  while (seen[seen.length - 1] > 0) {
    await new Promise((resolve) => setImmediate(resolve))
    const now = notes.get() as number
    if (now !== seen[seen.length - 1]) seen.push(now)
  }
  t.ok(seen[0] >= total - INDEX_SLICE, `the notes were there to index (${seen.join(' → ')})`)
  const found = async (q: string): Promise<string[] | undefined> => (await storage.searchMessages?.(id, { q, limit: 2 }))?.items.map((m) => m.content)
  t.strictSame(await found('harbour0'), ['note 0 about harbour0'], 'the first message is found')
  t.strictSame(await found(`harbour${total - 1}`), [`note ${total - 1} about harbour${total - 1}`], 'and the last')
  return { seen, steps: seen.slice(1).map((n, i) => seen[i] - n) }
}

t.test('a backlog is indexed a slice at a time, the event loop running between two turns', async (t) => {
  const { steps } = await watchBacklog(t, 0) // no time for a second slice in a turn
  t.ok(steps.length >= 3, 'in several turns')
  t.ok(steps.every((d) => d > 0 && d <= INDEX_SLICE), `each of at most ${INDEX_SLICE} messages: ${steps.join(', ')}`)
})

t.test('a turn takes as many slices as fit in its time', async (t) => {
  const { seen } = await watchBacklog(t, 60_000)
  t.equal(seen.length, 2, 'the whole backlog in one turn')
})

t.test('a search indexes the whole backlog first, however long', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const storage = await opened(t, createSqliteStorage({ filename, searchIndexDelayMs: 3_600_000 }))
  const id = newId()
  await storage.createConversation(conversation(id), [participant])
  const total = 2 * INDEX_SLICE + 1
  for (let i = 0; i < total; i++) await storage.appendMessage(id, draft(`lighthouse ${i}`))
  const page = await storage.searchMessages?.(id, { q: 'lighthouse', limit: total })
  t.equal(page?.items.length, total, 'every message stored before the search is found')
})

t.test('the search index stays true to the messages through updates and deletes, indexed or still pending', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  // Only searches index here (no timer within the test), so what is pending is known at each step.
  const storage = await opened(t, createSqliteStorage({ filename, searchIndexDelayMs: 3_600_000 }))
  const [kept, gone] = [newId(), newId()]
  for (const id of [kept, gone]) await storage.createConversation(conversation(id), [participant])
  const indexed = (await storage.appendMessage(kept, draft('first draft of the plan'))).message
  await storage.appendMessage(gone, draft('plan to be deleted, indexed'))
  t.equal((await storage.searchMessages?.(kept, { q: 'plan', limit: 10 }))?.items.length, 1, 'a search indexes what is pending')
  const pending = (await storage.appendMessage(kept, draft('')).then((r) => r.message))
  await storage.appendMessage(gone, draft('plan to be deleted, pending'))
  await storage.updateMessage(kept, indexed.id, { content: 'final version of the itinerary' })
  await storage.updateMessage(kept, pending.id, { content: 'answer: the plan is fine' })
  await storage.updateMessage(kept, pending.id, { status: 'complete' })
  await storage.deleteConversation(gone)

  const raw = new Database(filename)
  t.teardown(() => raw.close())
  const integrity = raw.prepare("INSERT INTO messages_search (messages_search, rank) VALUES ('integrity-check', 1)")
  const notes = raw.prepare('SELECT count(*) FROM messages_search_pending').pluck()
  t.equal(notes.get(), 2, 'the updated rows are noted, the deleted one no longer')
  const seqs = async (q: string) => (await storage.searchMessages?.(kept, { q, limit: 10 }))?.items.map((m) => m.seq)
  t.strictSame(await seqs('plan'), [pending.seq], 'the old content is out of the index, the new one in')
  t.strictSame(await seqs('itinerary'), [indexed.seq])
  t.equal(notes.get(), 0, 'the search indexed the notes')
  t.equal(integrity.run().changes, 1, 'the index is sound')
  t.strictSame(indexedTokens(raw), expectedTokens(raw), 'with nothing pending, the index holds the words of every message')
})
