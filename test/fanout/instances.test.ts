import { randomUUID } from 'node:crypto'
import { test } from 'tap'
import { startApp, createConversation, type TestApp, type TestClient } from '../helpers/app.ts'
import { startProxy } from '../helpers/proxy.ts'

/**
 * Several instances of the example host on one SQLite file and one Redis (the machine's, on its own pub/sub
 * channel per test): what happens on one reaches the sockets of the others, live.
 */

async function instances (t: Parameters<typeof startApp>[0], n: number, redisUrl = 'redis://127.0.0.1:6379', rateLimit: { max: number, windowMs?: number } = { max: 0 }): Promise<TestApp[]> {
  const filename = `${t.testdirName}/chat.db`
  const channel = `test-${randomUUID()}`
  const apps: TestApp[] = []
  for (let i = 0; i < n; i++) {
    apps.push(await startApp(t, {
      storage: { type: 'sqlite', filename },
      fanout: { type: 'redis', url: redisUrl, channel },
      rateLimit
    }))
  }
  return apps
}

async function joined (ta: TestApp, user: string, conversationId: string): Promise<TestClient> {
  const client = await ta.connect(user)
  const reply = await client.call({ type: 'join', conversationId })
  if (reply.type !== 'joined') throw new Error(JSON.stringify(reply))
  return client
}

/**
 * Resolves once a typing frame sent by `from` reaches `to`: typing is never stored, so only the fan-out link
 * carries it across instances. Each round waits for the frame itself, never for a fixed time.
 */
async function typingCrosses (from: TestClient, to: TestClient, conversationId: string): Promise<void> {
  for (let round = 0; ; round++) {
    const seen = new Set(to.all('typing'))
    from.send({ type: 'typing', conversationId })
    const heard = await to.waitFor((f) => f.type === 'typing' && !seen.has(f), 500).then(() => true, () => false)
    if (heard) return
    if (round === 40) throw new Error('typing never crossed: the fan-out link did not come back')
  }
}

test('two instances: concurrent sends from both are seen by every socket in one gap-free order, live', async (t) => {
  t.testdir()
  const [a, b] = await instances(t, 2)
  const conv = await createConversation(a, 'alice', ['bob'])
  const alice = await joined(a, 'alice', conv.id)
  const bob = await joined(b, 'bob', conv.id)

  const N = 150
  for (let i = 0; i < N; i++) {
    alice.send({ type: 'send', conversationId: conv.id, clientMessageId: `a${i}`, content: `from a ${i}` })
    bob.send({ type: 'send', conversationId: conv.id, clientMessageId: `b${i}`, content: `from b ${i}` })
  }
  const lastSeq = conv.lastSeq + 2 * N
  const seqsOf = async (c: TestClient): Promise<number[]> => {
    await c.waitFor((f) => f.type === 'message' && f.message.seq === lastSeq, 20_000)
    return c.all('message').map((f) => f.message.seq)
  }
  const [sa, sb] = await Promise.all([seqsOf(alice), seqsOf(bob)])
  const expected = Array.from({ length: 2 * N }, (_, i) => conv.lastSeq + 1 + i)
  t.same(sa, expected, 'alice (instance A) sees every message once, in order')
  t.same(sb, expected, 'bob (instance B) sees every message once, in order')

  // Typing crosses instances.
  alice.send({ type: 'typing', conversationId: conv.id })
  const typing = await bob.waitFor((f) => f.type === 'typing')
  t.equal(typing.participantId, 'alice')
})

test('two instances: removal and deletion on A take effect on B at once', async (t) => {
  t.testdir()
  const [a, b] = await instances(t, 2)
  const conv = await createConversation(a, 'alice', ['bob', 'carol'])
  const bob = await joined(b, 'bob', conv.id)
  const carol = await joined(b, 'carol', conv.id)
  // B has the conversation cached; A removes bob.
  const removed = await a.request('DELETE', `/chat/conversations/${conv.id}/participants/bob`, { token: await a.token('alice') })
  t.equal(removed.status, 204)
  const left = await bob.waitFor((f) => f.type === 'left' && f.conversationId === conv.id)
  t.ok(left, 'bob\'s socket on B hears `left`')
  const refused = await bob.call({ type: 'send', conversationId: conv.id, clientMessageId: 'x', content: 'still here?' })
  t.match(refused, { type: 'error', code: 'NOT_FOUND' }, 'B refuses his sends')
  const viaB = await b.request('GET', `/chat/conversations/${conv.id}`, { token: await b.token('bob') })
  t.equal(viaB.status, 404, 'and his REST reads')
  const system = await carol.waitFor((f) => f.type === 'message' && f.message.kind === 'system' && /left/.test(f.message.content))
  t.ok(system, 'carol on B sees the system line')

  const del = await a.request('DELETE', `/chat/conversations/${conv.id}`, { token: await a.token('alice') })
  t.equal(del.status, 204)
  await carol.waitFor((f) => f.type === 'left' && f.conversationId === conv.id)
  const gone = await b.request('GET', `/chat/conversations/${conv.id}`, { token: await b.token('carol') })
  t.equal(gone.status, 404, 'deleted on A is gone on B')
})

