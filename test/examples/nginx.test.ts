import type { FastifyInstance } from 'fastify'
import { existsSync, readFileSync } from 'node:fs'
import { test, type Test } from 'tap'
import WebSocket from 'ws'
import { buildApp } from '../../examples/app.ts'
import { loadConfig } from '../../examples/config.ts'
import { ChatClient, type ChatClientState, type Message } from '../../lib/client/index.ts'
import type { WebSocketLike } from '../../lib/client/socket.ts'
import { ChatOptionsSchema } from '../../lib/options.ts'
import { createConversation, startApp } from '../helpers/app.ts'
import { CHAT_CONF, locationDirectives, NGINX, nginxMs, startNginx } from '../helpers/nginx.ts'

// The example host behind a real nginx configured from the deployment guide's docs/nginx.conf: the upgrade,
// idle timeouts against the chat's heartbeat, a reload under traffic, and the client's address. Waits on
// frames, events and processes; every wait has a bound.

function portOf (app: FastifyInstance): number {
  const address = app.server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}

/** Resolves when `check` holds, re-checked whenever `poke` is called; fails after `ms`. */
function conditions (): { poke: () => void, until: (check: () => boolean, what: string, ms?: number) => Promise<void> } {
  const waiters = new Set<() => void>()
  return {
    poke () { for (const w of [...waiters]) w() },
    async until (check, what, ms = 20_000) {
      if (check()) return
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(w); reject(new Error(`not reached within ${ms} ms: ${what}`)) }, ms)
        const w = (): void => { if (check()) { clearTimeout(timer); waiters.delete(w); resolve() } }
        waiters.add(w)
      })
    }
  }
}

/** The promise's value, or a failure naming `what` after `ms` (a deadline, not a wait). */
async function within<T> (promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`not within ${ms} ms: ${what}`)) }, ms) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves when the client reaches `state`; fails after `ms`. */
async function nextState (client: ChatClient, state: ChatClientState, ms = 10_000): Promise<void> {
  if (client.state === state) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`client not ${state} within ${ms} ms (it is ${client.state})`)) }, ms)
    const off = client.on('state', (s) => { if (s === state) { clearTimeout(timer); off(); resolve() } })
  })
}

/** A raw `ws` socket through the proxy that counts the server's WebSocket pings (`ws` answers each with a pong). */
function idleSocket (t: Test, url: string): { ws: WebSocket, pings: () => number, ready: Promise<void>, pinged: (n: number, ms: number) => Promise<void>, closed: Promise<number> } {
  const ws = new WebSocket(url)
  t.teardown(() => { ws.terminate() })
  let pings = 0
  const waits = conditions()
  ws.on('ping', () => { pings++; waits.poke() })
  const ready = new Promise<void>((resolve, reject) => {
    ws.once('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string }
      if (frame.type === 'ready') resolve()
      else reject(new Error(`first frame ${frame.type}`))
    })
    ws.once('error', reject)
  })
  const closed = new Promise<number>((resolve) => { ws.once('close', (code) => { waits.poke(); resolve(code) }) })
  return {
    ws,
    pings: () => pings,
    ready,
    closed,
    async pinged (n, ms) {
      await waits.until(() => {
        if (ws.readyState !== WebSocket.OPEN) throw new Error(`socket closed after ${pings} pings`)
        return pings >= n
      }, `${n} pings`, ms)
    }
  }
}

const missing = existsSync(NGINX) ? undefined : `no nginx at ${NGINX} (install Debian's nginx, or set NGINX_PATH)`
const ci = process.env.CI !== undefined && process.env.CI !== ''

