import { test } from 'tap'
import WebSocket from 'ws'
import { ChatClient, ChatClientError, type ChatClientState, type FetchLike, type Message } from '../../lib/client/index.ts'
import { createConversation, startApp, type TestApp } from '../helpers/app.ts'
import { startProxy } from '../helpers/proxy.ts'

/** A client for a user of the test app; closed at teardown. */
async function clientFor (t: Parameters<typeof startApp>[0], ta: TestApp, userId: string, extra: Partial<ConstructorParameters<typeof ChatClient>[0]> = {}): Promise<ChatClient> {
  const token = await ta.token(userId)
  const client = new ChatClient({ url: ta.wsUrl, token, WebSocket, ...extra })
  t.teardown(() => { client.close() })
  return client
}

/** Resolves when `check` holds, re-checked on every event of the client; fails after `ms`. */
async function until (client: ChatClient, check: () => boolean, ms = 20_000): Promise<void> {
  if (check()) return
  await new Promise<void>((resolve, reject) => {
    const offs: Array<() => void> = []
    const timer = setTimeout(() => { done(); reject(new Error('condition not reached in time')) }, ms)
    const done = (): void => { clearTimeout(timer); for (const off of offs) off() }
    const poke = (): void => { if (check()) { done(); resolve() } }
    for (const event of ['message', 'update', 'state', 'joined'] as const) offs.push(client.on(event, poke))
  })
}

test('client: join, send, ack once stored, the message once in order on both sides', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice = await clientFor(t, ta, 'alice')
  const bob = await clientFor(t, ta, 'bob', { tokenIn: 'header' })
  const seen: Message[] = []
  bob.on('message', (m) => { seen.push(m) })
  const joined = await bob.join(conv.id)
  t.equal(joined.conversation.id, conv.id)
  t.equal(bob.state, 'open')
  t.equal(bob.ready?.userId, 'bob')
  await alice.join(conv.id)

  const ack = await alice.send(conv.id, 'hello bob')
  t.match(ack, { conversationId: conv.id, seq: joined.lastSeq + 1 })
  t.type(ack.messageId, 'string')
  await until(bob, () => seen.some((m) => m.content === 'hello bob'))
  const seqs = seen.map((m) => m.seq)
  t.same(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'history and the live message, seq 1..N')

  // The same clientMessageId again: the first ack, no second message.
  const again = await alice.send(conv.id, 'hello bob', { clientMessageId: ack.clientMessageId })
  t.same(again, ack)
  const stored = await alice.rest.messages(conv.id)
  t.equal(stored.filter((m) => m.content === 'hello bob').length, 1)
})

test('client: typed errors settle every promise', async (t) => {
  const ta = await startApp(t, { rateLimit: { max: 2, windowMs: 60_000 } })
  const conv = await createConversation(ta, 'alice')
  const alice = await clientFor(t, ta, 'alice')
  const mallory = await clientFor(t, ta, 'mallory')

  const notFound = await mallory.join(conv.id).catch((err: unknown) => err)
  t.ok(notFound instanceof ChatClientError)
  t.match(notFound, { code: 'NOT_FOUND', status: 404 })
  t.match(await mallory.send(conv.id, 'hi').catch((err: unknown) => err), { code: 'NOT_FOUND' })

  await alice.send(conv.id, 'one')
  await alice.send(conv.id, 'two')
  const limited = await alice.send(conv.id, 'three').catch((err: unknown) => err) as ChatClientError
  t.equal(limited.code, 'RATE_LIMITED')
  t.ok((limited.retryAfterMs ?? 0) > 0, 'says when to retry')

  const rest = await mallory.rest.getConversation(conv.id).catch((err: unknown) => err)
  t.match(rest, { code: 'NOT_FOUND', status: 404 })

  const pending = alice.send(conv.id, 'never stored', { clientMessageId: 'x1' }).catch((err: unknown) => err)
  alice.close()
  t.match(await pending, { code: 'CLOSED' })
  t.equal(alice.state, 'closed')
  t.match(await alice.send(conv.id, 'late').catch((err: unknown) => err), { code: 'CLOSED' })
})

test('client: state goes connecting → open → reconnecting → open → closed; a token function is asked each time', async (t) => {
  const ta = await startApp(t)
  const proxy = await startProxy(Number(new URL(ta.base).port))
  t.teardown(async () => { await proxy.close() })
  const conv = await createConversation(ta, 'alice')
  let asked = 0
  const token = await ta.token('alice')
  const client = new ChatClient({
    url: `ws://127.0.0.1:${proxy.port}/chat/ws`,
    httpUrl: `${ta.base}/chat`,
    token: async () => { asked++; return token },
    WebSocket,
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 }
  })
  t.teardown(() => { client.close() })
  const states: ChatClientState[] = [client.state]
  client.on('state', (s) => { states.push(s) })
  await client.join(conv.id)
  proxy.cut()
  await until(client, () => states.filter((s) => s === 'open').length === 2)
  const ack = await client.send(conv.id, 'after the drop')
  t.ok(ack.seq > 0)
  client.close()
  t.same(states, ['connecting', 'open', 'reconnecting', 'open', 'closed'])
  t.ok(asked >= 2, 'the token function is asked before every connect')
})

