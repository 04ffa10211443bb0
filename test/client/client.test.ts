import { test } from 'tap'
import WebSocket from 'ws'
import { buildApp } from '../../examples/app.ts'
import { loadConfig } from '../../examples/config.ts'
import { ChatClient, ChatClientError, type ChatClientState, type FetchLike, type Message } from '../../lib/client/index.ts'
import { createConversation, startApp, type TestApp } from '../helpers/app.ts'
import { startProxy } from '../helpers/proxy.ts'
import { clientFor, closeSpareConnections, restVia, TRANSPORTS, until } from '../helpers/transports.ts'

for (const transport of TRANSPORTS) {
  const transports = [transport]

  test(`client [${transport}]: join, send, ack once stored, the message once in order on both sides`, async (t) => {
    const ta = await startApp(t)
    closeSpareConnections(ta)
    const conv = await createConversation(ta, 'alice', ['bob'])
    const alice = await clientFor(t, ta, 'alice', { transports })
    const bob = await clientFor(t, ta, 'bob', { tokenIn: 'header', transports })
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

  test(`client [${transport}]: 50 sends in a row are stored, acked and settled in the order they were sent`, async (t) => {
    const ta = await startApp(t, { rateLimit: { max: 0, rest: { max: 0, windowMs: 1000 } } })
    closeSpareConnections(ta)
    const conv = await createConversation(ta, 'alice')
    // Message posts started in the same turn go out in reverse order: posts in flight together would be
    // stored out of order.
    let held: Array<() => void> = []
    const reversing: FetchLike = async (url, init) => {
      if (init.method === 'POST' && url.endsWith('/messages')) {
        await new Promise<void>((resolve) => {
          if (held.length === 0) {
            setImmediate(() => {
              const turn = held
              held = []
              for (const go of turn.reverse()) go()
            })
          }
          held.push(resolve)
        })
      }
      return await fetch(url, init)
    }
    const alice = await clientFor(t, ta, 'alice', { transports, fetch: reversing })
    await alice.join(conv.id)
    const settled: number[] = []
    const contents = Array.from({ length: 50 }, (_, i) => `in a row ${i}`)
    const acks = await Promise.all(contents.map(async (content, i) => {
      const ack = await alice.send(conv.id, content)
      settled.push(i)
      return ack
    }))
    const seqs = acks.map((a) => a.seq)
    t.same(seqs, seqs.map((_, i) => seqs[0] + i), 'seqs in send order, one after another')
    t.same(settled, contents.map((_, i) => i), 'acks in send order')
    const stored = await alice.rest.messages(conv.id, { limit: 100 })
    t.same(stored.filter((m) => m.content.startsWith('in a row')).map((m) => m.content), contents, 'stored in send order')
  })

  test(`client [${transport}]: typed errors settle every promise`, async (t) => {
    const ta = await startApp(t, { rateLimit: { max: 2, windowMs: 60_000 } })
    closeSpareConnections(ta)
    const conv = await createConversation(ta, 'alice')
    const alice = await clientFor(t, ta, 'alice', { transports })
    const mallory = await clientFor(t, ta, 'mallory', { transports })

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

  test(`client [${transport}]: state goes connecting → open → reconnecting → open → closed; a token function is asked each time`, async (t) => {
    const ta = await startApp(t)
    closeSpareConnections(ta)
    const proxy = await startProxy(Number(new URL(ta.base).port))
    t.teardown(async () => { await proxy.close() })
    const conv = await createConversation(ta, 'alice')
    let asked = 0
    const token = await ta.token('alice')
    const client = new ChatClient({
      url: `ws://127.0.0.1:${proxy.port}/chat/ws`,
      httpUrl: restVia(transport, ta, proxy),
      token: async () => { asked++; return token },
      WebSocket,
      transports,
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

  test(`client [${transport}]: removal and deletion end a conversation with \`left\`, also when found on a rejoin`, async (t) => {
    const ta = await startApp(t)
    closeSpareConnections(ta)
    const proxy = await startProxy(Number(new URL(ta.base).port))
    t.teardown(async () => { await proxy.close() })
    const first = await createConversation(ta, 'alice', ['bob'])
    const second = await createConversation(ta, 'alice', ['bob'])
    const bob = new ChatClient({
      url: `ws://127.0.0.1:${proxy.port}/chat/ws`,
      httpUrl: restVia(transport, ta, proxy),
      token: await ta.token('bob'),
      WebSocket,
      transports,
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
}

test('client: a host whose proxy refuses the WebSocket upgrade: the client moves to event streams by itself, loses nothing, and moves back once WebSockets pass', async (t) => {
  let refuse = true
  const app = await buildApp({ config: loadConfig({}), chat: { storage: 'memory' } })
  // What a proxy that blocks WebSockets answers to the upgrade.
  app.addHook('onRequest', async (request, reply) => {
    if (refuse && request.headers.upgrade?.toLowerCase() === 'websocket') return await reply.code(502).send('no WebSockets here')
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close() })
  closeSpareConnections({ app } as TestApp)
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const token = async (userId: string): Promise<string> => (await app.inject({ method: 'POST', url: '/auth/dev-login', payload: { userId } })).json().token
  const bobToken = await token('bob')
  const created = await app.inject({ method: 'POST', url: '/chat/conversations', headers: { authorization: `Bearer ${bobToken}` }, payload: { participants: ['alice'] } })
  const conv = created.json()
  const post = async (content: string): Promise<void> => {
    const res = await app.inject({ method: 'POST', url: `/chat/conversations/${conv.id}/messages`, headers: { authorization: `Bearer ${bobToken}` }, payload: { clientMessageId: content, content } })
    t.equal(res.statusCode, 201)
  }
  for (let i = 0; i < 5; i++) await post(`before ${i}`)

  const client = new ChatClient({
    url: `${base.replace('http', 'ws')}/chat/ws`,
    token: await token('alice'),
    WebSocket,
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    websocketRetryMs: 100
  })
  t.teardown(() => { client.close() })
  const seen: Message[] = []
  client.on('message', (m) => { seen.push(m) })
  // Sent before anything is open: held, then sent over whatever transport comes up.
  const early = client.send(conv.id, 'sent while connecting')
  await client.join(conv.id)
  t.equal(client.transport, 'sse', 'on event streams after the refused upgrades')
  t.ok((await early).seq > 0, 'the early send is acked')
  for (let i = 0; i < 5; i++) await post(`after ${i}`)
  await until(client, () => seen.some((m) => m.content === 'after 4'))
  t.equal(client.transport, 'sse')

  // WebSockets pass again: the next try moves the client back, rejoined with `since`, nothing doubled.
  const movedBack = new Promise<void>((resolve) => {
    const off = client.on('joined', () => { if (client.transport === 'websocket') { off(); resolve() } })
  })
  refuse = false
  await movedBack
  for (let i = 0; i < 5; i++) await post(`back ${i}`)
  const ack = await client.send(conv.id, 'over the socket again')
  await until(client, () => seen.some((m) => m.content === 'back 4') && seen.some((m) => m.seq === ack.seq))
  const seqs = seen.map((m) => m.seq)
  t.same(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'every message once, in order, across both moves')
  const stored = await client.rest.messages(conv.id, { limit: 100 })
  t.equal(stored.filter((m) => m.content === 'sent while connecting').length, 1, 'stored once')
  t.equal(seqs[seqs.length - 1], stored[stored.length - 1].seq, 'none missing at the end')
})