if (missing !== undefined && ci) {
  test('the nginx test has an nginx in CI', async (t) => { t.fail(missing) })
} else if (missing !== undefined) {
  console.log(`# nginx tests skipped: ${missing}`)
  test('nginx in front of the example host', { skip: missing }, async () => {})
} else {
  const template = readFileSync(CHAT_CONF, 'utf8')
  const defaultHeartbeatMs = ChatOptionsSchema.properties.heartbeatMs.default as number

  test('docs/nginx.conf: the idle timeouts of the long-lived locations are above the default heartbeatMs', async (t) => {
    for (const location of ['= /chat/ws', '= /chat/events']) {
      const directives = locationDirectives(template, location)
      const timeout = directives.get('proxy_read_timeout')
      t.ok(timeout !== undefined && nginxMs(timeout) > defaultHeartbeatMs, `${location}: proxy_read_timeout ${timeout ?? '(unset: 60s)'} > ${defaultHeartbeatMs} ms`)
    }
    t.equal(locationDirectives(template, '= /chat/events').get('proxy_buffering'), 'off', 'server-sent events are not buffered')
  })

  test('through nginx: sign-in and the page, REST, the WebSocket upgrade, send → ack → delivered to the other user', async (t) => {
    const ta = await startApp(t)
    const nginx = await startNginx(t, { upstreamPort: portOf(ta.app) })
    const http = `http://127.0.0.1:${nginx.port}`

    const page = await fetch(`${http}/`)
    t.equal(page.status, 200, 'the host\'s page')
    const login = async (userId: string): Promise<string> => {
      const res = await fetch(`${http}/auth/dev-login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId }) })
      return ((await res.json()) as { token: string }).token
    }

    const url = `ws://127.0.0.1:${nginx.port}/chat/ws`
    const alice = new ChatClient({ url, token: await login('alice'), WebSocket })
    const bob = new ChatClient({ url, token: await login('bob'), WebSocket, tokenIn: 'header' })
    t.teardown(() => { alice.close(); bob.close() })
    const conv = await within(alice.rest.createConversation({ title: 'through nginx', participants: ['bob'] }), 'a conversation created through nginx')
    const received = conditions()
    const bobSaw: Message[] = []
    bob.on('message', (m) => { bobSaw.push(m); received.poke() })
    await within(bob.join(conv.id), 'bob joins through nginx')
    await within(alice.join(conv.id), 'alice joins through nginx')
    t.equal(alice.ready?.userId, 'alice', 'the upgrade went through: the socket\'s ready frame')

    const ack = await within(alice.send(conv.id, 'hello through the proxy'), 'the ack through nginx')
    await received.until(() => bobSaw.some((m) => m.seq === ack.seq), 'bob has the message')
    t.match(bobSaw.find((m) => m.seq === ack.seq), { content: 'hello through the proxy', sender: { id: 'alice' } })
    const history = await bob.rest.messages(conv.id)
    t.equal(history.filter((m) => m.id === ack.messageId).length, 1, 'REST history through the proxy has it once')
  })

  test('an idle socket outlives several proxy_read_timeouts: the chat\'s heartbeat crosses the proxy', async (t) => {
    const ta = await startApp(t, { heartbeatMs: 250 })
    const nginx = await startNginx(t, { upstreamPort: portOf(ta.app), readTimeout: '1s' })
    const socket = idleSocket(t, `ws://127.0.0.1:${nginx.port}/chat/ws?access_token=${await ta.token('alice')}`)
    await socket.ready
    const started = Date.now()
    // The client sends nothing but the pongs `ws` answers pings with: 16 pings at 250 ms are 4 s, four idle timeouts.
    await socket.pinged(16, 20_000)
    const idle = Date.now() - started
    t.ok(idle >= 3000, `open after ${idle} ms idle, more than 3 timeouts of 1 s`)
    t.equal(socket.ws.readyState, WebSocket.OPEN)
  })

  test('with heartbeatMs above proxy_read_timeout, nginx cuts an idle socket (what the heartbeat prevents)', async (t) => {
    const ta = await startApp(t, { heartbeatMs: 5000 })
    const nginx = await startNginx(t, { upstreamPort: portOf(ta.app), readTimeout: '1s' })
    const socket = idleSocket(t, `ws://127.0.0.1:${nginx.port}/chat/ws?access_token=${await ta.token('alice')}`)
    await socket.ready
    const started = Date.now()
    let timer: NodeJS.Timeout | undefined
    const code = await Promise.race([
      socket.closed,
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('nginx did not cut the idle socket within 4 s')) }, 4000) })
    ])
    clearTimeout(timer)
    const after = Date.now() - started
    t.equal(code, 1006, 'cut without a close frame')
    t.equal(socket.pings(), 0, 'before the first ping')
    // nginx re-arms a timer only when it moves by 300 ms or more (NGX_TIMER_LAZY_DELAY): it may fire that much early.
    t.ok(after >= 600, `at the 1 s idle timeout (${after} ms)`)
    t.match(nginx.errors(), /upstream timed out/, 'nginx says why')
  })

  test('nginx reload under traffic: the client resumes through the new workers, every message once and in order, its own sends stored once', async (t) => {
    const ta = await startApp(t, { rateLimit: { max: 0 } })
    const nginx = await startNginx(t, { upstreamPort: portOf(ta.app) })
    const conv = await createConversation(ta, 'alice', ['bob'])
    const progress = conditions()

    // Alice's sockets; the acks that reach the one marked lossy are dropped, as if lost in the cut.
    const sockets: LossySocket[] = []
    const lossy = new Set<LossySocket>()
    const swallowed: string[] = []
    class LossySocket implements WebSocketLike {
      private readonly ws: WebSocket
      onmessage: ((event: { data: unknown }) => void) | null = null
      onclose: ((event: { code: number }) => void) | null = null
      onerror: ((event: unknown) => void) | null = null
      constructor (url: string, options?: WebSocket.ClientOptions) {
        this.ws = new WebSocket(url, options)
        sockets.push(this)
        this.ws.onmessage = (event) => {
          const frame = JSON.parse(String(event.data)) as { type: string, clientMessageId?: string }
          if (lossy.has(this) && frame.type === 'ack') {
            swallowed.push(frame.clientMessageId ?? '')
            return
          }
          this.onmessage?.(event)
        }
        this.ws.onclose = (event) => { this.onclose?.(event) }
        this.ws.onerror = (event) => { this.onerror?.(event) }
      }

      get readyState (): number { return this.ws.readyState }
      send (data: string): void { this.ws.send(data) }
      close (code?: number, reason?: string): void { this.ws.close(code, reason) }
    }

    const alice = new ChatClient({
      url: `ws://127.0.0.1:${nginx.port}/chat/ws`,
      token: await ta.token('alice'),
      WebSocket: LossySocket,
      reconnect: { initialDelayMs: 50, maxDelayMs: 500 }
    })
    t.teardown(() => { alice.close() })
    const seen: Message[] = []
    alice.on('message', (m) => { seen.push(m); progress.poke() })
    const states: ChatClientState[] = []
    const bobAcked: string[] = []
    // Sends made while the socket is down wait in the client and go out, once, when it is back.
    const offline: Array<Promise<unknown>> = []
    const away: Array<Promise<Record<string, any>>> = []
    alice.on('state', (s) => {
      states.push(s)
      if (s === 'reconnecting' && offline.length === 0) {
        for (let k = 0; k < 3; k++) {
          offline.push(alice.send(conv.id, `alice offline ${k}`, { clientMessageId: `alice-offline-${k}` }).catch((err: unknown) => err))
        }
        // And bob says more while she is away, which her rejoin must replay.
        for (let k = 0; k < 5; k++) away.push(bob.call({ type: 'send', conversationId: conv.id, clientMessageId: `bob-away-${k}`, content: `bob away ${k}` }))
      }
      progress.poke()
    })
    await within(alice.join(conv.id), 'alice joins through nginx')

    // Bob talks to the host directly, so his sends go on while alice's proxy reloads. Both send about every
    // 20 ms (a pace, so that the conversation stays a few hundred messages long).
    const bob = await ta.connect('bob')
    await bob.call({ type: 'join', conversationId: conv.id })
    let stop = false
    t.teardown(() => { stop = true })
    const aliceAcked: string[] = []
    const pace = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 20)) }
    const bobLoop = (async () => {
      // eslint-disable-next-line no-unmodified-loop-condition -- set by the test once enough went through
      for (let i = 0; !stop; i++) {
        const reply = await bob.call({ type: 'send', conversationId: conv.id, clientMessageId: `bob-${i}`, content: `bob ${i}` })
        if (reply.type !== 'ack') throw new Error(`bob's send ${i}: ${JSON.stringify(reply)}`)
        bobAcked.push(`bob-${i}`)
        progress.poke()
        await pace()
      }
    })()
    const aliceLoop = (async () => {
      // eslint-disable-next-line no-unmodified-loop-condition -- set by the test once enough went through
      for (let i = 0; !stop; i++) {
        const ack = await alice.send(conv.id, `alice ${i}`, { clientMessageId: `alice-${i}` })
        aliceAcked.push(ack.clientMessageId)
        progress.poke()
        await pace()
      }
    })()

    await progress.until(() => bobAcked.length >= 10 && aliceAcked.length >= 5, 'traffic before the reload')
    const oldWorkers = nginx.workers()
    const atReload = bobAcked.length
    const dropped = nextState(alice, 'reconnecting')
    lossy.add(sockets[sockets.length - 1])
    await nginx.reload()
    await dropped // the old worker drops its sockets after worker_shutdown_timeout (1 s)
    await nextState(alice, 'open')
    const atOpen = { bob: bobAcked.length, alice: aliceAcked.length }
    await progress.until(() => bobAcked.length >= atOpen.bob + 10 && aliceAcked.length >= atOpen.alice + 5, 'traffic after the reload')
    stop = true
    await within(Promise.all([bobLoop, aliceLoop]), 'the last sends acked')
    const offlineAcks = await within(Promise.all(offline), 'the sends made while reconnecting acked')
    t.match(await within(Promise.all(away), 'bob\'s sends while alice was away acked'), Array.from({ length: 5 }, () => ({ type: 'ack' })), 'bob\'s sends while alice was away were acked')

    // Old workers are gone and alice's socket is open: a new worker's.
    await progress.until(() => {
      const now = nginx.workers()
      return oldWorkers.every((w) => !now.includes(w))
    }, 'the old workers exit', 10_000)
    t.equal(alice.state, 'open')
    t.ok(sockets.length >= 2, `reconnected (${sockets.length - 1} connect(s) after the first)`)

    const stored: Message[] = []
    for (let after = 0; ;) {
      const res = await ta.request('GET', `/chat/conversations/${conv.id}/messages?after=${after}&limit=500`, { token: await ta.token('alice') })
      const page = res.body.items as Message[]
      if (page.length === 0) break
      stored.push(...page)
      after = page[page.length - 1].seq
    }
    const lastSeq = stored[stored.length - 1].seq
    await progress.until(() => seen.length > 0 && seen[seen.length - 1].seq >= lastSeq, `alice has every message up to seq ${lastSeq}`)

    t.ok(atOpen.bob > atReload, `bob sent between the reload and alice's return (${atOpen.bob - atReload} messages)`)
    t.same(stored.map((m) => m.seq), Array.from({ length: stored.length }, (_, i) => i + 1), 'storage: seq 1..N')
    t.same(seen.map((m) => m.seq), stored.map((m) => m.seq), `alice saw every stored message once, in seq order (${stored.length})`)
    const count = (id: string): number => stored.filter((m) => m.clientMessageId === id).length
    t.ok(swallowed.length >= 1, `a send stored before the cut had its ack lost (${swallowed.join(', ')})`)
    t.same(swallowed.filter((id) => !aliceAcked.includes(id)), [], 'resent, it was acked on the new socket')
    t.match(offlineAcks, [{ seq: Number }, { seq: Number }, { seq: Number }], 'the sends made while reconnecting were acked')
    const aliceIds = [...aliceAcked, 'alice-offline-0', 'alice-offline-1', 'alice-offline-2']
    t.same(aliceIds.filter((id) => count(id) !== 1), [], 'each of alice\'s sends is stored once')
    t.equal(stored.filter((m) => m.sender.id === 'alice').length, aliceIds.length, 'and nothing else of hers')
    t.same([...bobAcked, ...away.map((_, k) => `bob-away-${k}`)].filter((id) => count(id) !== 1), [], 'each of bob\'s sends is stored once')
  })

  /** Reads a server-sent-events body: its events (`id`, `event`, `data` parsed) and its comment lines, as they come. */
  function eventReader (t: Test, body: ReadableStream<Uint8Array>): { events: Array<{ id?: string, event?: string, data: any, at: number }>, comments: () => number, until: (check: () => boolean, what: string, ms?: number) => Promise<void> } {
    const events: Array<{ id?: string, event?: string, data: any, at: number }> = []
    let comments = 0
    let ended = false
    const waits = conditions()
    const reader = body.getReader()
    t.teardown(async () => { await reader.cancel().catch(() => {}) })
    void (async () => {
      const decoder = new TextDecoder()
      let text = ''
      try {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          text += decoder.decode(value, { stream: true })
          let end: number
          while ((end = text.indexOf('\n\n')) !== -1) {
            const block = text.slice(0, end)
            text = text.slice(end + 2)
            const event: { id?: string, event?: string, data: any, at: number } = { data: undefined, at: Date.now() }
            let comment = true
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue
              comment = false
              const colon = line.indexOf(': ')
              const field = line.slice(0, colon)
              const value = line.slice(colon + 2)
              if (field === 'data') event.data = JSON.parse(value)
              else if (field === 'id' || field === 'event') event[field] = value
            }
            if (comment) comments++
            else events.push(event)
          }
          waits.poke()
        }
      } catch {}
      ended = true
      waits.poke()
    })()
    return {
      events,
      comments: () => comments,
      async until (check, what, ms) {
        await waits.until(() => {
          if (check()) return true
          if (ended) throw new Error(`the stream ended before: ${what}`)
          return false
        }, what, ms)
      }
    }
  }

  test('server-sent events through nginx: not buffered (a message arrives as it is sent), heartbeat comments keep it past proxy_read_timeout', async (t) => {
    const ta = await startApp(t, { heartbeatMs: 250 })
    const nginx = await startNginx(t, { upstreamPort: portOf(ta.app), readTimeout: '1s' })
    const conv = await createConversation(ta, 'alice', ['bob'])
    const token = await ta.token('bob')
    const controller = new AbortController()
    t.teardown(() => { controller.abort() })
    const res = await fetch(`http://127.0.0.1:${nginx.port}/chat/events?conversationId=${conv.id}`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal })
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type'), /^text\/event-stream/)
    const stream = eventReader(t, res.body as ReadableStream<Uint8Array>)
    await stream.until(() => stream.events.some((e) => e.data?.type === 'joined'), 'ready and joined')
    t.equal(stream.events[0].data.type, 'ready')

    const from = stream.comments()
    const started = Date.now()
    await stream.until(() => stream.comments() >= from + 16, '16 heartbeat comments', 20_000)
    const idle = Date.now() - started
    t.ok(idle >= 3000, `open after ${idle} ms with nothing but heartbeat comments, more than 3 timeouts of 1 s`)

    const sent = await ta.request('POST', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice'), body: { clientMessageId: 'sse-1', content: 'through the proxy, at once' } })
    t.equal(sent.status, 201)
    const storedAt = Date.now()
    const seq = sent.body.seq as number
    await stream.until(() => stream.events.some((e) => e.data?.type === 'message' && e.data.message.seq === seq), 'the message event', 5000)
    const event = stream.events.find((e) => e.data?.type === 'message' && e.data.message.seq === seq)
    t.equal(event?.id, String(seq), 'the event carries its seq as id')
    const delay = (event?.at ?? Infinity) - storedAt
    t.ok(delay < 1000, `the event left nginx as it was written (${delay} ms after the 201), not when a buffer filled`)
  })

  /** The example host with TRUST_PROXY as given, behind nginx; the address its audit log records for a refused upgrade. */
  async function auditedAddress (t: Test, trustProxy: string | undefined): Promise<string | undefined> {
    const app = await buildApp({ config: loadConfig({ CHAT_STORAGE: 'memory', ...(trustProxy === undefined ? {} : { TRUST_PROXY: trustProxy }) }) })
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(async () => { await app.close() })
    const nginx = await startNginx(t, { upstreamPort: portOf(app) })
    // From another loopback address than nginx's own, with an X-Forwarded-For of the client's invention.
    const ws = new WebSocket(`ws://127.0.0.1:${nginx.port}/chat/ws`, { localAddress: '127.0.0.2', headers: { 'x-forwarded-for': '203.0.113.9' } })
    t.teardown(() => { ws.terminate() })
    const status = await new Promise<number>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0) })
      ws.once('open', () => { reject(new Error('upgraded without a token')) })
      ws.once('error', reject)
    })
    t.equal(status, 401, 'no token, no upgrade')
    const admin = (await app.inject({ method: 'POST', url: '/auth/dev-login', payload: { userId: 'root', admin: true } })).json().token as string
    // The refusal is audited as its response ends, and stored a moment later: read the log until the row is there.
    const deadline = Date.now() + 5000
    for (;;) {
      const res = await app.inject({ method: 'GET', url: '/chat/admin/audit', headers: { authorization: `Bearer ${admin}` } })
      const row = (res.json().items as Array<{ action: string, target?: string, details?: { ip?: string } }>)
        .find((r) => r.action === 'auth.unauthorized' && r.target === 'GET /chat/ws')
      if (row !== undefined) return row.details?.ip
      if (Date.now() > deadline) throw new Error('the refused upgrade was not audited within 5 s')
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  test('the client\'s address through nginx: X-Forwarded-For, read as far as TRUST_PROXY trusts', async (t) => {
    t.equal(await auditedAddress(t, '127.0.0.1'), '127.0.0.2', 'TRUST_PROXY=<nginx\'s address>: the address nginx saw, not what the client claimed')
    t.equal(await auditedAddress(t, '10.0.0.0/8,127.0.0.1'), '127.0.0.2', 'TRUST_PROXY as a list of addresses and CIDRs: the same')
    t.throws(() => loadConfig({ TRUST_PROXY: '1' }), /not a hop count/, 'a hop count is refused (Fastify 5 would read it as the address 0.0.0.1)')
    t.equal(await auditedAddress(t, undefined), '127.0.0.1', 'no TRUST_PROXY: nginx\'s own address')
    t.equal(await auditedAddress(t, 'true'), '203.0.113.9', 'TRUST_PROXY=true trusts every hop: whatever the client put in X-Forwarded-For')
  })
}
