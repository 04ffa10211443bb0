import t from 'tap'
import { createMemoryStorage, type ChatStorage } from '../../lib/index.ts'
import { createConversation, startApp } from '../helpers/app.ts'

t.test('GET /chat/health without a token: 200 ok with storage, connections and conversations', async (t) => {
  const ta = await startApp(t)
  const res = await ta.request('GET', '/chat/health')
  t.equal(res.status, 200)
  t.match(res.body, {
    status: 'ok',
    storage: { name: 'memory', status: 'ok', latencyMs: Number },
    connections: 0,
    conversations: 0
  })
  await createConversation(ta, 'alice')
  t.equal((await ta.request('GET', '/chat/health')).body.conversations, 1)
})

t.test('the connections count follows the sockets', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const count = async (): Promise<number> => (await ta.request('GET', '/chat/health')).body.connections

  const alice = await ta.connect('alice')
  t.equal(await count(), 1)
  const bob = await ta.connect('bob')
  const bobAgain = await ta.connect('bob')
  t.equal(await count(), 3, 'one per socket, not per user')

  await alice.call({ type: 'join', conversationId: conv.id })
  await bob.call({ type: 'join', conversationId: conv.id })
  await bobAgain.call({ type: 'join', conversationId: conv.id })
  bob.close()
  bobAgain.close()
  // The server has forgotten bob's sockets once alice hears he went offline.
  await alice.next((f) => f.type === 'participant' && f.event === 'offline' && f.participant.id === 'bob')
  t.equal(await count(), 1)

  await ta.request('POST', '/chat/admin/users/alice/disconnect', { token: await ta.token('root', { admin: true }) })
  t.equal(await count(), 0, 'a server-side close counts at once')
  await alice.closed
})

t.test('a storage whose ping rejects makes health 503 unavailable', async (t) => {
  let down = false
  const memory = createMemoryStorage()
  const storage: ChatStorage = {
    ...memory,
    async ping () {
      if (down) throw new Error('connection refused')
    }
  }
  const ta = await startApp(t, { storage })
  t.equal((await ta.request('GET', '/chat/health')).status, 200)

  down = true
  const res = await ta.request('GET', '/chat/health')
  t.equal(res.status, 503)
  t.match(res.body, { status: 'unavailable', storage: { name: 'memory', status: 'unavailable' }, connections: 0 })
  t.notMatch(JSON.stringify(res.body), /connection refused/, 'the storage error stays in the log')

  down = false
  t.equal((await ta.request('GET', '/chat/health')).body.status, 'ok', 'back when storage is')
})

t.test('GET /chat/metrics: Prometheus text with chat_messages_total and chat_connections', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'm1', content: 'hello' })
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'm1', content: 'hello' })

  const res = await ta.app.inject({ method: 'GET', url: '/chat/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain/)
  const text = res.body
  t.match(text, /^# TYPE chat_messages_total counter$/m)
  t.match(text, /^chat_messages_total\{kind="text"\} 1$/m, 'one text message stored')
  t.match(text, /^chat_messages_total\{kind="system"\} 1$/m, 'one membership message')
  t.match(text, /^# TYPE chat_connections gauge$/m)
  t.match(text, /^chat_connections 1$/m)
  t.match(text, /^chat_duplicate_sends_total 1$/m, 'the repeat was counted as a duplicate')
})

t.test('with publicHealth: false, health and metrics need a token', async (t) => {
  const ta = await startApp(t, { publicHealth: false })
  const anonymous = await ta.request('GET', '/chat/health')
  t.equal(anonymous.status, 401)
  t.equal((await ta.request('GET', '/chat/metrics')).status, 401)
  const token = await ta.token('alice')
  const res = await ta.request('GET', '/chat/health', { token })
  t.equal(res.status, 200)
  t.equal(res.body.status, 'ok')
  t.equal((await ta.request('GET', '/chat/metrics', { token })).status, 200)
})

t.test('a slow storage ping reports degraded, still 200', async (t) => {
  let slowMs = 0
  const storage: ChatStorage = {
    ...createMemoryStorage(),
    async ping () {
      if (slowMs > 0) await new Promise((resolve) => setTimeout(resolve, slowMs))
    }
  }
  const ta = await startApp(t, { storage })
  slowMs = 600 // the storage being slow, not a wait for synchronisation
  const res = await ta.request('GET', '/chat/health')
  t.equal(res.status, 200)
  t.match(res.body, { status: 'degraded', storage: { status: 'ok' } })
  t.ok(res.body.storage.latencyMs >= 500, `latency reported (${String(res.body.storage.latencyMs)} ms)`)
})

t.test('a storage ping that never answers makes health 503, not a hung request', async (t) => {
  const storage: ChatStorage = { ...createMemoryStorage(), ping: async () => await new Promise<void>(() => {}) }
  const ta = await startApp(t, { storage })
  let timer: ReturnType<typeof setTimeout> | undefined
  const res = await Promise.race([
    ta.request('GET', '/chat/health'),
    new Promise<undefined>((resolve) => { timer = setTimeout(() => { resolve(undefined) }, 10_000) })
  ])
  clearTimeout(timer)
  t.ok(res !== undefined, 'answered')
  t.match(res, { status: 503, body: { status: 'unavailable' } })
})

t.test('errors answered over REST are counted in chat_errors_total, like the socket\'s', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: 'nope' })
  t.equal((await ta.request('GET', '/chat/conversations/nope', { token: await ta.token('alice') })).status, 404)
  t.equal((await ta.request('POST', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice'), body: { clientMessageId: 'x', content: '' } })).status, 400)
  const text = (await ta.app.inject({ method: 'GET', url: '/chat/metrics' })).body
  t.match(text, /^chat_errors_total\{code="NOT_FOUND",transport="ws"\} 1$/m)
  t.match(text, /^chat_errors_total\{code="NOT_FOUND",transport="rest"\} 1$/m)
  t.match(text, /^chat_errors_total\{code="BAD_REQUEST",transport="rest"\} 1$/m)
})
