import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ChatRest, type FetchLike } from '../../lib/client/rest.ts'
import type { ChatOptions } from '../../lib/index.ts'
import { createMemoryStorage } from '../../lib/storage/memory.ts'
import type { ChatStorage } from '../../lib/storage/types.ts'
import { createConversation, startApp, type TestApp } from '../helpers/app.ts'

/** GET /chat/conversations/:id/messages?q=: history search over HTTP, on every storage that has one. */

async function get (ta: TestApp, user: string, conversationId: string, query: Record<string, string | number>) {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString()
  return await ta.request('GET', `/chat/conversations/${conversationId}/messages?${qs}`, { token: await ta.token(user) })
}

async function post (ta: TestApp, user: string, conversationId: string, content: string, n: number) {
  const res = await ta.request('POST', `/chat/conversations/${conversationId}/messages`, {
    token: await ta.token(user),
    body: { clientMessageId: `c${n}`, content }
  })
  if (res.status !== 201) throw new Error(`POST message: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

const storages: Array<[string, (t: Test) => Partial<ChatOptions>]> = [
  ['memory', () => ({ storage: 'memory' })],
  ['sqlite', (t) => ({ storage: { type: 'sqlite', filename: join(t.testdir(), 'chat.db') } })]
]

for (const [name, options] of storages) {
  t.test(`${name}: a member searches the history, best match first, paged with cursor`, async (t) => {
    const ta = await startApp(t, options(t))
    const conv = await createConversation(ta, 'alice', ['bob'])
    const other = await createConversation(ta, 'alice')
    const plain = await post(ta, 'alice', conv.id, 'booking the hotel in Lisbon', 1)
    const both = await post(ta, 'bob', conv.id, 'hotel and flight to Lisbon are booked: flight at nine', 2)
    await post(ta, 'alice', conv.id, 'what about dinner?', 3)
    const flight = await post(ta, 'bob', conv.id, 'the flight is delayed', 4)
    await post(ta, 'alice', other.id, 'flight hotel flight hotel', 5)

    const res = await get(ta, 'bob', conv.id, { q: 'Flight hotel' })
    t.equal(res.status, 200)
    t.strictSame(res.body.items.map((m: any) => m.id), [both.id, flight.id, plain.id], 'both words (and more often) first; only this conversation')
    t.equal(res.body.nextCursor, null, 'one page')
    t.same(res.body.items[0], both, 'items are messages as the list route gives them')

    const first = await get(ta, 'alice', conv.id, { q: 'flight hotel', limit: 2 })
    t.strictSame(first.body.items.map((m: any) => m.id), [both.id, flight.id])
    t.type(first.body.nextCursor, 'string')
    const second = await get(ta, 'alice', conv.id, { q: 'flight hotel', limit: 2, cursor: first.body.nextCursor })
    t.strictSame(second.body, { items: [plain], nextCursor: null }, 'the rest, and the end')

    t.strictSame((await get(ta, 'alice', conv.id, { q: 'zeppelin' })).body, { items: [], nextCursor: null }, 'no match')
    const listed = await get(ta, 'alice', conv.id, { limit: 2 })
    t.notOk('nextCursor' in listed.body, 'the list without q is as before')

    const api = await ta.app.chat.searchMessages({ id: 'bob', name: 'bob', roles: [] }, conv.id, { q: 'flight hotel' })
    t.same(JSON.parse(JSON.stringify(api)), res.body, 'app.chat.searchMessages answers what REST does')

    const rest = new ChatRest(`${ta.base}/chat`, async () => await ta.token('alice'), fetch as unknown as FetchLike)
    t.same(await rest.search(conv.id, 'flight hotel', { limit: 2 }), first.body, 'the bundled client\'s search')
  })

  t.test(`${name}: FTS operators, quotes and punctuation in q are words, answered 200`, async (t) => {
    const ta = await startApp(t, options(t))
    const conv = await createConversation(ta, 'alice')
    const near = await post(ta, 'alice', conv.id, 'we met NEAR the old mill', 1)
    const quoted = await post(ta, 'alice', conv.id, 'he said "not now" and left', 2)
    const queries = ['NEAR(mill', '"not', 'a AND OR NOT b', 'mill*', 'col:mill', '^mill', '(((', '-mill', '"', '*', '*:*',
      "'; DROP TABLE messages; --", '\\', '%', 'NEAR/2', 'mill OR', '\u0000mill']
    for (const q of queries) {
      const res = await get(ta, 'alice', conv.id, { q })
      t.equal(res.status, 200, `${JSON.stringify(q)}: 200`)
      t.ok(Array.isArray(res.body.items), `${JSON.stringify(q)}: a page`)
    }
    t.strictSame((await get(ta, 'alice', conv.id, { q: 'NEAR(mill' })).body.items.map((m: any) => m.id), [near.id], 'NEAR is a word')
    t.strictSame((await get(ta, 'alice', conv.id, { q: 'NOT' })).body.items.map((m: any) => m.id), [quoted.id], 'NOT is a word')
    t.strictSame((await get(ta, 'alice', conv.id, { q: '-mill' })).body.items.map((m: any) => m.id), [near.id], 'a minus excludes nothing')
    t.strictSame((await get(ta, 'alice', conv.id, { q: '*' })).body, { items: [], nextCursor: null }, 'no words, no match')
  })
}

t.test('search is for members only: others get the NOT_FOUND of reading the messages', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  await post(ta, 'alice', conv.id, 'private plans', 1)
  const read = await get(ta, 'carol', conv.id, { limit: 5 })
  const searched = await get(ta, 'carol', conv.id, { q: 'private' })
  t.equal(searched.status, 404)
  t.strictSame(searched.body, read.body, 'the same answer as GET messages')
  t.match(searched.body, { statusCode: 404, code: 'NOT_FOUND' })
  const unknown = await get(ta, 'alice', 'no-such-conversation', { q: 'private' })
  t.strictSame([unknown.status, unknown.body.code], [404, 'NOT_FOUND'], 'an unknown id alike')
  const removed = await ta.request('DELETE', `/chat/conversations/${conv.id}/participants/bob`, { token: await ta.token('bob') })
  t.equal(removed.status, 204)
  t.equal((await get(ta, 'bob', conv.id, { q: 'private' })).status, 404, 'a participant who left')
})

t.test('a bad q, q with after or before, or a cursor that is not one is BAD_REQUEST', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  await post(ta, 'alice', conv.id, 'something to find', 1)
  const bad: Array<[string, Record<string, string | number>]> = [
    ['empty q', { q: '' }],
    ['blank q', { q: '   \t ' }],
    ['q over 256 characters', { q: 'a'.repeat(257) }],
    ['q with after', { q: 'find', after: 1 }],
    ['q with before', { q: 'find', before: 3 }],
    ['cursor without q', { cursor: 'MC4w' }],
    ['a cursor no search gave', { q: 'find', cursor: 'not-a-cursor' }],
    ['limit 0', { q: 'find', limit: 0 }]
  ]
  for (const [label, query] of bad) {
    const res = await get(ta, 'alice', conv.id, query)
    t.match([res.status, res.body], [400, { statusCode: 400, code: 'BAD_REQUEST', message: String }], label)
  }
  t.equal((await get(ta, 'alice', conv.id, { q: `${'a'.repeat(250)} find` })).status, 200, '256 characters are fine')
})

t.test('a storage without searchMessages answers 501 NOT_IMPLEMENTED; the rest works as before', async (t) => {
  const { searchMessages, ...withoutSearch } = createMemoryStorage()
  t.type(searchMessages, 'function', 'the memory storage searches; this one hides it')
  const storage: ChatStorage = withoutSearch
  const ta = await startApp(t, { storage })
  const conv = await createConversation(ta, 'alice')
  await post(ta, 'alice', conv.id, 'unsearchable', 1)
  const res = await get(ta, 'alice', conv.id, { q: 'unsearchable' })
  t.equal(res.status, 501)
  t.match(res.body, { statusCode: 501, code: 'NOT_IMPLEMENTED', error: 'Not Implemented', message: /memory storage does not search/ })
  t.equal((await get(ta, 'carol', conv.id, { q: 'unsearchable' })).status, 404, 'membership is checked first')
  t.equal((await get(ta, 'alice', conv.id, { q: ' ' })).status, 400, 'a bad q is still BAD_REQUEST')
  t.match((await get(ta, 'alice', conv.id, { limit: 10 })).body.items, [{ kind: 'system' }, { content: 'unsearchable' }], 'listing works')
  await t.rejects(ta.app.chat.searchMessages({ id: 'alice', name: 'alice', roles: [] }, conv.id, { q: 'x' }), { code: 'CHAT_ERR_NOT_IMPLEMENTED', statusCode: 501 })
})
