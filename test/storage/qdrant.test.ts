import { QdrantClient } from '@qdrant/js-client-rest'
import t, { type Test } from 'tap'
import { newId } from '../../lib/ids.ts'
import { storageContract } from '../../lib/storage/contract.ts'
import { createHashedEmbedder } from '../../lib/storage/embedding.ts'
import { createMemoryStorage } from '../../lib/storage/memory.ts'
import { createQdrantStorage, pointId, type QdrantStorage, type QdrantStorageOptions } from '../../lib/storage/qdrant.ts'
import { startQdrantMock } from '../helpers/qdrant-mock.ts'
import { conversation, draft, participant } from '../helpers/storage.ts'

const embed = createHashedEmbedder()

/** Where the tests run: the URL, and how many points a conversation has there. */
interface Target {
  url: string
  apiKey?: string
  collection: string
  countPoints (conversationId: string): Promise<number>
}

function storage (target: Target, over: Partial<QdrantStorageOptions> = {}): QdrantStorage {
  return createQdrantStorage({ url: target.url, apiKey: target.apiKey, collection: target.collection, embed, base: createMemoryStorage(), ...over })
}

async function opened (t: Test, s: QdrantStorage): Promise<QdrantStorage> {
  await s.init()
  t.teardown(() => s.close())
  return s
}

async function seeded (s: QdrantStorage, contents: string[]): Promise<{ id: string, seqs: Map<string, number> }> {
  const id = newId()
  await s.createConversation(conversation(id), [participant])
  const seqs = new Map<string, number>()
  for (const c of contents) seqs.set(c, (await s.appendMessage(id, draft(c))).message.seq)
  return { id, seqs }
}

const topics = [
  'the weather in Paris is sunny today',
  'my cat likes tuna fish for dinner',
  'deploy the kubernetes cluster tonight after the release',
  'quarterly budget spreadsheet needs review',
  'guitar lessons on thursday evening',
  'the train to Berlin leaves at noon',
  'bake sourdough bread with a starter'
]

