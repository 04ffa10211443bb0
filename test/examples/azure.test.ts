import t from 'tap'
import { buildApp } from '../../examples/app.ts'
import { loadConfig } from '../../examples/config.ts'
import { TestClient, type Frame } from '../helpers/app.ts'
import { azurite } from '../helpers/azurite.ts'

/** The example host with CHAT_STORAGE=azure, on Azurite: the whole chat, the AI participant included. */
const { connectionString, freshPrefix } = await azurite(t)

t.test('CHAT_STORAGE=azure: login, create, send, the AI answer streamed and stored, a rejoin with since, health', async (t) => {
  const prefix = freshPrefix()
  const config = loadConfig({ CHAT_STORAGE: 'azure', AZURE_STORAGE_CONNECTION_STRING: connectionString, CHAT_AZURE_TABLE_PREFIX: prefix })
  t.strictSame(config.chat.storage, { type: 'azure', connectionString, tablePrefix: prefix }, 'the environment maps to the storage option')
  const app = await buildApp({ config })
  t.teardown(async () => { await app.close() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0

  const health = await app.inject({ method: 'GET', url: '/chat/health' })
  // 'degraded' only says the ping was slow (a loaded machine); the storage itself answers.
  t.match(health.json(), { status: /^(ok|degraded)$/, storage: { name: 'azure', status: 'ok' } })

  const login = await app.inject({ method: 'POST', url: '/auth/dev-login', payload: { userId: 'alice' } })
  t.equal(login.statusCode, 200)
  const token = login.json().token as string
  const headers = { authorization: `Bearer ${token}` }
  const created = await app.inject({ method: 'POST', url: '/chat/conversations', headers, payload: { title: 'Dinner', ai: true } })
  t.equal(created.statusCode, 201)
  const conv = created.json() as { id: string }

  const connect = async (): Promise<TestClient> => {
    const client = new TestClient(`ws://127.0.0.1:${port}/chat/ws?access_token=${token}`)
    t.teardown(() => { client.close() })
    await client.next((f) => f.type === 'ready')
    return client
  }
  const alice = await connect()
  const joined = await alice.call({ type: 'join', conversationId: conv.id })
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q1', content: '@assistant pasta recipes' })
  t.match(ack, { type: 'ack', clientMessageId: 'q1', seq: joined.lastSeq + 1 })
  const start = await alice.next((f) => f.type === 'stream.start', 15_000)
  t.match(start.message, { kind: 'ai', status: 'streaming', replyTo: ack.seq, seq: ack.seq + 1 }, 'the placeholder takes the next seq')
  const end = await alice.next((f) => f.type === 'stream.end', 15_000)
  t.equal(end.message.status, 'complete')
  t.ok(end.message.parts.length > 0, 'the answer has its parts')

  const stored = await app.inject({ method: 'GET', url: `/chat/conversations/${conv.id}/messages?limit=10`, headers })
  const answer = (stored.json().items as Frame[]).find((m) => m.id === start.message.id)
  t.same(answer, end.message, 'the answer as stored is the one streamed')

  alice.close()
  const acks: Frame[] = []
  const writer = await connect()
  await writer.call({ type: 'join', conversationId: conv.id })
  for (let i = 0; i < 3; i++) acks.push(await writer.call({ type: 'send', conversationId: conv.id, clientMessageId: `m${i}`, content: `plain ${i}` }))
  const back = await connect()
  const resumed = await back.call({ type: 'join', conversationId: conv.id, since: end.message.seq })
  t.equal(resumed.recovered, true)
  // The assistant answers each of them too (one human here): every seq after `since`, once, in order.
  const seqs = resumed.messages.map((m: Frame) => m.seq)
  t.same(seqs, Array.from({ length: resumed.lastSeq - end.message.seq }, (_, i) => end.message.seq + 1 + i), 'nothing lost, nothing repeated')
  const mine = resumed.messages.filter((m: Frame) => m.kind === 'text')
  t.same(mine.map((m: Frame) => [m.seq, m.content]), acks.map((a, i) => [a.seq, `plain ${i}`]), 'the sends, as acked')
})
