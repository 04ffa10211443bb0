import type { FastifyInstance } from 'fastify'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { buildApp } from '../../examples/app.ts'
import { loadConfig } from '../../examples/config.ts'
import type { AskHandler } from '../../examples/nlweb/handler.ts'
import type { ChatOptions } from '../../lib/index.ts'
import { TestClient, type Frame } from '../helpers/app.ts'

/**
 * Graceful drain (services.drain, run by the plugin's preClose): frames a socket sent before app.close() are
 * finished and answered, what was acked is stored, AI answers end, then sockets close with 1001.
 */

interface Host {
  app: FastifyInstance
  wsUrl: (token: string) => string
  token: (userId: string) => Promise<string>
  inject: (method: string, url: string, token: string, body?: unknown) => Promise<{ status: number, body: any }>
}

/** The example host on a SQLite file, listening; the test closes it itself (a teardown closes it otherwise). */
async function host (t: Test, filename: string, askHandler?: AskHandler): Promise<Host> {
  const app = await buildApp({ config: loadConfig({}), chat: { storage: { type: 'sqlite', filename } } as ChatOptions, askHandler })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close() })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    app,
    wsUrl: (token) => `ws://127.0.0.1:${port}/chat/ws?access_token=${token}`,
    async token (userId) {
      return (await app.inject({ method: 'POST', url: '/auth/dev-login', payload: { userId } })).json().token as string
    },
    async inject (method, url, token, body) {
      const res = await app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${token}` }, payload: body as object | undefined })
      return { status: res.statusCode, body: res.json() }
    }
  }
}

async function connect (t: Test, h: Host, token: string): Promise<TestClient> {
  const client = new TestClient(h.wsUrl(token))
  t.teardown(() => { client.close() })
  await client.next((f) => f.type === 'ready')
  return client
}

/** Sends every frame in one write, so the server reads the whole burst at once. */
function burst (client: TestClient, frames: Frame[]): void {
  const raw = (client.ws as unknown as { _socket: { cork: () => void, uncork: () => void } })._socket
  raw.cork()
  for (const f of frames) client.send(f)
  raw.uncork()
}

async function storedTexts (filename: string, t: Test, conversationId: string, userId: string): Promise<Array<{ clientMessageId: string, seq: number }>> {
  const again = await host(t, filename)
  const token = await again.token(userId)
  const out: Array<{ clientMessageId: string, seq: number }> = []
  let after = 0
  for (;;) {
    const res = await again.inject('GET', `/chat/conversations/${conversationId}/messages?after=${after}&limit=100`, token)
    const items = res.body.items as any[]
    if (items.length === 0) break
    for (const m of items) if (m.kind === 'text') out.push({ clientMessageId: m.clientMessageId, seq: m.seq })
    after = items[items.length - 1].seq
  }
  await again.app.close()
  return out
}

const SENDS = 200

t.test('app.close() answers every frame received, stores every acked send, then closes sockets with 1001', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const h = await host(t, filename)
  const token = await h.token('alice')
  const conv = (await h.inject('POST', '/chat/conversations', token, { title: 'drain' })).body
  const alice = await connect(t, h, token)
  await alice.call({ type: 'join', conversationId: conv.id })

  const sends = Array.from({ length: SENDS }, (_, i) => ({ type: 'send', conversationId: conv.id, clientMessageId: `c${i}`, content: `m${i}`, ref: `s${i}` }))
  burst(alice, sends)
  // The first ack says the server has read the burst (it arrives in one read); close with the rest in flight.
  await alice.waitFor((f) => f.type === 'ack')
  const ackedBeforeClose = alice.all('ack').length
  const closing = h.app.close()
  // Frames arriving once the drain has begun are refused, the socket being still open for the acks.
  const late = Array.from({ length: 5 }, (_, i) => ({ type: 'send', conversationId: conv.id, clientMessageId: `late${i}`, content: 'late', ref: `l${i}` }))
  burst(alice, late)
  await closing
  const closed = await alice.closed
  t.equal(closed.code, 1001, 'the socket closes with 1001 going away')

  const replies = new Map(alice.frames.filter((f) => f.type === 'ack' || f.type === 'error').map((f) => [f.ref as string, f]))
  const unanswered = sends.filter((s) => !replies.has(s.ref)).map((s) => s.ref)
  t.same(unanswered, [], 'every frame received before close is answered')
  const acked = sends.filter((s) => replies.get(s.ref)?.type === 'ack').map((s) => s.clientMessageId)
  const refusedLate = late.map((l) => replies.get(l.ref)).filter((f) => f !== undefined)
  for (const f of refusedLate) {
    t.match(f, { type: 'error', code: 'UNAVAILABLE', status: 503 }, 'a frame after the drain began is refused as UNAVAILABLE')
    t.ok(f.retryAfterMs > 0, 'with retryAfterMs')
  }
  t.ok(refusedLate.length > 0, `frames sent after app.close() were answered UNAVAILABLE (${refusedLate.length} of ${late.length})`)
  const order = alice.frames.filter((f) => f.type === 'ack' || f.type === 'error').map((f) => f.ref)
  t.same(order, [...sends, ...late].map((f) => f.ref).filter((ref) => replies.has(ref)), 'replies in frame order, the drain included')

  const stored = await storedTexts(filename, t, conv.id, 'alice')
  t.same(stored.map((m) => m.clientMessageId).sort(), [...acked].sort(), 'storage holds exactly the acked sends')
  t.same(stored.map((m) => m.seq), stored.map((_, i) => stored[0].seq + i), 'their seqs have no gap')
  t.comment(`drain figures: ${SENDS} sent, ${SENDS - ackedBeforeClose} in flight at close, ${acked.length} acked, ${stored.length} stored, ${refusedLate.length} late frames refused`)
})

t.test('an AI answer streaming at close ends with stream.end before the 1001 close and is stored finished', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  let aborted = false
  const slow: AskHandler = async (params, sink, options) => {
    await sink.write({ message_type: 'result_batch', query_id: params.query_id, results: [{ name: 'first', url: 'https://x.example/1' }] })
    // Still streaming when the server closes: it ends only when stopped.
    await new Promise<void>((resolve) => {
      options?.signal?.addEventListener('abort', () => { aborted = true; resolve() })
    })
    throw options?.signal?.reason
  }
  const h = await host(t, filename, slow)
  const token = await h.token('alice')
  const conv = (await h.inject('POST', '/chat/conversations', token, { title: 'ai', ai: true })).body
  const alice = await connect(t, h, token)
  await alice.call({ type: 'join', conversationId: conv.id })
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: 'a slow question' })
  const start = await alice.next((f) => f.type === 'stream.start')
  await alice.next((f) => f.type === 'stream.chunk')

  await h.app.close()
  const closed = await alice.closed
  t.equal(closed.code, 1001)
  t.ok(aborted, 'the handler was stopped')
  const types = alice.frames.map((f) => f.type)
  const end = alice.frames.find((f) => f.type === 'stream.end')
  t.ok(end !== undefined, 'stream.end reached the viewer before the socket closed')
  t.equal(end?.message.id, start.message.id)
  t.not(end?.message.status, 'streaming', `the answer ended (${end?.message.status as string})`)
  t.equal(types.filter((x) => x === 'stream.end').length, 1, 'one stream.end')

  const again = await host(t, filename)
  const res = await again.inject('GET', `/chat/conversations/${conv.id}/messages`, await again.token('alice'))
  const answer = (res.body.items as any[]).find((m) => m.id === start.message.id)
  t.ok(answer !== undefined, 'the answer is stored')
  t.not(answer.status, 'streaming', `stored status is ${answer.status as string}`)
  t.equal(answer.status, end?.message.status, 'stored as the viewer was told')
})

t.test('a client flooding a draining socket is cut off (1008) instead of queueing refusals without end', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const h = await host(t, filename)
  const token = await h.token('alice')
  const conv = (await h.inject('POST', '/chat/conversations', token, { title: 'flood' })).body
  const alice = await connect(t, h, token)
  await alice.call({ type: 'join', conversationId: conv.id })
  // Enough sends that the loop is still busy with them when the flood is read.
  burst(alice, Array.from({ length: SENDS }, (_, i) => ({ type: 'send', conversationId: conv.id, clientMessageId: `c${i}`, content: 'x', ref: `s${i}` })))
  await alice.waitFor((f) => f.type === 'ack')
  const closing = h.app.close()
  // Far more frames than the queue and its refusals may hold (1024 + 256 by default), in one read.
  burst(alice, Array.from({ length: 1400 }, (_, i) => ({ type: 'ping-not', ref: `f${i}` })))
  await closing
  const closed = await alice.closed
  t.equal(closed.code, 1008, `closed for policy, not left to queue refusals during the drain (${alice.all('error').length} refusals written)`)
})