test('client: 50+ drops during a 5,000-message burst from another user: 0 lost, 0 doubled, 0 out of order, every send settled', async (t) => {
  // A small replay limit, so some rejoins answer recovered: false and the client pages the rest over REST.
  const ta = await startApp(t, { rateLimit: { max: 0 }, limits: { replayLimit: 30 } })
  const proxy = await startProxy(Number(new URL(ta.base).port))
  t.teardown(async () => { await proxy.close() })
  const conv = await createConversation(ta, 'alice', ['bob'])

  let restPages = 0
  const countingFetch: FetchLike = async (url, init) => {
    if (url.includes('/messages')) restPages++
    return await fetch(url, init)
  }
  const bobToken = await ta.token('bob')
  const bob = new ChatClient({
    url: `ws://127.0.0.1:${proxy.port}/chat/ws`,
    httpUrl: `${ta.base}/chat`,
    token: bobToken,
    WebSocket,
    fetch: countingFetch,
    pageSize: 50,
    reconnect: { initialDelayMs: 2, maxDelayMs: 30 }
  })
  t.teardown(() => { bob.close() })
  const alice = await clientFor(t, ta, 'alice')

  const seqs: number[] = []
  let fromAlice = 0
  let drops = 0
  let sinceJoined = 0
  bob.on('joined', () => { sinceJoined = 0 })
  bob.on('message', (m) => {
    seqs.push(m.seq)
    if (m.sender.id === 'alice') fromAlice++
    // Cut bob's connection once he has had 40 messages on it (replayed, paged or live).
    if (++sinceJoined >= 40 && bob.state === 'open' && proxy.cut() > 0) {
      drops++
      sinceJoined = 0
    }
  })
  await bob.join(conv.id)
  await alice.join(conv.id)

  const TOTAL = 5000
  const BOB_SENDS = 100
  const bobAcks: Array<Promise<unknown>> = []
  const aliceAcks: Array<Promise<unknown>> = []
  for (let i = 0; i < TOTAL; i++) {
    aliceAcks.push(alice.send(conv.id, `a${i}`))
    // Bob sends too, while his socket keeps dropping: resent with the same clientMessageId, stored once.
    if (i % (TOTAL / BOB_SENDS) === 0) bobAcks.push(bob.send(conv.id, `b${i}`))
    if (i % 10 === 9) await aliceAcks[i]
  }
  const aliceSettled = await Promise.allSettled(aliceAcks)
  const bobSettled = await Promise.allSettled(bobAcks)
  t.equal(aliceSettled.filter((r) => r.status === 'fulfilled').length, TOTAL, 'every one of alice\'s sends acked')
  t.equal(bobSettled.filter((r) => r.status === 'fulfilled').length, BOB_SENDS, 'every one of bob\'s sends acked across the drops')

  const stored = await alice.rest.getConversation(conv.id)
  await until(bob, () => seqs.length > 0 && seqs[seqs.length - 1] >= stored.lastSeq, 60_000)
  const expected = Array.from({ length: stored.lastSeq }, (_, i) => i + 1)
  const lost = expected.filter((s) => !seqs.includes(s)).length
  const doubled = seqs.length - new Set(seqs).size
  const outOfOrder = seqs.filter((s, i) => i > 0 && s <= seqs[i - 1]).length
  t.ok(drops >= 50, `dropped ${drops} times`)
  t.equal(lost, 0, 'none lost')
  t.equal(doubled, 0, 'none doubled')
  t.equal(outOfOrder, 0, 'none out of order')
  t.equal(fromAlice, TOTAL, 'each of alice\'s messages seen once')
  t.equal(stored.lastSeq, expected.length)
  let bobStored = 0
  for (let after = 0; after < stored.lastSeq; after += 500) {
    const page = await alice.rest.messages(conv.id, { after, limit: 500 })
    bobStored += page.filter((m) => m.sender.id === 'bob').length
  }
  t.equal(bobStored, BOB_SENDS, 'resends made no second message')
  t.ok(restPages > 0, 'gaps past the replay limit were paged over REST')
  t.comment(`drops=${drops} received=${seqs.length} lastSeq=${stored.lastSeq} restPages=${restPages} connections=${proxy.accepted}`)
})

test('client: removal and deletion end a conversation with `left`, also when found on a rejoin', async (t) => {
  const ta = await startApp(t)
  const proxy = await startProxy(Number(new URL(ta.base).port))
  t.teardown(async () => { await proxy.close() })
  const first = await createConversation(ta, 'alice', ['bob'])
  const second = await createConversation(ta, 'alice', ['bob'])
  const bob = new ChatClient({
    url: `ws://127.0.0.1:${proxy.port}/chat/ws`,
    httpUrl: `${ta.base}/chat`,
    token: await ta.token('bob'),
    WebSocket,
    reconnect: { initialDelayMs: 5, maxDelayMs: 5 }
  })
  t.teardown(() => { bob.close() })
  const left: Array<{ conversationId: string, code?: string }> = []
  bob.on('left', (e) => { left.push({ conversationId: e.conversationId, code: e.reason?.code }) })
  await bob.join(first.id)
  await bob.join(second.id)

  const removed = new Promise<void>((resolve) => { const off = bob.on('left', () => { off(); resolve() }) })
  await ta.request('DELETE', `/chat/conversations/${first.id}/participants/bob`, { token: await ta.token('alice') })
  await removed
  t.same(left, [{ conversationId: first.id, code: 'NOT_FOUND' }], 'removed: left at once')

  // Deleted while bob is away: his rejoin finds it gone.
  proxy.pause()
  proxy.cut()
  await new Promise<void>((resolve) => { const off = bob.on('state', (s) => { if (s === 'reconnecting') { off(); resolve() } }) })
  await ta.request('DELETE', `/chat/conversations/${second.id}`, { token: await ta.token('alice') })
  const gone = new Promise<void>((resolve) => { const off = bob.on('left', () => { off(); resolve() }) })
  proxy.resume()
  await gone
  t.same(left[1], { conversationId: second.id, code: 'NOT_FOUND' }, 'deleted while away: left after the rejoin')
})
