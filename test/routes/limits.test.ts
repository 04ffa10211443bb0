import Fastify, { type FastifyRequest } from 'fastify'
import t from 'tap'
import chat from '../../lib/index.ts'
import { createConversation, startApp, type TestApp } from '../helpers/app.ts'

/**
 * Per-user limits on every action through the real plugin (options.rateLimit.*): the action past the budget is
 * refused with RATE_LIMITED 429 and when to come back, and writes nothing. REST requests are limited by
 * @fastify/rate-limit keyed by the user.
 */

const MINUTE = 60_000
/** A budget of `max` per minute: nothing refills during a test. */
const budget = (max: number) => ({ max, windowMs: MINUTE })

async function messages (ta: TestApp, conversationId: string, userId: string): Promise<any[]> {
  return (await ta.request('GET', `/chat/conversations/${conversationId}/messages`, { token: await ta.token(userId) })).body.items
}

t.test('the conversation past rateLimit.conversations is refused 429 with retry-after and not created', async (t) => {
  const ta = await startApp(t, { rateLimit: { conversations: budget(2) } })
  const token = await ta.token('alice')
  for (let i = 0; i < 2; i++) t.equal((await ta.request('POST', '/chat/conversations', { token, body: { title: `c${i}` } })).status, 201)
  const refused = await ta.request('POST', '/chat/conversations', { token, body: { title: 'too many', participants: ['bob'] } })
  t.equal(refused.status, 429)
  t.match(refused.body, { statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests', message: /new conversations/ })
  t.ok(refused.body.retryAfterMs > 0 && refused.body.retryAfterMs <= MINUTE / 2, `retryAfterMs about one interval (${refused.body.retryAfterMs})`)
  t.ok(Number(refused.headers['retry-after']) >= 1, 'retry-after in seconds')
  const listed = await ta.request('GET', '/chat/conversations', { token })
  t.same(listed.body.items.map((c: any) => c.title).sort(), ['c0', 'c1'], 'nothing created by the refused request')
  t.same((await ta.request('GET', '/chat/conversations', { token: await ta.token('bob') })).body.items, [], 'bob was not added anywhere')
  t.equal((await ta.request('POST', '/chat/conversations', { token: await ta.token('bob'), body: {} })).status, 201, 'another user has a budget of their own')
})

t.test('the participant change past rateLimit.participants is refused 429 and changes nothing', async (t) => {
  const ta = await startApp(t, { rateLimit: { participants: budget(2) } })
  const conv = await createConversation(ta, 'alice')
  const token = await ta.token('alice')
  for (const userId of ['bob', 'carol']) {
    t.equal((await ta.request('POST', `/chat/conversations/${conv.id}/participants`, { token, body: { userId } })).status, 201)
  }
  const before = await messages(ta, conv.id, 'alice')
  const refused = await ta.request('POST', `/chat/conversations/${conv.id}/participants`, { token, body: { userId: 'dave' } })
  t.equal(refused.status, 429)
  t.match(refused.body, { code: 'RATE_LIMITED', message: /participant changes/ })
  t.ok(refused.body.retryAfterMs > 0)
  t.ok(Number(refused.headers['retry-after']) >= 1)
  const removal = await ta.request('DELETE', `/chat/conversations/${conv.id}/participants/bob`, { token })
  t.equal(removal.status, 429, 'removals count in the same budget')
  const after = await ta.request('GET', `/chat/conversations/${conv.id}`, { token })
  t.same(after.body.participants.map((p: any) => p.id).sort(), ['alice', 'bob', 'carol'], 'dave not added, bob not removed')
  t.same(await messages(ta, conv.id, 'alice'), before, 'no system message for a refused change')
})

t.test('the typing frame past rateLimit.typing gets RATE_LIMITED with retryAfterMs and reaches nobody', async (t) => {
  const ta = await startApp(t, { rateLimit: { typing: budget(2) } })
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice = await ta.connect('alice')
  const bob = await ta.connect('bob')
  await alice.call({ type: 'join', conversationId: conv.id })
  await bob.call({ type: 'join', conversationId: conv.id })
  alice.send({ type: 'typing', conversationId: conv.id })
  alice.send({ type: 'typing', conversationId: conv.id })
  const refused = await alice.call({ type: 'typing', conversationId: conv.id })
  t.match(refused, { type: 'error', code: 'RATE_LIMITED', status: 429, message: /typing/ })
  t.ok(refused.retryAfterMs > 0, `retryAfterMs ${refused.retryAfterMs}`)
  t.equal(alice.all('error').length, 1, 'the two within budget were accepted')
  // What alice sends next reaches bob after any typing frame she sent before it.
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'm', content: 'hi' })
  await bob.waitFor((f) => f.type === 'message' && f.message.clientMessageId === 'm')
  t.equal(bob.all('typing').length, 2, 'bob saw only the typing frames within budget')
})

