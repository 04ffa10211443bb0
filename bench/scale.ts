// bench/scale: several instances of the example host on one PostgreSQL and one Redis, as docs/scaling.md
// deploys them. Two processes, A and B (`node --import ./bench/compiled.mjs examples/server.ts`, CHAT_STORAGE=postgres in a
// schema of this run's own, dropped at the end; REDIS_URL with a pub/sub channel of this run's own;
// CHAT_RATE_LIMIT=0). Every client is in this process, on loopback. One table:
//   latency    one sender on A, one message at a time, alternating between two conversations: one whose
//              receivers are on A (same instance), one whose receivers are on B (cross: through Redis).
//              send → every receiver of that conversation has it; p50/p99 and cross / same.
//   sends      acked sends per second: S sockets, W frames in flight each, into one conversation (all on A;
//              half on A, half on B), and into 100 conversations (half the sockets on each instance).
//   deliveries message frames to receivers per second: 8 senders on A burst into one conversation whose R
//              receivers are all on A (1 instance), or split half on A, half on B (2 instances).
//
//   npx tsx bench/scale.ts [--senders 32] [--window 16] [--sends 300] [--latency 300] [--receivers 64]
//                          [--burst 100] [--rounds 3] [--timeout 300]
//   DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres), REDIS_URL (redis://127.0.0.1:6379)
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { availableParallelism } from 'node:os'
import { createInterface } from 'node:readline'
import pg from 'pg'
import WebSocket, { type RawData } from 'ws'
import { children, COMPILED, NODE_ARGS, postJson } from './processes.ts'
import { median, pct } from './stats.ts'

function arg (name: string, fallback: string): number {
  const i = process.argv.indexOf(`--${name}`)
  const value = Number(i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback)
  if (!Number.isInteger(value) || value < 1) {
    console.error(`scale: --${name} must be an integer >= 1`)
    process.exit(2)
  }
  return value
}
const SENDERS = arg('senders', '32')
const WINDOW = arg('window', '16')
const SENDS = arg('sends', '300') // per sender per round
const LATENCY = arg('latency', '300') // messages per conversation (same, cross)
const RECEIVERS = arg('receivers', '64')
const BURST = arg('burst', '100') // per burst sender per round
const ROUNDS = arg('rounds', '3')
const TIMEOUT_S = arg('timeout', '300')
const LAT_RECEIVERS = 10
const BURST_SENDERS = 8
const CONVERSATIONS = 100
// The example host keeps the default limits: 100 participants a conversation, 1024 frames queued a socket.
if (SENDERS > 99 || RECEIVERS + BURST_SENDERS > 100) {
  console.error('scale: a conversation has at most 100 participants (--senders ≤ 99, --receivers ≤ 92)')
  process.exit(2)
}
if (WINDOW > 1000 || BURST > 1000) {
  console.error('scale: --window and --burst at most 1000 (a socket queues 1024 frames)')
  process.exit(2)
}

const ROOT = new URL('..', import.meta.url).pathname
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const RUN = randomUUID().replace(/-/g, '').slice(0, 12)
const SCHEMA = `bench_scale_${RUN}`
const ENV = {
  PORT: '0',
  LOG_LEVEL: 'info', // "Server listening at" is an info line
  CHAT_STORAGE: 'postgres',
  DATABASE_URL,
  CHAT_PG_SCHEMA: SCHEMA,
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  CHAT_REDIS_CHANNEL: `bench-scale-${RUN}`,
  CHAT_RATE_LIMIT: '0',
  JWT_SECRET: `bench-${randomUUID()}`,
  NODE_ENV: 'development' // dev-login on
}

interface Host { name: string, proc: ChildProcess, port: number }

/** An example-host process; resolves once it logs where it listens. Its log is drained and dropped. */
async function startHost (name: string): Promise<Host> {
  const proc = spawn(process.execPath, [...NODE_ARGS, ...COMPILED, 'examples/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...ENV },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  children.push(proc)
  const exited = once(proc, 'exit')
  const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream })
  const log: string[] = []
  for await (const line of lines) {
    const m = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line)
    if (m !== null) {
      lines.on('line', () => {})
      return { name, proc, port: Number(m[1]) }
    }
    log.push(line)
  }
  const [code, signal] = await exited as [number | null, string | null]
  throw new Error(`instance ${name} exited (${String(code ?? signal)}) before listening; its log:\n${log.slice(-10).join('\n')}`)
}

async function stopHost (host: Host): Promise<void> {
  if (host.proc.exitCode !== null) return
  const exited = once(host.proc, 'exit')
  host.proc.kill('SIGTERM')
  const timer = setTimeout(() => { host.proc.kill('SIGKILL') }, 5000)
  await exited
  clearTimeout(timer)
}

