import { createHmac } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import t from 'tap'
import WebSocket from 'ws'
import { loadConfig } from '../../examples/config.ts'
import { createConversation, startApp, TestClient, type TestApp } from '../helpers/app.ts'

/**
 * What happens around a user's credentials: the socket closes (4001) when the token expires, soft launch
 * (`allow`) keeps users out with 403, and security events land in the audit log.
 */

/** The example host's secret in tests (no JWT_SECRET in the environment given to loadConfig). */
const SECRET = loadConfig({}).jwtSecret

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** An HS256 JWT as the example host signs them, with the `exp` (seconds since the epoch) we choose. */
function signJwt (payload: Record<string, unknown>, exp: number): string {
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ ...payload, iat: Math.floor(Date.now() / 1000), exp })}`
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`
}

/** The HTTP status a WebSocket upgrade is refused with (or 101 when it opens). */
async function upgradeStatus (url: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate() })
    ws.on('open', () => { resolve(101); ws.close() })
    ws.on('error', (err) => { if (!err.message.includes('Unexpected server response')) reject(err) })
  })
}

/** Polls the audit log (as an admin) until an entry matches; fails after `ms`. */
async function auditEntry (ta: TestApp, match: (e: any) => boolean, ms = 3000): Promise<any> {
  const token = await ta.token('root', { admin: true })
  const deadline = Date.now() + ms
  for (;;) {
    const res = await ta.request('GET', '/chat/admin/audit', { token })
    const found = (res.body.items as any[]).find(match)
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`no matching audit entry within ${ms} ms: ${JSON.stringify(res.body.items)}`)
    await delay(10)
  }
}

t.test('token expiry', async (t) => {
  t.test('a socket opened with a token is closed with 4001 when the token expires, and the close is audited', async (t) => {
    const ta = await startApp(t)
    const conv = await createConversation(ta, 'alice')
    const exp = Math.floor(Date.now() / 1000) + 2 // expires in 1 to 2 s
    const token = signJwt({ id: 'alice', name: 'Alice', roles: [] }, exp)
    const alice = new TestClient(`${ta.wsUrl}?access_token=${token}`)
    t.teardown(() => { alice.close() })
    await alice.next((f) => f.type === 'ready')
    t.match(await alice.call({ type: 'join', conversationId: conv.id }), { type: 'joined' }, 'works while the token is valid')
    const closed = await alice.closedWithin(4000)
    t.equal(closed.code, 4001, 'closed: token expired')
    t.ok(Date.now() >= exp * 1000, 'not before the token\'s exp')
    const entry = await auditEntry(ta, (e) => e.action === 'socket.closed')
    t.match(entry, { actor: 'alice', action: 'socket.closed', target: /\S/, details: { code: 4001, reason: /expired/, ip: '127.0.0.1' } })
  })

  t.test('an already expired token is refused at the upgrade by the host (401) and audited', async (t) => {
    const ta = await startApp(t)
    const token = signJwt({ id: 'alice', name: 'Alice', roles: [] }, Math.floor(Date.now() / 1000) - 10)
    t.equal(await upgradeStatus(`${ta.wsUrl}?access_token=${token}`), 401)
    const entry = await auditEntry(ta, (e) => e.action === 'auth.unauthorized')
    t.match(entry, { actor: 'anonymous', target: 'GET /chat/ws' })
    t.match(entry, { details: { ip: '127.0.0.1' } }, 'the address of a refused upgrade is recorded')
    t.notMatch(JSON.stringify(entry), /access_token|eyJ/, 'the token in the query string is not logged')
  })
})

t.test('a host whose auth does not check expiry: the plugin refuses an expired user (401) and never registers their socket', async (t) => {
  const ta = await startApp(t, { identify: (request) => ({ id: 'alice', name: 'Alice', roles: [], expiresAt: Date.now() - 1000 }) })
  t.equal((await ta.request('GET', '/chat/conversations')).status, 401, 'REST')
  t.equal(await upgradeStatus(ta.wsUrl), 401, 'the upgrade')
  const health = await ta.request('GET', '/chat/health')
  t.equal(health.body.connections, 0, 'no socket left registered (nor the user online)')
})

t.test('an expiry given in milliseconds is read as milliseconds: the socket still closes with 4001 on time', async (t) => {
  const ta = await startApp(t, { user: { expires: 'until' } })
  const conv = await createConversation(ta, 'alice')
  const until = Date.now() + 1500
  const token = signJwt({ id: 'alice', name: 'Alice', roles: [], until }, Math.floor(Date.now() / 1000) + 3600)
  const alice = new TestClient(`${ta.wsUrl}?access_token=${token}`)
  t.teardown(() => { alice.close() })
  await alice.next((f) => f.type === 'ready')
  t.match(await alice.call({ type: 'join', conversationId: conv.id }), { type: 'joined' })
  const closed = await alice.closedWithin(5000)
  t.equal(closed.code, 4001)
  t.ok(Date.now() >= until, 'not before it')
})