test('two instances: Redis cut mid-run loses, doubles and reorders nothing; live again when it is back', async (t) => {
  t.testdir()
  const proxy = await startProxy(6379)
  t.teardown(async () => { await proxy.close() })
  const [a, b] = await instances(t, 2, `redis://127.0.0.1:${proxy.port}`)
  const conv = await createConversation(a, 'alice', ['bob'])
  const alice = await joined(a, 'alice', conv.id)
  const bob = await joined(b, 'bob', conv.id)

  const send = async (i: number): Promise<void> => {
    const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: `m${i}`, content: `m${i}` })
    if (ack.type !== 'ack') throw new Error(JSON.stringify(ack))
  }
  for (let i = 0; i < 20; i++) await send(i)
  proxy.pause()
  proxy.cut()
  for (let i = 20; i < 60; i++) await send(i)
  // Sent on A while Redis is down: B delivers them from storage.
  await bob.waitFor((f) => f.type === 'message' && f.message.content === 'm59', 20_000)
  t.match(await b.app.chat.health(), { status: 'degraded', fanout: { name: 'redis', status: 'unavailable' } }, 'B knows the link is down')
  proxy.resume()
  // The link is back both ways once typing crosses from A to B and from B to A.
  await typingCrosses(alice, bob, conv.id)
  await typingCrosses(bob, alice, conv.id)
  t.match(await a.app.chat.health(), { fanout: { status: 'ok' } }, 'A reports its link up')
  for (let i = 60; i < 80; i++) await send(i)
  await bob.waitFor((f) => f.type === 'message' && f.message.content === 'm79', 20_000)
  const seqs = bob.all('message').map((f) => f.message.seq)
  const expected = Array.from({ length: 80 }, (_, i) => conv.lastSeq + 1 + i)
  t.same(seqs, expected, 'B saw every message once, in order, across the outage')
  t.match(await b.app.chat.health(), { status: 'ok', fanout: { status: 'ok' } }, 'the link healed by itself')
  // Live again: typing (never stored) crosses once more.
  await typingCrosses(alice, bob, conv.id)
})

test('an instance dies: the survivors tell a big conversation in ONE presence frame, and its next joined lists them offline', async (t) => {
  t.testdir()
  const proxy = await startProxy(6379)
  t.teardown(async () => { await proxy.close() })
  const filename = `${t.testdirName}/chat.db`
  const channel = `test-${randomUUID()}`
  const opts = (url: string): Parameters<typeof startApp>[1] => ({
    storage: { type: 'sqlite', filename },
    fanout: { type: 'redis', url, channel, presenceTtlMs: 600 },
    rateLimit: { max: 0 },
    limits: { presenceBatchAbove: 2, presenceIntervalMs: 50 }
  })
  const a = await startApp(t, opts('redis://127.0.0.1:6379'))
  const b = await startApp(t, opts(`redis://127.0.0.1:${proxy.port}`))
  const others = ['bob', 'carol', 'dave']
  const conv = await createConversation(a, 'alice', others)
  const alice = await joined(a, 'alice', conv.id)
  for (const user of others) await joined(b, user, conv.id)
  // Alice hears them come online, coalesced (the conversation has more than 2 participants).
  const heardOnline = new Set<string>()
  await alice.waitFor((f) => {
    if (f.type === 'presence') for (const id of f.online as string[]) heardOnline.add(id)
    return others.every((id) => heardOnline.has(id))
  })

  const before = alice.all('presence').length
  proxy.pause()
  proxy.cut() // B can no longer renew its key: A declares it dead within the TTL
  const gone = await alice.waitFor((f) => f.type === 'presence' && (f.offline as string[]).length > 0, 10_000)
  t.same([...gone.offline].sort(), others, 'one frame lists every user of the dead instance offline')
  t.same(gone.online, [])
  t.equal(alice.all('presence').length, before + 1, 'one presence frame, not one per user')
  t.same(alice.all('participant').filter((f) => f.event === 'offline'), [], 'no participant frame per user')

  const late = await a.connect('alice')
  const rejoined = await late.call({ type: 'join', conversationId: conv.id })
  t.same(rejoined.online, ['alice'], 'a later joined lists only alice online')
})

test('two instances: a user\'s rate limit is counted across both', async (t) => {
  t.testdir()
  const [a, b] = await instances(t, 2, 'redis://127.0.0.1:6379', { max: 5, windowMs: 60_000 })
  const conv = await createConversation(a, 'alice')
  const onA = await joined(a, 'alice', conv.id)
  const onB = await joined(b, 'alice', conv.id)
  const replies: string[] = []
  for (let i = 0; i < 3; i++) replies.push((await onA.call({ type: 'send', conversationId: conv.id, clientMessageId: `a${i}`, content: 'x' })).type)
  for (let i = 0; i < 3; i++) replies.push((await onB.call({ type: 'send', conversationId: conv.id, clientMessageId: `b${i}`, content: 'x' })).type)
  t.same(replies, ['ack', 'ack', 'ack', 'ack', 'ack', 'error'], 'five in the window, whichever instance took them')
  const limited = onB.all('error').at(-1)
  t.equal(limited?.code, 'RATE_LIMITED')
  t.ok(limited?.retryAfterMs > 0)
  // A repeat is still answered, and does not count.
  const repeat = await onB.call({ type: 'send', conversationId: conv.id, clientMessageId: 'a0', content: 'x' })
  t.equal(repeat.type, 'ack')
})