async function dropSchema (): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`)
  } finally {
    await client.end()
  }
}

const sockets = new Set<WebSocket>()
let closing = false
let failure: ((err: Error) => void) | undefined
/** Rejects on the first failure anywhere (an error frame, a closed socket), so no wait outlives it. */
const failed = new Promise<never>((resolve, reject) => { failure = reject })
failed.catch(() => {})
const fail = (err: Error): void => { failure?.(err) }

let hosts: Host[] = []
async function cleanUp (): Promise<void> {
  closing = true
  for (const ws of sockets) ws.terminate()
  await Promise.all(hosts.map(stopHost))
  await dropSchema()
}

const watchdog = setTimeout(() => {
  console.error(`scale: gave up after ${TIMEOUT_S} s (--timeout)`)
  cleanUp().catch((err: unknown) => { console.error(err) }).finally(() => process.exit(1))
}, TIMEOUT_S * 1000)
watchdog.unref()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { cleanUp().catch((err: unknown) => { console.error(err) }).finally(() => process.exit(130)) })
}

const MESSAGE = Buffer.from('{"type":"message"')
const ACK = Buffer.from('{"type":"ack"')
const ERROR = Buffer.from('{"type":"error"')
/** Whether a frame starts with `prefix`, compared as bytes: most frames are never turned into a string. */
const startsWith = (data: Buffer, prefix: Buffer): boolean =>
  data.length >= prefix.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0

/**
 * One socket of one user on one instance. Frames are told apart by their first bytes only, never parsed
 * nor decoded (and not checked as UTF-8): in one conversation every socket receives every message, and this
 * one process reads them all, on the same cores as the servers it measures.
 */
class Client {
  readonly ws: WebSocket
  readonly user: string
  onMessage: (data: Buffer) => void = () => {}
  onAck: () => void = () => {}
  private waiters: Array<{ prefix: string, resolve: () => void }> = []
  private closed = false

  constructor (host: Host, user: string, token: string) {
    this.user = user
    this.ws = new WebSocket(`ws://127.0.0.1:${host.port}/chat/ws?access_token=${token}`, { perMessageDeflate: false, skipUTF8Validation: true })
    sockets.add(this.ws)
    this.ws.on('message', (raw: RawData) => {
      const data = raw as Buffer // text frames, binaryType 'nodebuffer'
      if (startsWith(data, MESSAGE)) { this.onMessage(data); return }
      if (startsWith(data, ACK)) { this.onAck(); return }
      const text = data.toString()
      if (startsWith(data, ERROR)) { fail(new Error(`${user} on ${host.name} got ${text}`)); return }
      const i = this.waiters.findIndex((w) => text.startsWith(w.prefix))
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve()
    })
    this.ws.on('error', (err) => { fail(err) })
    this.ws.on('close', (code: number, reason: Buffer) => {
      sockets.delete(this.ws)
      // 4029: the server closed a socket this process read too slowly (limits.maxBufferedBytes).
      if (!closing && !this.closed) fail(new Error(`${user}'s socket on ${host.name} closed: ${code} ${reason.toString()}`))
    })
  }

  async until (prefix: string): Promise<void> {
    await Promise.race([new Promise<void>((resolve) => { this.waiters.push({ prefix, resolve }) }), failed])
  }

  async join (conversationId: string): Promise<void> {
    const joined = this.until('{"type":"joined"')
    this.ws.send(JSON.stringify({ type: 'join', conversationId }))
    await joined
  }

  close (): void {
    this.closed = true
    sockets.delete(this.ws)
    this.ws.close()
  }
}

const tokens = new Map<string, string>()
async function token (user: string): Promise<string> {
  let t = tokens.get(user)
  if (t === undefined) {
    t = (await postJson(`http://127.0.0.1:${hosts[0].port}`, '/auth/dev-login', { userId: user })).token as string
    tokens.set(user, t)
  }
  return t
}

async function conversation (owner: string, participants: string[], title: string): Promise<string> {
  const others = participants.filter((p) => p !== owner)
  return (await postJson(`http://127.0.0.1:${hosts[0].port}`, '/chat/conversations', { title, participants: others }, await token(owner))).id as string
}

async function connect (host: Host, user: string): Promise<Client> {
  const client = new Client(host, user, await token(user))
  await client.until('{"type":"ready"')
  return client
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)
const settle = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 200)) }
let frameCounter = 0
const sendFrame = (conversationId: string, content: string): string =>
  JSON.stringify({ type: 'send', conversationId, clientMessageId: `c${++frameCounter}`, content })