t.test('the join past rateLimit.joins gets RATE_LIMITED with retryAfterMs and subscribes nothing', async (t) => {
  const ta = await startApp(t, { rateLimit: { joins: budget(2) } })
  const convs = [await createConversation(ta, 'alice', ['bob']), await createConversation(ta, 'alice', ['bob']), await createConversation(ta, 'alice', ['bob'])]
  const alice = await ta.connect('alice')
  t.match(await alice.call({ type: 'join', conversationId: convs[0].id }), { type: 'joined' })
  t.match(await alice.call({ type: 'join', conversationId: convs[1].id }), { type: 'joined' })
  const refused = await alice.call({ type: 'join', conversationId: convs[2].id })
  t.match(refused, { type: 'error', code: 'RATE_LIMITED', status: 429, message: /joins/ })
  t.ok(refused.retryAfterMs > 0, `retryAfterMs ${refused.retryAfterMs}`)
  // bob writes into the refused conversation, then into a joined one: alice gets only the second.
  const bob = await ta.connect('bob')
  await bob.call({ type: 'send', conversationId: convs[2].id, clientMessageId: 'x', content: 'not for alice' })
  await bob.call({ type: 'send', conversationId: convs[0].id, clientMessageId: 'y', content: 'for alice' })
  await alice.waitFor((f) => f.type === 'message' && f.message.clientMessageId === 'y')
  t.same(alice.all('message').map((f) => f.conversationId), [convs[0].id], 'the refused join subscribed nothing')
})

t.test('REST requests are limited per user by @fastify/rate-limit, with x-ratelimit headers and a protocol 429', async (t) => {
  const ta = await startApp(t, { rateLimit: { rest: budget(3) } })
  const alice = await ta.token('alice')
  const remaining: unknown[] = []
  for (let i = 0; i < 3; i++) {
    const res = await ta.request('GET', '/chat/conversations', { token: alice })
    t.equal(res.status, 200)
    t.equal(res.headers['x-ratelimit-limit'], '3')
    remaining.push(res.headers['x-ratelimit-remaining'])
  }
  t.same(remaining, ['2', '1', '0'], 'x-ratelimit-remaining counts down')
  const refused = await ta.request('GET', '/chat/conversations', { token: alice })
  t.equal(refused.status, 429)
  t.same(Object.keys(refused.body).sort(), ['code', 'error', 'message', 'retryAfterMs', 'statusCode'], 'the protocol\'s error shape')
  t.match(refused.body, { statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests', message: /requests/ })
  t.ok(refused.body.retryAfterMs > 0 && refused.body.retryAfterMs <= MINUTE, `retryAfterMs ${refused.body.retryAfterMs}`)
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(retryAfter >= 1 && Math.abs(retryAfter - refused.body.retryAfterMs / 1000) <= 1, `retry-after (${retryAfter} s) agrees with retryAfterMs`)
  // Keyed by the user, not the address (every inject comes from 127.0.0.1).
  const bob = await ta.request('GET', '/chat/conversations', { token: await ta.token('bob') })
  t.equal(bob.status, 200, 'another user has a budget of their own')
  t.equal(bob.headers['x-ratelimit-remaining'], '2')
})

t.test('a host hook that sets retry-after and throws a 429 keeps its retry-after on a chat route', async (t) => {
  const app = Fastify({ logger: false })
  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const id = request.headers['x-user']
    if (typeof id === 'string') Object.assign(request, { user: { id, name: id, roles: [] } })
  })
  // The host's own throttle, in front of everything it serves.
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers['x-throttle'] === undefined) return
    reply.header('retry-after', 60)
    throw Object.assign(new Error('the host says slow down'), { statusCode: 429 })
  })
  await app.register(chat, { storage: 'memory' })
  t.teardown(async () => { await app.close() })
  const ok = await app.inject({ method: 'GET', url: '/chat/conversations', headers: { 'x-user': 'alice' } })
  t.equal(ok.statusCode, 200)
  const res = await app.inject({ method: 'GET', url: '/chat/conversations', headers: { 'x-user': 'alice', 'x-throttle': '1' } })
  t.equal(res.statusCode, 429)
  t.equal(res.headers['retry-after'], '60', 'the host\'s retry-after is kept')
  t.match(res.json(), { statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests', message: 'the host says slow down' })
  t.equal(res.json().retryAfterMs, 60_000, 'retryAfterMs agrees with the retry-after the client is given')
})

