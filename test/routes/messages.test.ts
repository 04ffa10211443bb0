import t, { type Test } from 'tap'
import type { ChatOptions } from '../../lib/index.ts'
import { createConversation, startApp, type TestApp, joinAll } from '../helpers/app.ts'

async function post (ta: TestApp, user: string, conversationId: string, body: Record<string, unknown>): Promise<{ status: number, body: any, headers: Record<string, unknown> }> {
  return await ta.request('POST', `/chat/conversations/${conversationId}/messages`, { token: await ta.token(user), body })
}

async function seqs (ta: TestApp, user: string, conversationId: string, query = ''): Promise<number[]> {
  const res = await ta.request('GET', `/chat/conversations/${conversationId}/messages${query}`, { token: await ta.token(user) })
  if (res.status !== 200) throw new Error(`GET messages${query}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.items.map((m: any) => m.seq)
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** The same queries answer the same whether the cache window holds the messages or storage must. */
for (const [label, chat] of [['from the cache window', {}], ['from storage (a 5-message cache window)', { cache: { messages: 5 } }]] as Array<[string, Partial<ChatOptions>]>) {
  t.test(`GET messages with after, before and limit, ascending: ${label}`, async (t: Test) => {
    const ta = await startApp(t, chat)
    const conv = await createConversation(ta, 'alice', ['bob'])
    for (let i = 1; i <= 60; i++) {
      const res = await post(ta, i % 2 === 0 ? 'bob' : 'alice', conv.id, { clientMessageId: `c${i}`, content: `message ${i}` })
      t.equal(res.status, 201)
    }
    // seq 1, 2 are the membership messages; the texts are 3..62.
    t.same(await seqs(ta, 'alice', conv.id), range(13, 62), 'default limit 50: the newest, ascending')
    t.same(await seqs(ta, 'alice', conv.id, '?limit=3'), [60, 61, 62], 'the newest `limit`')
    t.same(await seqs(ta, 'alice', conv.id, '?after=5&limit=3'), [6, 7, 8], 'after: the first `limit` after it')
    t.same(await seqs(ta, 'alice', conv.id, '?after=0&limit=4'), [1, 2, 3, 4], 'from the start')
    t.same(await seqs(ta, 'alice', conv.id, '?before=5'), [1, 2, 3, 4], 'before only')
    t.same(await seqs(ta, 'alice', conv.id, '?before=40&limit=3'), [37, 38, 39], 'before: the newest `limit` below it')
    t.same(await seqs(ta, 'alice', conv.id, '?after=10&before=15'), [11, 12, 13, 14], 'between, both exclusive')
    t.same(await seqs(ta, 'alice', conv.id, '?after=10&before=15&limit=2'), [11, 12])
    t.same(await seqs(ta, 'alice', conv.id, '?after=62'), [], 'nothing newer')
    t.same(await seqs(ta, 'alice', conv.id, '?after=100'), [])
    t.same(await seqs(ta, 'alice', conv.id, '?before=1'), [])
    t.same(await seqs(ta, 'alice', conv.id, '?after=50&limit=500'), range(51, 62))

    // Paging backwards with before = the first seq of the previous page walks the whole log once.
    const walked: number[] = []
    let before: number | undefined
    for (let page = 0; page < 10; page++) {
      const items = await seqs(ta, 'bob', conv.id, `?limit=25${before === undefined ? '' : `&before=${before}`}`)
      if (items.length === 0) break
      walked.unshift(...items)
      before = items[0]
    }
    t.same(walked, range(1, 62), 'every message once, in order')

    const res = await ta.request('GET', `/chat/conversations/${conv.id}/messages?after=2&limit=2`, { token: await ta.token('alice') })
    t.match(res.body.items, [
      { conversationId: conv.id, seq: 3, kind: 'text', content: 'message 1', clientMessageId: 'c1', sender: { id: 'alice', name: 'alice', type: 'human' }, createdAt: String, id: String },
      { seq: 4, content: 'message 2', sender: { id: 'bob' } }
    ])
  })
}

t.test('GET messages: bad queries are 400, non-participants 404', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.token('alice')
  for (const q of ['after=-1', 'before=0', 'limit=0', 'limit=501', 'after=x']) {
    const res = await ta.request('GET', `/chat/conversations/${conv.id}/messages?${q}`, { token: alice })
    t.equal(res.status, 400, q)
    t.match(res.body, { statusCode: 400, code: 'BAD_REQUEST', error: 'Bad Request', message: String }, q)
  }
  const stranger = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('eve') })
  t.match(stranger, { status: 404, body: { code: 'NOT_FOUND' } })
})

t.test('POST messages: 201 with the stored message; a repeated clientMessageId returns the first', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const first = await post(ta, 'alice', conv.id, { clientMessageId: 'k1', content: 'hello', metadata: { mood: 'happy' } })
  t.equal(first.status, 201)
  t.match(first.body, {
    id: String,
    conversationId: conv.id,
    seq: 3,
    kind: 'text',
    sender: { id: 'alice', name: 'alice', type: 'human' },
    content: 'hello',
    clientMessageId: 'k1',
    metadata: { mood: 'happy' },
    createdAt: String
  })
  t.equal(first.headers['idempotent-replayed'], undefined)

  const again = await post(ta, 'alice', conv.id, { clientMessageId: 'k1', content: 'hello (retry)' })
  t.equal(again.status, 201)
  t.same(again.body, first.body, 'the first message, unchanged')
  t.equal(again.headers['idempotent-replayed'], 'true')

  const bobs = await post(ta, 'bob', conv.id, { clientMessageId: 'k1', content: 'mine' })
  t.equal(bobs.status, 201)
  t.not(bobs.body.id, first.body.id, 'another sender with the same key is another message')
  t.equal(bobs.body.seq, 4)

  t.same(await seqs(ta, 'alice', conv.id), [1, 2, 3, 4], 'no message was stored twice')
  const view = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token('bob') })
  t.equal(view.body.lastSeq, 4)
})

t.test('POST messages: content checks and body validation', async (t) => {
  const ta = await startApp(t, { limits: { maxMessageBytes: 10 } })
  const conv = await createConversation(ta, 'alice')

  const big = await post(ta, 'alice', conv.id, { clientMessageId: 'big', content: 'x'.repeat(11) })
  t.equal(big.status, 413)
  t.match(big.body, { statusCode: 413, code: 'TOO_LARGE', error: 'Payload Too Large', message: /11 bytes.*10/ })
  const multibyte = await post(ta, 'alice', conv.id, { clientMessageId: 'mb', content: 'é'.repeat(6) })
  t.equal(multibyte.status, 413, 'the limit is in UTF-8 bytes, not characters (6 characters, 12 bytes)')
  t.equal((await post(ta, 'alice', conv.id, { clientMessageId: 'fits', content: 'x'.repeat(10) })).status, 201, 'exactly the limit')

  for (const [name, content] of [['empty', ''], ['whitespace only', '  \n\t ']]) {
    const res = await post(ta, 'alice', conv.id, { clientMessageId: `e-${name}`, content })
    t.equal(res.status, 400, name)
    t.match(res.body, { statusCode: 400, code: 'BAD_REQUEST', error: 'Bad Request', message: /empty/ }, name)
  }

  for (const [name, body] of [
    ['no clientMessageId', { content: 'hi' }],
    ['empty clientMessageId', { clientMessageId: '', content: 'hi' }],
    ['no content', { clientMessageId: 'x' }],
    ['metadata not an object', { clientMessageId: 'x', content: 'hi', metadata: 'no' }]
  ] as Array<[string, Record<string, unknown>]>) {
    const res = await post(ta, 'alice', conv.id, body)
    t.equal(res.status, 400, name)
    t.match(res.body, { statusCode: 400, code: 'BAD_REQUEST' }, name)
  }
  t.same(await seqs(ta, 'alice', conv.id), [1, 2], 'only the one that fit was stored')
})

t.test('a message posted over REST reaches joined sockets as a `message` frame', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const [bob, alice] = await joinAll(ta, conv.id, ['bob', 'alice'])

  const res = await post(ta, 'alice', conv.id, { clientMessageId: 'rest-1', content: 'over REST' })
  const frame = await bob.next((f) => f.type === 'message')
  t.same(frame, { type: 'message', conversationId: conv.id, message: res.body }, 'the stored message, as the REST reply gave it')
  const own = await alice.next((f) => f.type === 'message')
  t.equal(own.message.id, res.body.id, 'the sender\'s own sockets get it too')

  // A repeat is not delivered again.
  await post(ta, 'alice', conv.id, { clientMessageId: 'rest-1', content: 'over REST' })
  await post(ta, 'alice', conv.id, { clientMessageId: 'rest-2', content: 'next' })
  const next = await bob.next((f) => f.type === 'message')
  t.equal(next.message.content, 'next')
  t.equal(bob.all('message').length, 2)
})

t.test('rate limit over REST: the 4th send in the window is 429 RATE_LIMITED with retry-after', async (t) => {
  const ta = await startApp(t, { rateLimit: { max: 3, windowMs: 60_000 } })
  const conv = await createConversation(ta, 'alice', ['bob'])
  for (let i = 1; i <= 3; i++) {
    t.equal((await post(ta, 'alice', conv.id, { clientMessageId: `r${i}`, content: `m${i}` })).status, 201)
  }
  const limited = await post(ta, 'alice', conv.id, { clientMessageId: 'r4', content: 'm4' })
  t.equal(limited.status, 429)
  t.match(limited.body, { statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests', message: String })
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `retry-after is whole seconds within the window (${String(limited.headers['retry-after'])})`)

  t.equal((await post(ta, 'bob', conv.id, { clientMessageId: 'b1', content: 'bob is not limited' })).status, 201, 'the budget is per user')
  t.same(await seqs(ta, 'alice', conv.id, '?after=2'), [3, 4, 5, 6], 'the limited one was not stored')
})

t.test('rate limit over the socket: an error frame with retryAfterMs; REST and socket share one budget', async (t) => {
  const ta = await startApp(t, { rateLimit: { max: 3, windowMs: 60_000 } })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  t.equal((await post(ta, 'alice', conv.id, { clientMessageId: 'rest', content: 'one' })).status, 201)
  for (const id of ['ws1', 'ws2']) {
    t.match(await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: id, content: id }), { type: 'ack' })
  }
  const err = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'ws3', content: 'too many' })
  t.match(err, { type: 'error', code: 'RATE_LIMITED', status: 429, message: String })
  t.ok(Number.isInteger(err.retryAfterMs) && err.retryAfterMs > 0 && err.retryAfterMs <= 60_000, `retryAfterMs ${String(err.retryAfterMs)}`)
  t.match(await alice.call({ type: 'ping' }), { type: 'pong' }, 'the socket stays open')
  const rest = await post(ta, 'alice', conv.id, { clientMessageId: 'rest-2', content: 'and REST too' })
  t.equal(rest.status, 429)
})

t.test('rate limit: repeating an already-stored clientMessageId still returns the first message', async (t) => {
  // PROTOCOL: "A send repeated with the same clientMessageId by the same user returns the first ack and creates
  // no second message." A client retrying a send whose ack it lost must not be told RATE_LIMITED, and the
  // retry should not spend budget.
  const ta = await startApp(t, { rateLimit: { max: 2, windowMs: 60_000 } })
  const conv = await createConversation(ta, 'alice')
  const first = await post(ta, 'alice', conv.id, { clientMessageId: 'once', content: 'hello' })
  t.equal(first.status, 201)
  t.equal((await post(ta, 'alice', conv.id, { clientMessageId: 'twice', content: 'world' })).status, 201)
  const retry = await post(ta, 'alice', conv.id, { clientMessageId: 'once', content: 'hello' })
  t.equal(retry.status, 201, 'the retry is answered from dedupe')
  t.equal(retry.body.id, first.body.id, 'with the first message')
  t.equal(retry.headers['idempotent-replayed'], 'true')
  const alice = await ta.connect('alice')
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'once', content: 'hello' })
  t.match(ack, { type: 'ack', messageId: first.body.id, seq: first.body.seq }, 'over the socket too')
})

t.test('REST accepts a message up to limits.maxMessageBytes, as the socket does, above Fastify\'s default body limit', async (t) => {
  const limits = { maxMessageBytes: 2 * 1024 * 1024, maxFrameBytes: 4 * 1024 * 1024 }
  const ta = await startApp(t, { limits })
  const conv = await createConversation(ta, 'alice')
  const content = 'y'.repeat(1.5 * 1024 * 1024)
  const alice = await ta.connect('alice')
  t.match(await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'ws', content }), { type: 'ack' }, 'the socket takes it')
  const rest = await post(ta, 'alice', conv.id, { clientMessageId: 'rest', content })
  t.equal(rest.status, 201, 'REST takes it too')
  const over = await post(ta, 'alice', conv.id, { clientMessageId: 'over', content: 'y'.repeat(limits.maxMessageBytes + 1) })
  t.match(over, { status: 413, body: { code: 'TOO_LARGE', message: /bytes/ } }, 'and over the limit, the chat\'s own message')
})

/** Zero-width and other invisible characters alone, as a client might send them to post an "empty" message. */
const INVISIBLE_CONTENTS: Array<[string, string]> = [
  ['zero-width space', '\u200B'],
  ['zero-width (non-)joiners, word joiner, BOM, soft hyphen', '\u200B\u200C\u200D\u2060\uFEFF\u00AD'],
  ['bidi marks and isolates', '\u200E\u200F\u2066\u2069'],
  ['unusual spaces', '\u00A0\u2003\u3000\u205F'],
  ['Hangul fillers and the blank Braille pattern', '\u3164\uFFA0\u2800'],
  ['variation selectors and a tag character', '\uFE0F\uFE0E\u{E0041}'],
  ['combining marks with no base', '\u0301\u0308\u20DD'],
  ['controls', '\u0000\u0007\u001B'],
  ['a mix with spaces and newlines', ' \u200B\n\t\u2060 ']
]

t.test('REST: content of only invisible characters is 400 BAD_REQUEST like blank content, and nothing is stored', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  for (const [name, content] of INVISIBLE_CONTENTS) {
    const res = await post(ta, 'alice', conv.id, { clientMessageId: `inv-${name}`, content })
    t.match(res, { status: 400, body: { code: 'BAD_REQUEST', message: /empty|invisible/ } }, name)
  }
  const lone = await post(ta, 'alice', conv.id, { clientMessageId: 'lone', content: 'a\uD800b' })
  t.match(lone, { status: 400, body: { code: 'BAD_REQUEST', message: /surrogate/ } }, 'a lone surrogate is not valid content')
  // Visible text next to invisible characters is fine: an accent on a letter, an emoji with its selector.
  const ok = await post(ta, 'alice', conv.id, { clientMessageId: 'ok', content: 'e\u0301\u200B \u2764\uFE0F' })
  t.equal(ok.status, 201)
  const list = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice') })
  t.same(list.body.items.filter((m: any) => m.kind === 'text').map((m: any) => m.clientMessageId), ['ok'], 'only the visible one was stored')
})

t.test('REST: metadata holding a 150,000-element array is 413 TOO_LARGE, not a 500, and nothing is stored', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const wide = { list: new Array(150_000).fill(0) }
  const res = await post(ta, 'alice', conv.id, { clientMessageId: 'wide', content: 'x', metadata: wide })
  t.match(res, { status: 413, body: { code: 'TOO_LARGE' } }, 'message metadata')
  const created = await ta.request('POST', '/chat/conversations', { token: await ta.token('alice'), body: { title: 'wide', metadata: wide } })
  t.match(created, { status: 413, body: { code: 'TOO_LARGE' } }, 'conversation metadata')
  const wideObject = { map: Object.fromEntries(Array.from({ length: 150_000 }, (_, i) => [`k${i}`, i])) }
  t.match(await post(ta, 'alice', conv.id, { clientMessageId: 'wide-object', content: 'x', metadata: wideObject }), { status: 413, body: { code: 'TOO_LARGE' } }, 'an object of 150,000 keys')
  const list = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice') })
  t.same(list.body.items.filter((m: any) => m.kind === 'text'), [], 'no message stored')
  const mine = await ta.request('GET', '/chat/conversations', { token: await ta.token('alice') })
  t.same(mine.body.items.map((c: any) => c.id), [conv.id], 'no conversation created')
})

t.test('REST: metadata with a lone surrogate in a key or a string is 400 BAD_REQUEST (PostgreSQL jsonb refuses it), nothing stored', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const cases: Array<[string, Record<string, unknown>]> = [
    ['in a value', { k: 'a\uD800' }],
    ['in a key', { '\uDC00k': 1 }],
    ['deep in an array', { list: [1, ['ok', '\uDFFF']] }]
  ]
  for (const [name, metadata] of cases) {
    t.match(await post(ta, 'alice', conv.id, { clientMessageId: `ls-${name}`, content: 'x', metadata }), { status: 400, body: { code: 'BAD_REQUEST', message: /surrogate/ } }, name)
  }
  const created = await ta.request('POST', '/chat/conversations', { token: await ta.token('alice'), body: { title: 'ls', metadata: { k: '\uD800' } } })
  t.match(created, { status: 400, body: { code: 'BAD_REQUEST' } }, 'conversation metadata too')
  t.equal((await post(ta, 'alice', conv.id, { clientMessageId: 'pair', content: 'x', metadata: { k: '\uD83D\uDE00' } })).status, 201, 'a surrogate pair (an emoji) is fine')
  const list = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice') })
  t.same(list.body.items.filter((m: any) => m.kind === 'text').map((m: any) => m.clientMessageId), ['pair'])
})

t.test('REST: metadata may nest 16 levels, not 17', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const nested = (levels: number): Record<string, unknown> => {
    let value: Record<string, unknown> = { leaf: 1 }
    for (let i = 1; i < levels; i++) value = { d: value }
    return value
  }
  t.equal((await post(ta, 'alice', conv.id, { clientMessageId: 'd16', content: 'x', metadata: nested(16) })).status, 201)
  t.match(await post(ta, 'alice', conv.id, { clientMessageId: 'd17', content: 'x', metadata: nested(17) }), { status: 400, body: { code: 'BAD_REQUEST', message: /deeper than 16/ } })
})
