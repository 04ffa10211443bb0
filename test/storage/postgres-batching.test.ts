import pg from 'pg'
import t, { type Test } from 'tap'
import { newId } from '../../lib/ids.ts'
import { createPostgresStorage } from '../../lib/storage/postgres.ts'
import type { AppendResult, ChatStorage, MessageDraft } from '../../lib/storage/types.ts'
import { pgSchemas, url } from '../helpers/postgres.ts'
import { conversation, draft, opened, participant } from '../helpers/storage.ts'

/**
 * The PostgreSQL append queue's batches (lib/storage/postgres-append-queue.ts): appends waiting behind a
 * statement in flight go together, for one conversation or several, in one statement that looks nothing up;
 * a repeat or a refused message sends them through the statements that do. Same server and schema rules as
 * postgres.test.ts.
 */
const { freshSchema } = pgSchemas(t)

/** A pool that counts the statements run through it, by name (the part after the schema's prefix). */
function countingPool (t: Test) {
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  t.teardown(() => pool.end())
  const counts = new Map<string, number>()
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>
  const counted = {
    counts,
    connect: pool.connect.bind(pool),
    query: async (...args: unknown[]) => {
      const name = (args[0] as { name?: string }).name?.replace(/^nlweb_chat_[0-9a-f]+_/, '')
      if (name !== undefined) counts.set(name, (counts.get(name) ?? 0) + 1)
      return await query(...args)
    }
  }
  return counted
}

async function conversations (storage: ChatStorage, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, () => newId())
  for (const id of ids) await storage.createConversation(conversation(id), [participant])
  return ids
}

const from = (sender: string, content: string, clientMessageId?: string): MessageDraft =>
  ({ ...draft(content, clientMessageId), sender: { id: sender, name: sender, type: 'human' } })

const seqsOf = (results: AppendResult[], id: string): number[] =>
  results.filter((r) => r.created && r.message.conversationId === id).map((r) => r.message.seq).sort((a, b) => a - b)

const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1)

t.test('appends to several conversations waiting at once go in one statement: each conversation 1..n, in call order', async (t) => {
  const pool = countingPool(t)
  const storage = await opened(t, createPostgresStorage({ pool, schema: freshSchema() }))
  const ids = await conversations(storage, 5)
  const calls = Array.from({ length: 50 }, (_, i) => ({ id: ids[i % 5], d: draft(`m${i}`, `c${i}`) }))
  const results = await Promise.all(calls.map(async (c) => await storage.appendMessage(c.id, c.d)))

  t.ok((pool.counts.get('appendFreshMany') ?? 0) >= 1, 'some statement stored appends of several conversations')
  for (const id of ids) {
    const mine = results.filter((r) => r.message.conversationId === id)
    t.strictSame(mine.map((r) => r.message.seq), upTo(10), `${id}: 1..10 in call order`)
    t.match(await storage.getConversation(id), { lastSeq: 10 })
    t.strictSame((await storage.getMessages(id, { limit: 100 })).map((m) => m.content),
      calls.filter((c) => c.id === id).map((c) => c.d.content), 'stored as answered')
  }
})

t.test('two instances appending at once into one conversation and into many: no gap, each client id stored once', async (t) => {
  const schema = freshSchema()
  const a = await opened(t, createPostgresStorage({ connectionString: url, schema }))
  const b = await opened(t, createPostgresStorage({ connectionString: url, schema }))
  const ids = await conversations(a, 8)
  // Both instances send the same 400 drafts (same senders, same client ids) at once: every conversation is
  // in both instances' batches, overlapping in any order, and every client id races its twin.
  const calls = Array.from({ length: 400 }, (_, i) => ({ id: ids[i % 3 === 0 ? 0 : i % 8], d: from(`u${i % 7}`, `m${i}`, `c${i}`) }))
  const [fromA, fromB] = await Promise.all([a, b].map(async (s) => await Promise.all(calls.map(async (c) => await s.appendMessage(c.id, c.d)))))

  for (let i = 0; i < calls.length; i++) {
    if (Number(fromA[i].created) + Number(fromB[i].created) !== 1) t.fail(`c${i} created ${Number(fromA[i].created) + Number(fromB[i].created)} times`)
    if (fromA[i].message.seq !== fromB[i].message.seq || fromA[i].message.id !== fromB[i].message.id) t.fail(`c${i} differs between the instances`)
  }
  const created = [...fromA, ...fromB]
  for (const id of ids) {
    const n = calls.filter((c) => c.id === id).length
    t.strictSame(seqsOf(created, id), upTo(n), `${id}: 1..${n}, no gap, no repeat`)
    t.match(await a.getConversation(id), { lastSeq: n })
    t.equal((await a.getMessages(id, { limit: 1000 })).length, n, 'nothing stored twice')
  }
})