t.test('a join refused by the budget leaves the subscription the socket has: it still gets the conversation\'s messages', async (t) => {
  const ta = await startApp(t, { rateLimit: { joins: { max: 1, windowMs: 60_000 } } })
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice = await ta.connect('alice')
  const bob = await ta.connect('bob')
  t.match(await alice.call({ type: 'join', conversationId: conv.id }), { type: 'joined' })
  t.match(await alice.call({ type: 'join', conversationId: conv.id, since: 0 }), { type: 'error', code: 'RATE_LIMITED' })
  const ack = await bob.call({ type: 'send', conversationId: conv.id, clientMessageId: 'b1', content: 'still there?' })
  const got = await alice.waitFor((f) => f.type === 'message' && f.message.seq === ack.seq)
  t.equal(got.message.content, 'still there?', 'alice is still subscribed')
})

t.test('REST limits counted in Redis: while Redis is down, requests pass instead of failing with 500', async (t) => {
  const { startProxy } = await import('../helpers/proxy.ts')
  const proxy = await startProxy(6379)
  t.teardown(() => { proxy.close() })
  const ta = await startApp(t, { fanout: { type: 'redis', url: `redis://127.0.0.1:${proxy.port}`, channel: `limits-${Date.now()}-${Math.random()}` } })
  const token = await ta.token('alice')
  const first = await ta.request('GET', '/chat/conversations', { token })
  t.equal(first.status, 200)
  t.ok(first.headers['x-ratelimit-limit'], 'counted in Redis')
  proxy.pause()
  proxy.cut()
  const down = await ta.request('GET', '/chat/conversations', { token })
  t.equal(down.status, 200, 'served with Redis down')
  const created = await ta.request('POST', '/chat/conversations', { token, body: { title: 'during the outage' } })
  t.equal(created.status, 201)
})

t.test('a Redis that stops answering does not hang sends, REST or close: limits fall back to counting locally', async (t) => {
  const { startProxy } = await import('../helpers/proxy.ts')
  const proxy = await startProxy(6379)
  t.teardown(() => { proxy.close() })
  const ta = await startApp(t, { fanout: { type: 'redis', url: `redis://127.0.0.1:${proxy.port}`, channel: `stall-${Date.now()}-${Math.random()}` } })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })
  proxy.stall()
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 's1', content: 'through a stalled Redis' }, 5000)
  t.equal(ack.type, 'ack', 'the send is stored and acked (its budget counted locally)')
  const list = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice') })
  t.equal(list.status, 200, 'REST answers')
  const started = Date.now()
  await ta.app.close()
  t.ok(Date.now() - started < 8000, `closed in ${Date.now() - started} ms`)
})