/** The search behaviour, the same against the mock and a real server. */
function searchTests (t: Test, target: () => Target): void {
  t.test('search ranks the message about the query first and returns it as base stores it', async (t) => {
    const s = await opened(t, storage(target()))
    const { id, seqs } = await seeded(s, topics)
    const page = await s.searchMessages(id, { q: 'kubernetes cluster deploy', limit: 3 })
    t.equal(page.items[0].seq, seqs.get(topics[2]))
    t.strictSame(page.items[0], (await s.getMessages(id, { after: page.items[0].seq - 1, limit: 1 }))[0], 'the stored message')
    t.equal((await s.searchMessages(id, { q: 'Sourdough BREAD?', limit: 1 })).items[0].content, topics[6], 'case and punctuation do not matter')
    t.equal((await s.searchMessages(id, { q: 'train AND "Berlin" OR *', limit: 1 })).items[0].content, topics[5], 'operators are words')
  })

  t.test('search never returns another conversation\'s messages', async (t) => {
    const s = await opened(t, storage(target()))
    const mine = await seeded(s, ['lunch at noon', 'the kubernetes meeting moved'])
    const theirs = await seeded(s, ['kubernetes cluster secrets', 'kubernetes cluster deploy'])
    const page = await s.searchMessages(mine.id, { q: 'kubernetes cluster deploy', limit: 10 })
    t.strictSame(page.items.map((m) => [m.conversationId, m.content]), [[mine.id, 'the kubernetes meeting moved']], 'only this conversation')
    t.equal((await s.searchMessages(theirs.id, { q: 'kubernetes cluster deploy', limit: 1 })).items[0].content, 'kubernetes cluster deploy')
    t.strictSame(await s.searchMessages(newId(), { q: 'lunch', limit: 5 }), { items: [], nextCursor: null }, 'unknown conversation: nothing')
  })

  t.test('search pages with no repeat and no miss, in the order of one big page', async (t) => {
    const s = await opened(t, storage(target()))
    const { id } = await seeded(s, topics)
    const q = 'the train is my cat for the guitar'
    const whole = (await s.searchMessages(id, { q, limit: 50 }))
    t.equal(whole.items.length, 5, 'the messages with any of the words')
    t.equal(whole.nextCursor, null)
    const seen: number[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await s.searchMessages(id, { q, limit: 2, cursor })
      seen.push(...page.items.map((m) => m.seq))
      cursor = page.nextCursor ?? undefined
      pages++
    } while (cursor !== undefined && pages < 10)
    t.equal(pages, 3, '2 + 2 + 1')
    t.strictSame(seen, whole.items.map((m) => m.seq))
    await t.rejects(s.searchMessages(id, { q: 'x', limit: 3, cursor: 'not a cursor' }), { code: 'CHAT_ERR_BAD_REQUEST' })
  })

  t.test('an AI answer is found by the content it ends with', async (t) => {
    const s = await opened(t, storage(target()))
    const { id } = await seeded(s, ['what should we cook tonight?'])
    const ai = { id: 'ai', name: 'AI', type: 'ai' } as const
    const { message } = await s.appendMessage(id, { ...draft(''), sender: ai, kind: 'ai', status: 'streaming' })
    await s.searchMessages(id, { q: 'cook', limit: 1 }) // the writes in flight have landed
    t.equal(await target().countPoints(id), 1, 'the streaming placeholder is not indexed')
    await s.updateMessage(id, message.id, { content: 'a mushroom risotto with parmesan', status: 'complete' })
    const [first] = (await s.searchMessages(id, { q: 'risotto', limit: 1 })).items
    t.match(first, { id: message.id, content: 'a mushroom risotto with parmesan', status: 'complete' })
    t.equal(await target().countPoints(id), 2)
  })

  t.test('a deleted conversation\'s points are gone, the others\' stay', async (t) => {
    const s = await opened(t, storage(target()))
    const gone = await seeded(s, topics.slice(0, 3))
    const kept = await seeded(s, topics.slice(3))
    await s.searchMessages(gone.id, { q: 'cat', limit: 1 }) // the writes in flight have landed
    t.equal(await target().countPoints(gone.id), 3)
    t.equal(await s.deleteConversation(gone.id), true)
    t.equal(await target().countPoints(gone.id), 0)
    t.equal(await target().countPoints(kept.id), 4)
    t.strictSame(await s.searchMessages(gone.id, { q: 'cat', limit: 5 }), { items: [], nextCursor: null })
  })
}