/** Latency: one sender on A; conversations `same` (receivers on A) and `cross` (receivers on B), alternating. */
async function latency (A: Host, B: Host): Promise<{ same: number[], cross: number[] }> {
  const sender = 'lat-sender'
  const groups = [
    { name: 'same', host: A, users: range(LAT_RECEIVERS).map((i) => `lat-same-${i}`) },
    { name: 'cross', host: B, users: range(LAT_RECEIVERS).map((i) => `lat-cross-${i}`) }
  ]
  const conv = await Promise.all(groups.map(async (g) => await conversation(sender, [sender, ...g.users], `latency ${g.name}`)))
  const s = await connect(A, sender)
  await Promise.all(conv.map(async (id) => { await s.join(id) }))
  const times: number[][] = [[], []]
  const receivers = await Promise.all(groups.map(async (g, gi) => await Promise.all(g.users.map(async (u) => {
    const c = await connect(g.host, u)
    await c.join(conv[gi])
    return c
  }))))
  let marker = ''
  let got = 0
  let done: () => void = () => {}
  for (const group of receivers) {
    for (const c of group) {
      c.onMessage = (data) => {
        if (!data.includes(marker)) { fail(new Error(`${c.user} expected ${marker}, got ${data.toString().slice(0, 200)}`)); return }
        if (++got === LAT_RECEIVERS) done()
      }
    }
  }
  const warmup = 50
  for (let k = 0; k < warmup + LATENCY; k++) {
    for (const gi of k % 2 === 0 ? [0, 1] : [1, 0]) {
      marker = `"content":"lat ${gi} ${k}"`
      got = 0
      const delivered = new Promise<void>((resolve) => { done = resolve })
      const t0 = performance.now()
      s.ws.send(sendFrame(conv[gi], `lat ${gi} ${k}`))
      await Promise.race([delivered, failed])
      if (k >= warmup) times[gi].push(performance.now() - t0)
    }
  }
  for (const c of [s, ...receivers.flat()]) c.close()
  return { same: times[0], cross: times[1] }
}

/** Acked sends per second: each sender keeps WINDOW frames in flight until it has SENDS acks. */
async function sends (clients: Client[], targets: (i: number, k: number) => string, perSender: number): Promise<number> {
  let t0 = 0
  await Promise.race([failed, Promise.all(clients.map(async (c, i) => {
    await new Promise<void>((resolve) => {
      let sent = 0
      let acked = 0
      c.onAck = () => {
        if (++acked === perSender) { resolve(); return }
        if (sent < perSender) { c.ws.send(sendFrame(targets(i, sent), `s ${i} ${sent}`)); sent++ }
      }
      if (t0 === 0) t0 = performance.now()
      for (; sent < Math.min(WINDOW, perSender); sent++) c.ws.send(sendFrame(targets(i, sent), `s ${i} ${sent}`))
    })
  }))])
  return clients.length * perSender / ((performance.now() - t0) / 1000)
}

async function sendRounds (A: Host, B: Host, split: boolean, spread: boolean): Promise<number[]> {
  const users = range(SENDERS).map((i) => `send-${split ? 'ab' : 'a'}-${spread ? 'many' : 'one'}-${i}`)
  const convs = spread
    ? await Promise.all(range(CONVERSATIONS).map(async (j) => await conversation(users[j % SENDERS], [users[j % SENDERS]], `sends ${j}`)))
    : [await conversation(users[0], users, 'sends')]
  const clients = await Promise.all(users.map(async (u, i) => await connect(split && i % 2 === 1 ? B : A, u)))
  // Sender i writes to the conversations it owns: one (all into one), or i, i + S, i + 2S, ... (100 in all).
  const mine = clients.map((_, i) => spread ? convs.filter((_, j) => j % SENDERS === i) : convs)
  await Promise.all(clients.map(async (c, i) => { for (const id of mine[i]) await c.join(id) }))
  const target = (i: number, k: number): string => mine[i][k % mine[i].length]
  await sends(clients, target, Math.ceil(SENDS / 5)) // warm-up
  const rates: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    await settle()
    rates.push(await sends(clients, target, SENDS))
  }
  for (const c of clients) c.close()
  return rates
}

/** Deliveries per second: BURST_SENDERS on A each send BURST at once; RECEIVERS count message frames. */
async function deliveries (A: Host, B: Host, split: boolean): Promise<number[]> {
  const tag = split ? 'ab' : 'a'
  const senders = range(BURST_SENDERS).map((i) => `burst-${tag}-s${i}`)
  const receiverIds = range(RECEIVERS).map((i) => `burst-${tag}-r${i}`)
  const id = await conversation(senders[0], [...senders, ...receiverIds], `deliveries ${tag}`)
  const sc = await Promise.all(senders.map(async (u) => await connect(A, u)))
  const rc = await Promise.all(receiverIds.map(async (u, i) => await connect(split && i % 2 === 1 ? B : A, u)))
  for (const c of [...sc, ...rc]) await c.join(id)
  const counts = new Uint32Array(RECEIVERS)
  let complete = 0
  let target = 0
  let done: () => void = () => {}
  rc.forEach((c, i) => {
    c.onMessage = () => { if (++counts[i] === target && ++complete === RECEIVERS) done() }
  })
  const burst = async (perSender: number): Promise<number> => {
    target += perSender * BURST_SENDERS
    complete = 0
    const all = new Promise<void>((resolve) => { done = resolve })
    const frames = sc.map((_, i) => range(perSender).map((k) => sendFrame(id, `d ${i} ${k}`)))
    const t0 = performance.now()
    sc.forEach((c, i) => { for (const f of frames[i]) c.ws.send(f) })
    await Promise.race([all, failed])
    return perSender * BURST_SENDERS * RECEIVERS / ((performance.now() - t0) / 1000)
  }
  await burst(Math.ceil(BURST / 5)) // warm-up
  const rates: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    await settle()
    rates.push(await burst(BURST))
  }
  for (const c of [...sc, ...rc]) c.close()
  return rates
}