t.test('soft launch: allow(user, request)', async (t) => {
  const variants = {
    sync: (user: { id: string }) => user.id !== 'mallory',
    async: async (user: { id: string }) => { await Promise.resolve(); return user.id !== 'mallory' }
  }
  for (const [name, allow] of Object.entries(variants)) {
    t.test(`a user a ${name} allow() refuses gets 403 on REST and on the upgrade; an allowed one works`, async (t) => {
      const seen: string[] = []
      const ta = await startApp(t, { allow: (user, request) => { seen.push(`${user.id} ${request.method}`); return allow(user) } })
      const mallory = await ta.token('mallory')
      for (const [method, url, body] of [['GET', '/chat/conversations'], ['POST', '/chat/conversations', { title: 'x' }], ['GET', '/chat/conversations/nope/messages']] as const) {
        const res = await ta.request(method, url, { token: mallory, body })
        t.equal(res.status, 403, `${method} ${url}`)
        t.match(res.body, { statusCode: 403, code: 'FORBIDDEN', error: 'Forbidden', message: /not enabled/ })
      }
      t.equal(await upgradeStatus(`${ta.wsUrl}?access_token=${mallory}`), 403, 'the WebSocket upgrade is refused')
      t.same((await ta.request('GET', '/chat/conversations', { token: await ta.token('alice') })).body.items, [], 'nothing was created by mallory')

      const conv = await createConversation(ta, 'alice')
      const alice = await ta.connect('alice')
      t.match(await alice.call({ type: 'join', conversationId: conv.id }), { type: 'joined' }, 'an allowed user works')
      t.ok(seen.includes('mallory GET') && seen.includes('alice POST'), 'allow() is given the user and the request')
      const entry = await auditEntry(ta, (e) => e.action === 'auth.forbidden')
      t.match(entry, { actor: 'mallory', details: { ip: '127.0.0.1' } })
    })
  }
})

t.test('security audit', async (t) => {
  t.test('a 401 on the upgrade and a 403 on an admin route are audited with actor, action, target and ip', async (t) => {
    const ta = await startApp(t)
    t.equal(await upgradeStatus(ta.wsUrl), 401)
    t.equal((await ta.request('GET', '/chat/admin/connections', { token: await ta.token('alice') })).status, 403)
    const upgrade = await auditEntry(ta, (e) => e.action === 'auth.unauthorized')
    t.match(upgrade, { actor: 'anonymous', action: 'auth.unauthorized', target: 'GET /chat/ws' })
    t.match(upgrade, { details: { ip: '127.0.0.1' } }, 'the address of a refused upgrade is recorded')
    t.match(await auditEntry(ta, (e) => e.action === 'admin.forbidden'), { actor: 'alice', target: 'GET /chat/admin/connections', details: { ip: '127.0.0.1' } })
  })

  t.test('a slow consumer close is audited', async (t) => {
    const ta = await startApp(t, { limits: { maxBufferedBytes: 1024 }, rateLimit: { max: 0 } })
    const conv = await createConversation(ta, 'alice', ['bob'])
    const bob = await ta.connect('bob')
    await bob.call({ type: 'join', conversationId: conv.id })
    bob.ws.pause() // bob stops reading: what alice sends piles up in his outbound buffer
    const alice = await ta.connect('alice')
    await alice.call({ type: 'join', conversationId: conv.id })
    // Until the kernel's buffers are full and the server sees bob's backlog (a condition, polled).
    const content = 'x'.repeat(15_000)
    const admin = await ta.token('root', { admin: true })
    let entry: any
    for (let i = 0; i < 5000 && entry === undefined; i++) {
      const reply = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: `m${i}`, content })
      if (reply.type !== 'ack') throw new Error(`send ${i} was not acked: ${JSON.stringify(reply)}`)
      if (i % 20 !== 19) continue
      const audit = await ta.request('GET', '/chat/admin/audit', { token: admin })
      entry = (audit.body.items as any[]).find((e) => e.action === 'socket.closed')
    }
    t.match(entry, { actor: 'bob', action: 'socket.closed', details: { code: 4029, reason: 'slow consumer', ip: '127.0.0.1' } })
  })

  t.test('a flood of 401s from one address is one entry per 10 s window, the next one counting the repeats', async (t) => {
    const ta = await startApp(t)
    for (let i = 0; i < 20; i++) t.equal((await ta.request('GET', '/chat/conversations')).status, 401)
    const token = await ta.token('root', { admin: true })
    const entries = async (): Promise<any[]> => ((await ta.request('GET', '/chat/admin/audit', { token })).body.items as any[]).filter((e) => e.action === 'auth.unauthorized')
    await auditEntry(ta, (e) => e.action === 'auth.unauthorized')
    t.equal((await entries()).length, 1, 'one entry for the 20 refusals')
    t.notOk((await entries())[0].details.repeats, 'the first says nothing of repeats')

    // The window passes: the clock moves 10 s on (Date.now only; every timer stays real).
    const now = Date.now
    const shift = 10_001
    Date.now = () => now() + shift
    t.teardown(() => { Date.now = now })
    t.equal((await ta.request('GET', '/chat/conversations')).status, 401)
    const entry = await auditEntry(ta, (e) => e.action === 'auth.unauthorized' && e.details.repeats !== undefined)
    t.match(entry, { actor: 'anonymous', target: 'GET /chat/conversations', details: { ip: '127.0.0.1', repeats: 19 } })
    t.equal((await entries()).length, 2, 'two entries in all')
  })
})