t.test('a batch with a repeat of a stored client id, a repeat inside it and an AI placeholder: every answer right, no gap', async (t) => {
  const storage = await opened(t, createPostgresStorage({ connectionString: url, schema: freshSchema() }))
  const [id, other] = await conversations(storage, 2)
  const stored = await storage.appendMessage(id, draft('stored before', 'old'))

  const question = draft('question?', 'q')
  const withReply = storage.appendMessage(id, question, (m) => ({
    id: newId(), kind: 'ai', sender: { id: 'ai', name: 'AI', type: 'ai' }, content: '', status: 'streaming', replyTo: m.seq, createdAt: m.createdAt
  }))
  // Sent at the same time: those waiting behind a statement in flight go together (with `other`'s, too).
  const calls = [
    { id, d: draft('a', 'x') }, { id, d: draft('again', 'old') }, { id, d: draft('x twice', 'x') },
    { id: other, d: draft('elsewhere', 'old') }, { id, d: draft('b') }, { id: other, d: draft('elsewhere 2') }
  ]
  const results = await Promise.all(calls.map(async (c) => await storage.appendMessage(c.id, c.d)))
  const asked = await withReply

  t.match(asked, { created: true, reply: { kind: 'ai', status: 'streaming', seq: asked.message.seq + 1, replyTo: asked.message.seq } },
    'the placeholder took the seq right after its question')
  t.match(results[1], { created: false, message: { id: stored.message.id, seq: 1, content: 'stored before' } }, 'a repeat of a stored message')
  t.match(results[2], { created: false, message: { id: results[0].message.id, seq: results[0].message.seq, content: 'a' } }, 'a repeat inside the batch')
  t.ok(results[3].created, 'the same client id in another conversation is not a repeat')
  const all = [stored, asked, { ...asked, message: asked.reply as AppendResult['message'] }, ...results]
  t.strictSame(seqsOf(all, id), upTo(5), 'no gap where the repeat was')
  t.strictSame(seqsOf(all, other), upTo(2))
  t.strictSame((await storage.getMessages(id, { limit: 100 })).map((m) => m.seq), upTo(5), 'stored as answered')
})

t.test('a batch over several conversations with a missing one and a message the database refuses: the others are stored', async (t) => {
  const pool = countingPool(t)
  const storage = await opened(t, createPostgresStorage({ pool, schema: freshSchema() }))
  const [a, b] = await conversations(storage, 2)
  const missing = newId()
  const calls = [
    { id: a, d: draft('first') }, { id: b, d: draft('first') },
    { id: a, d: draft('a1') }, { id: missing, d: draft('lost') }, { id: b, d: draft('b1') }, { id: a, d: draft('bad \u0000') }, { id: a, d: draft('a2') }
  ]
  const results = await Promise.allSettled(calls.map(async (c) => await storage.appendMessage(c.id, c.d)))
  const seq = (i: number) => (results[i] as PromiseFulfilledResult<AppendResult>).value.message.seq

  t.match(results[3], { status: 'rejected', reason: { code: 'CHAT_ERR_NOT_FOUND' } }, 'the missing conversation')
  t.match(results[5], { status: 'rejected', reason: { code: 'CHAT_ERR_BAD_REQUEST' } }, 'the refused message alone')
  t.strictSame([0, 2, 6].map(seq), [1, 2, 3], 'a: stored in call order, no gap')
  t.strictSame([1, 4].map(seq), [1, 2], 'b too')
  t.match(await storage.getConversation(a), { lastSeq: 3 })
  t.match(await storage.getConversation(b), { lastSeq: 2 })
  t.ok((pool.counts.get('appendFreshMany') ?? 0) >= 1, 'they were sent together first')
})