try {
  hosts = [await startHost('A')] // A migrates the schema; B finds it done
  hosts.push(await startHost('B'))
  const [A, B] = hosts

  const progress = (what: string): void => { process.stderr.write(`scale: ${what}\n`) }
  progress('latency')
  const lat = await latency(A, B)
  await settle()
  progress('sends, 1 conversation, A')
  const oneA = await sendRounds(A, B, false, false)
  await settle()
  progress('sends, 1 conversation, A + B')
  const oneAB = await sendRounds(A, B, true, false)
  await settle()
  progress('sends, 100 conversations')
  const manyAB = await sendRounds(A, B, true, true)
  await settle()
  progress('deliveries, 1 instance')
  const d1 = await deliveries(A, B, false)
  await settle()
  progress('deliveries, 2 instances')
  const d2 = await deliveries(A, B, true)

  await cleanUp()
  clearTimeout(watchdog)

  type Row = [name: string, value: number, digits: number, aim: string]
  const rows: Row[] = [
    ['latency same instance (A → A), p50 (ms)', pct(lat.same, 50), 3, ''],
    ['latency cross instance (A → B), p50 (ms)', pct(lat.cross, 50), 3, ''],
    ['latency cross / same, p50', pct(lat.cross, 50) / pct(lat.same, 50), 2, '≤ 1.3'],
    ['latency same instance (A → A), p99 (ms)', pct(lat.same, 99), 3, ''],
    ['latency cross instance (A → B), p99 (ms)', pct(lat.cross, 99), 3, ''],
    ['latency cross / same, p99', pct(lat.cross, 99) / pct(lat.same, 99), 2, '≤ 1.3'],
    [`acked sends/s, 1 conversation, ${SENDERS} sockets on A`, median(oneA), 0, '≥ 3000'],
    [`acked sends/s, 1 conversation, ${SENDERS} sockets on A + B`, median(oneAB), 0, '≥ 3000'],
    [`acked sends/s, ${CONVERSATIONS} conversations, on A + B`, median(manyAB), 0, ''],
    [`deliveries/s, ${RECEIVERS} receivers on A (1 instance)`, median(d1), 0, ''],
    [`deliveries/s, ${RECEIVERS} receivers on A + B (2)`, median(d2), 0, ''],
    ['deliveries/s, 2 instances / 1 instance', median(d2) / median(d1), 2, '']
  ]
  console.log(`scale: 2 example-host instances (A, B) on PostgreSQL (schema ${SCHEMA}, dropped) + Redis, rate limit off, node ${process.version}, ${availableParallelism()} CPUs`)
  console.log(`machine: ${availableParallelism()} cores shared by PostgreSQL, Redis, both instances and this client (every socket is here): noisy; run to run, expect the figures to move`)
  console.log(`latency: 1 sender on A, ${LAT_RECEIVERS} receivers per conversation, one message at a time alternating same/cross, ${LATENCY} each after 50 warm-up; send → all ${LAT_RECEIVERS} have it`)
  console.log(`sends: ${SENDERS} sockets × ${WINDOW} frames in flight × ${SENDS} sends, median of ${ROUNDS} rounds; in 1 conversation every socket also receives every message, in ${CONVERSATIONS} each conversation's messages go to its one sender`)
  console.log(`deliveries: ${BURST_SENDERS} senders on A burst ${BURST} messages each into 1 conversation; message frames to the ${RECEIVERS} receivers per s, send → last receiver has all, median of ${ROUNDS} rounds (B runs in both)`)
  console.log('')
  console.log('| metric                                              |      value | aim     |')
  console.log('|-----------------------------------------------------|------------|---------|')
  for (const [name, value, digits, aim] of rows) {
    console.log(`| ${name.padEnd(51)} | ${value.toFixed(digits).padStart(10)} | ${aim.padEnd(7)} |`)
  }
} catch (err) {
  console.error(err)
  await cleanUp().catch((e: unknown) => { console.error(e) })
  process.exit(1)
}