t.test('against the in-process Qdrant mock', async (t) => {
  const mock = await startQdrantMock()
  t.teardown(() => mock.close())
  const collection = 'chat'
  const target = (): Target => ({
    url: mock.url,
    collection,
    countPoints: async (id) => [...mock.points(collection).values()].filter((p) => p.payload.conversationId === id).length
  })

  t.test('contract', async (t) => {
    storageContract(t, async () => storage(target()))
  })
  searchTests(t, target)

  t.test('a message is one point: id from the message id, payload of its fields, vector of its content', async (t) => {
    const s = await opened(t, storage(target()))
    const { id } = await seeded(s, ['hello there'])
    await s.searchMessages(id, { q: 'hello', limit: 1 })
    const [message] = await s.getMessages(id, { limit: 1 })
    t.equal(pointId(message.id), pointId(message.id), 'deterministic')
    t.match(pointId(message.id), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    const point = mock.points(collection).get(pointId(message.id))
    t.strictSame(point?.payload, { conversationId: id, seq: 1, senderId: 'alice', content: 'hello there', createdAt: message.createdAt })
    t.strictSame(point?.vector, (await embed(['hello there']))[0])
    const repeat = await s.appendMessage(id, { ...draft('hello there', 'c1') })
    await s.appendMessage(id, { ...draft('hello there', 'c1') })
    await s.appendMessage(id, { ...draft('   ') })
    await s.searchMessages(id, { q: 'hello', limit: 1 })
    t.ok(mock.points(collection).has(pointId(repeat.message.id)))
    t.equal(await target().countPoints(id), 2, 'a repeated clientMessageId and blank content add no point')
  })

  t.test('while Qdrant fails, messages are stored and acked, search is UNAVAILABLE, and the index catches up', async (t) => {
    const errors: unknown[] = []
    const s = await opened(t, storage(target(), { retryMs: 60_000, onIndexError: (err) => errors.push(err) }))
    const { id } = await seeded(s, ['before the outage'])
    await s.searchMessages(id, { q: 'outage', limit: 1 }) // the writes in flight have landed
    mock.failing = true
    t.teardown(() => { mock.failing = false })
    const during = await s.appendMessage(id, draft('written during the outage'))
    t.match(during, { created: true, message: { seq: 2 } }, 'acked with its seq')
    t.equal((await s.getMessages(id, { limit: 10 })).length, 2, 'stored in base')
    await t.rejects(s.searchMessages(id, { q: 'outage', limit: 5 }), { code: 'CHAT_ERR_UNAVAILABLE', statusCode: 503, retryAfterMs: 60_000 })
    t.equal(errors.length, 1, 'the failed write was reported')
    const requests = mock.requests
    const next = await s.appendMessage(id, draft('also during the outage'))
    await t.rejects(s.searchMessages(id, { q: 'outage', limit: 5 }), { code: 'CHAT_ERR_UNAVAILABLE' })
    t.equal(mock.requests, requests + 1, 'for retryMs after a failure, writes are set aside untried (only the search went)')
    const tried = mock.requests
    t.equal(await s.flushIndex(), 2, 'still failing: still waiting')
    t.equal(mock.requests, tried + 1, 'one write tried the water, the other waited')
    mock.failing = false
    t.equal(await s.flushIndex(), 0, 'retried')
    t.equal((await s.searchMessages(id, { q: 'written during the outage', limit: 1 })).items[0].id, during.message.id)
    t.equal((await s.searchMessages(id, { q: 'also', limit: 1 })).items[0].id, next.message.id)
    t.equal(await target().countPoints(id), 3)
  })

  t.test('the retry queue is bounded: what it dropped is indexed again when the message is updated', async (t) => {
    const s = await opened(t, storage(target(), { retryMs: 60_000, maxPending: 2 }))
    const { id } = await seeded(s, [])
    mock.failing = true
    t.teardown(() => { mock.failing = false })
    const sent = []
    for (const c of ['one apple', 'two pears', 'three plums']) sent.push((await s.appendMessage(id, draft(c))).message)
    await t.rejects(s.searchMessages(id, { q: 'x', limit: 1 }), { code: 'CHAT_ERR_UNAVAILABLE' }) // waits for the writes
    mock.failing = false
    t.equal(await s.flushIndex(), 0)
    t.equal(await target().countPoints(id), 2, 'the oldest write was dropped')
    t.notOk(mock.points(collection).has(pointId(sent[0].id)))
    await s.updateMessage(id, sent[0].id, { metadata: { edited: true } })
    await s.searchMessages(id, { q: 'x', limit: 1 })
    t.ok(mock.points(collection).has(pointId(sent[0].id)), 'back after an update')
  })

  t.test('an older index write retried late never undoes a newer one of the same message', async (t) => {
    // The order of a race: an older write X retried (held in the embedder), an update B of message M queued
    // behind it, then M's first write A, waiting since an outage, retried behind B. B either fails (and waits
    // for a retry) or lands; either way the index must end with B's content, never A's.
    for (const newerFails of [true, false]) {
      let release = (): void => {}
      const held = new Promise<void>((resolve) => { release = resolve })
      let holding = false
      let failNewer = newerFails
      const gated = Object.assign(async (texts: string[]) => {
        if (texts[0] === 'xylophone solo' && holding) await held
        if (texts[0] === 'the second version' && failNewer) {
          failNewer = false
          throw new Error('the embedder failed once')
        }
        return await embed(texts)
      }, { dimensions: embed.dimensions })
      const s = await opened(t, storage(target(), { retryMs: 60_000, embed: gated }))
      const { id } = await seeded(s, [])
      mock.failing = true
      await s.appendMessage(id, draft('xylophone solo'))
      const { message } = await s.appendMessage(id, draft('the first version'))
      await t.rejects(s.searchMessages(id, { q: 'x', limit: 1 }), { code: 'CHAT_ERR_UNAVAILABLE' }) // both writes wait
      mock.failing = false

      holding = true
      const first = s.flushIndex() // retries X, held
      await s.updateMessage(id, message.id, { content: 'the second version' }) // B, queued behind X
      const second = s.flushIndex() // A, if still waiting, goes behind B
      release()
      await Promise.all([first, second])
      await s.searchMessages(id, { q: 'version', limit: 1 }) // the writes in flight have landed
      t.equal(await s.flushIndex(), 0, `newer write ${newerFails ? 'failed once' : 'landed'}: nothing waits once retried`)
      t.equal(mock.points(collection).get(pointId(message.id))?.payload.content, 'the second version', 'the newest content is indexed')
    }
  })

  t.test('failed answers swept by failStaleAnswers are indexed with the content they kept', async (t) => {
    const s = await opened(t, storage(target()))
    const { id } = await seeded(s, [])
    const ai = { id: 'ai', name: 'AI', type: 'ai' } as const
    const { message } = await s.appendMessage(id, { ...draft('half an answer about volcanoes'), sender: ai, kind: 'ai', status: 'streaming' })
    t.strictSame((await s.searchMessages(id, { q: 'volcanoes', limit: 1 })).items, [], 'not indexed while streaming')
    t.equal((await s.failStaleAnswers('2030-01-01T00:00:00.000Z', 10)).length, 1)
    t.match((await s.searchMessages(id, { q: 'volcanoes', limit: 1 })).items, [{ id: message.id, status: 'failed' }])
  })

  t.test('init makes the collection once and refuses one of another vector size', async (t) => {
    const other = `c${newId()}`
    const made = () => [mock.calls.get('PUT /collections/:c') ?? 0, mock.calls.get('PUT /collections/:c/index') ?? 0]
    const before = made()
    const a = await opened(t, storage({ ...target(), collection: other }))
    await opened(t, storage({ ...target(), collection: other }))
    t.strictSame(made(), [before[0] + 1, before[1] + 3], 'created once, with its payload indexes')
    t.equal(mock.points(other).size, 0)
    const small = createHashedEmbedder({ dimensions: 64 })
    await t.rejects(createQdrantStorage({ url: mock.url, collection: other, embed: small, base: createMemoryStorage() }).init(),
      { code: 'CHAT_ERR_INVALID_OPTS', message: /size 512.*gives 64/ })
    t.equal(a.name, 'qdrant')
  })

  t.test('search before init is UNAVAILABLE, not a crash', async (t) => {
    const s = storage(target())
    const { id } = await seeded(s, ['x marks the spot'])
    await t.rejects(s.searchMessages(id, { q: 'x', limit: 1 }), { code: 'CHAT_ERR_UNAVAILABLE' })
  })
})

const url = process.env.QDRANT_URL
t.test('against a real Qdrant at QDRANT_URL', { skip: url === undefined ? 'QDRANT_URL is not set: no Qdrant server to test against' : false }, async (t) => {
  const apiKey = process.env.QDRANT_API_KEY
  const collection = `chat_test_${newId()}`
  const client = new QdrantClient({ url, apiKey, checkCompatibility: false })
  t.teardown(async () => { await client.deleteCollection(collection) })
  const target = (): Target => ({
    url: url as string,
    apiKey,
    collection,
    countPoints: async (id) => (await client.count(collection, { exact: true, filter: { must: [{ key: 'conversationId', match: { value: id } }] } })).count
  })
  t.test('contract', async (t) => {
    storageContract(t, async () => storage(target()))
  })
  searchTests(t, target)
})
