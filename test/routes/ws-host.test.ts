import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import chat from '../../lib/index.ts'
import { writesOf } from '../helpers/socket-writes.ts'

/**
 * /chat/ws as hosts use it beyond a plain browser socket: a host's tests through `injectWS` (no TCP stream), a
 * host that registered @fastify/websocket itself, with its own errorHandler, and what the upgrade writes first
 * (over TCP and TLS).
 */

/** A bare host: `authenticate` reads the user from `x-user`; `before` registers what the host has first. */
async function host (t: Test, before?: (app: FastifyInstance) => Promise<void>): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const id = request.headers['x-user']
    if (typeof id === 'string') Object.assign(request, { user: { id, name: id, roles: [] } })
  })
  await before?.(app)
  await app.register(chat, { storage: 'memory' })
  t.teardown(async () => { await app.close() })
  return app
}

/** The frames a socket receives, parsed, and a way to wait for one. */
function frames (ws: WebSocket): (type: string) => Promise<Record<string, unknown>> {
  const seen: Array<Record<string, unknown>> = []
  const waiting: Array<() => void> = []
  ws.on('message', (data) => {
    seen.push(JSON.parse(data.toString()) as Record<string, unknown>)
    for (const wake of waiting.splice(0)) wake()
  })
  return async (type) => {
    for (;;) {
      const found = seen.find((f) => f.type === type)
      if (found !== undefined) return found
      await new Promise<void>((resolve) => { waiting.push(resolve) })
    }
  }
}

t.test('a socket opened with injectWS (no TCP stream) works: ready, then a ping answered', async (t) => {
  const app = await host(t)
  await app.ready()
  let next: ReturnType<typeof frames> | undefined
  // Listening from the start: `ready` is written as the socket opens.
  const ws = await app.injectWS('/chat/ws', { headers: { 'x-user': 'alice' } }, { onInit: (ws) => { next = frames(ws) } })
  t.teardown(() => { ws.terminate() })
  if (next === undefined) throw new Error('onInit did not run')
  t.match(await next('ready'), { userId: 'alice' })
  ws.send(JSON.stringify({ type: 'ping', ref: 'p1' }))
  t.same(await next('pong'), { type: 'pong', ref: 'p1' })
  t.equal(ws.readyState, WebSocket.OPEN, 'still open')
})

t.test('a host\'s own @fastify/websocket errorHandler still sees the errors of the chat\'s sockets', async (t) => {
  const seen: string[] = []
  const app = await host(t, async (app) => {
    await app.register(websocket, {
      options: { maxPayload: 200 },
      errorHandler (error, socket) {
        seen.push(String((error as Error & { code?: string }).code))
        socket.terminate()
      }
    })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat/ws`, { headers: { 'x-user': 'alice' } })
  const next = frames(ws) // listening before the socket opens
  await next('ready')
  const closed = once(ws, 'close')
  ws.send(JSON.stringify({ type: 'ping', ref: 'x'.repeat(500) })) // over the host's maxPayload
  const [code] = await closed
  t.ok(code === 1009 || code === 1006, `closed (${String(code)})`)
  t.same(seen, ['WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'], 'the host\'s errorHandler saw it, once')
})

t.test('the 101 response and `ready` leave in one write; a host\'s own WebSocket route on the same server is left as it is', async (t) => {
  const app = await host(t, async (app) => {
    await app.register(websocket)
    app.get('/host/ws', { websocket: true }, (socket) => { socket.send('hello') })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const writes = writesOf(app.server)
  const { port } = app.server.address() as { port: number }

  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat/ws`, { headers: { 'x-user': 'alice' } })
  t.teardown(() => { ws.terminate() })
  await frames(ws)('ready')
  const chatWrites = writes.get('/chat/ws') ?? []
  t.match(chatWrites[0], /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\n[^]*\{"type":"ready","userId":"alice"/, 'the first write holds both')

  const own = new WebSocket(`ws://127.0.0.1:${port}/host/ws`)
  t.teardown(() => { own.terminate() })
  const [hello] = await once(own, 'message')
  t.equal(String(hello), 'hello')
  const hostWrites = writes.get('/host/ws') ?? []
  t.match(hostWrites[0], /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\n$/, 'the host\'s 101 went alone, as `ws` writes it')
})

t.test('over TLS too, the 101 response and `ready` leave in one write', async (t) => {
  const dir = t.testdir()
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')]
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
  const app = Fastify({ logger: false, https: { key: readFileSync(key), cert: readFileSync(cert) } })
  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    Object.assign(request, { user: { id: 'alice', name: 'alice', roles: [] } })
  })
  await app.register(chat, { storage: 'memory' })
  t.teardown(async () => { await app.close() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const writes = writesOf(app.server)
  const { port } = app.server.address() as { port: number }
  const ws = new WebSocket(`wss://127.0.0.1:${port}/chat/ws`, { rejectUnauthorized: false })
  t.teardown(() => { ws.terminate() })
  t.match(await frames(ws)('ready'), { userId: 'alice' })
  t.match(writes.get('/chat/ws')?.[0], /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\n[^]*\{"type":"ready","userId":"alice"/, 'the first write holds both')
})
