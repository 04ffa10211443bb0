// bench/broadcast: fan-out of one conversation, the same run against its baseline —
//   raw `ws` (a WebSocketServer that JSON-parses each message and sends one JSON.stringify'd frame to every
//   client with client.send(string) in a plain loop)  vs  chat (bench/server.ts, memory storage, /chat/ws).
// R receivers and one sender, every one a client in this process; each server runs in its own process.
//   latency: message k+1 is sent once every receiver has message k;  burst: all M sent at once.
// For each message: send → the last receiver has it. Burst throughput: messages delivered to all R per second.
//
//   npx tsx bench/broadcast.ts [--receivers 99] [--messages 500] [--rounds 3] [--warmup 200] [--content 64] [--timeout 240]
//   BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' adds node flags to both server processes.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import WebSocket, { type RawData } from 'ws'
import { chatServerArgs, children, postJson, startServer, stopServer } from './processes.ts'

function arg (name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback
}
const R = Number(arg('receivers', '99'))
const M = Number(arg('messages', '500'))
const ROUNDS = Number(arg('rounds', '3'))
const WARMUP = Number(arg('warmup', '200'))
const CONTENT = Number(arg('content', '64'))
const TIMEOUT_S = Number(arg('timeout', '240'))
function usage (problem: string): never {
  console.error(`broadcast: ${problem}`)
  process.exit(2)
}
// bench/server.ts keeps the default limits.maxParticipants (100): the sender is one of them.
const MAX_PARTICIPANTS = 100
for (const [name, value, min] of [['receivers', R, 1], ['messages', M, 1], ['rounds', ROUNDS, 1], ['warmup', WARMUP, 0], ['content', CONTENT, 16], ['timeout', TIMEOUT_S, 1]] as const) {
  if (!Number.isInteger(value) || value < min) usage(`--${name} must be an integer >= ${min}`)
}
if (R + 1 > MAX_PARTICIPANTS) usage(`chat allows ${MAX_PARTICIPANTS} participants (limits.maxParticipants): --receivers at most ${MAX_PARTICIPANTS - 1}`)
// A socket may have limits.maxQueuedFrames (1024) frames waiting; a larger burst is refused with QUEUE_FULL.
if (Math.max(M, WARMUP) > 1000) usage('--messages and --warmup at most 1000 (the chat queues 1024 frames per socket)')

const SENDER = 'bench-sender'

// The baseline: the ws README's broadcast, with a message shaped like the chat's (same fields, same order).
const RAW_SERVER = `
const { WebSocketServer } = require('ws')
const { randomBytes } = require('node:crypto')
let lastMs = 0
let counter = 0
let seq = 0
function newId () {
  const now = Date.now()
  if (now === lastMs) counter++
  else { lastMs = now; counter = 0 }
  return now.toString(36).padStart(9, '0') + counter.toString(36).padStart(4, '0') + randomBytes(8).toString('base64url').slice(0, 10)
}
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => {
  process.stdout.write(JSON.stringify({ port: wss.address().port }) + '\\n')
})
wss.on('connection', (ws) => {
  ws.send('{"type":"ready"}')
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString())
    if (frame.type !== 'send') return
    const message = {
      id: newId(),
      kind: 'text',
      sender: { id: ${JSON.stringify(SENDER)}, name: ${JSON.stringify(SENDER)}, type: 'human' },
      content: frame.content,
      clientMessageId: frame.clientMessageId,
      createdAt: new Date().toISOString(),
      conversationId: frame.conversationId,
      seq: ++seq
    }
    const text = JSON.stringify({ type: 'message', conversationId: frame.conversationId, message })
    for (const client of wss.clients) {
      if (client.readyState === 1) client.send(text)
    }
  })
})
process.stdin.resume()
process.stdin.on('end', () => {
  for (const client of wss.clients) client.terminate()
  wss.close(() => process.exit(0))
})
`

const sockets: WebSocket[] = []

function shutdown (code: number): never {
  for (const ws of sockets) ws.terminate()
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  process.exit(code)
}
const watchdog = setTimeout(() => {
  console.error(`broadcast: gave up after ${TIMEOUT_S} s (--timeout)`)
  shutdown(1)
}, TIMEOUT_S * 1000)
watchdog.unref()

/** CPU time (ms) of a process, all its threads: /proc/PID/task/TID/schedstat (ns), or /proc/PID/stat (ticks); NaN without /proc. */
const TICKS = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { return 100 }
})()
function cpuMs (pid: number | undefined): number {
  if (pid === undefined) return NaN
  try {
    let ns = 0
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      // A thread may end between the listing and the read.
      try { ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) } catch {}
    }
    if (ns > 0) return ns / 1e6
  } catch {}
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields[0] is the state (field 3)
    return (Number(fields[11]) + Number(fields[12])) * 1000 / TICKS // utime, stime: fields 14 and 15
  } catch {
    return NaN
  }
}

const MESSAGE = '{"type":"message"'
const ERROR = '{"type":"error"'
const TOTAL = 2 * WARMUP + 2 * ROUNDS * M // per server: warm-up (latency + burst), then the rounds
const FILLER = 'lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor '.repeat(Math.ceil(CONTENT / 40))
const contents: string[] = []
const markers: string[] = []
for (let k = 0; k < TOTAL; k++) {
  const head = `b${k}.`
  contents.push(head + FILLER.slice(0, CONTENT - head.length))
  markers.push(`"content":"${head}`)
}

/** Set once the bench closes its sockets: a close before that is a failure. */
let closing = false

/** One server's clients and what they saw: receivers count frames, the sender only sends. */
class Side {
  readonly name: string
  readonly receivers: Client[] = []
  sender!: Client
  conversationId = ''
  /** Next message index to send. */
  cursor = 0
  readonly got = new Uint32Array(TOTAL)
  readonly sentAt = new Float64Array(TOTAL)
  readonly doneAt = new Float64Array(TOTAL)
  frameBytes = 0
  pid: number | undefined
  private waiting: { index: number, resolve: () => void, reject: (err: Error) => void } | undefined
  private error: Error | undefined
  private failNow: (err: Error) => void = () => {}
  /** Rejects on the first failure, so no wait outlives it. */
  readonly failed = new Promise<never>((resolve, reject) => { this.failNow = reject })

  constructor (name: string) {
    this.name = name
    this.failed.catch(() => {})
  }

  /** A receiver's message frame: it must be the next one in order (checked by its content marker only). */
  received (client: Client, text: string): void {
    const k = client.next++
    if (k >= TOTAL || !text.includes(markers[k])) {
      this.fail(new Error(`${this.name}: receiver ${client.id} expected message ${k}, got ${text.slice(0, 200)}`))
      return
    }
    if (++this.got[k] === R) {
      this.doneAt[k] = performance.now()
      if (this.frameBytes === 0) this.frameBytes = Buffer.byteLength(text)
      if (this.waiting?.index === k) {
        const { resolve } = this.waiting
        this.waiting = undefined
        resolve()
      }
    }
  }

  fail (err: Error): void {
    this.error ??= err
    this.failNow(err)
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.reject(err)
  }

  /** Resolves once every receiver has message k. */
  async delivered (k: number): Promise<void> {
    if (this.error !== undefined) throw this.error
    if (this.got[k] === R) return
    await new Promise<void>((resolve, reject) => { this.waiting = { index: k, resolve, reject } })
  }

  frame (k: number): string {
    return JSON.stringify({ type: 'send', conversationId: this.conversationId, clientMessageId: `b${k}`, content: contents[k] })
  }
}

class Client {
  readonly ws: WebSocket
  readonly id: string
  private readonly side: Side
  /** Index of the next message frame this receiver expects. */
  next = 0
  private waiters: Array<{ prefix: string, resolve: () => void }> = []

  constructor (side: Side, id: string, url: string, receiver: boolean) {
    this.id = id
    this.side = side
    this.ws = new WebSocket(url, { perMessageDeflate: false })
    sockets.push(this.ws)
    // Like the /ask client in ask-vs-chat: look only at the start of a frame, never parse it.
    this.ws.on('message', (data: RawData) => {
      const text = data.toString()
      if (text.startsWith(MESSAGE)) {
        if (receiver) side.received(this, text)
        return
      }
      if (text.startsWith(ERROR)) {
        side.fail(new Error(`${side.name}: ${id} got ${text}`))
        return
      }
      const i = this.waiters.findIndex((w) => text.startsWith(w.prefix))
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve()
    })
    this.ws.on('error', (err) => { side.fail(err) })
    this.ws.on('close', () => { if (!closing) side.fail(new Error(`${side.name}: ${id}'s socket closed`)) })
  }

  /** The next frame starting with `prefix`; register before it can arrive. */
  async until (prefix: string): Promise<void> {
    await Promise.race([new Promise<void>((resolve) => { this.waiters.push({ prefix, resolve }) }), this.side.failed])
  }
}

const receiverIds = Array.from({ length: R }, (_, i) => `bench-r${i}`)

async function setupRaw (port: number): Promise<Side> {
  const side = new Side('raw ws')
  side.conversationId = 'raw0000000000bench00000' // as long as a chat id
  const url = `ws://127.0.0.1:${port}/`
  const all = [...receiverIds.map((id) => new Client(side, id, url, true)), new Client(side, SENDER, url, false)]
  await Promise.all(all.map(async (c) => { await c.until('{"type":"ready"') }))
  side.sender = all.pop() as Client
  side.receivers.push(...all)
  return side
}

async function setupChat (port: number): Promise<Side> {
  const side = new Side('chat')
  const base = `http://127.0.0.1:${port}`
  const post = async (path: string, body: unknown, token?: string): Promise<any> => await postJson(base, path, body, token)
  const tokens = new Map<string, string>()
  await Promise.all([SENDER, ...receiverIds].map(async (userId) => {
    tokens.set(userId, (await post('/auth/dev-login', { userId })).token as string)
  }))
  side.conversationId = (await post('/chat/conversations', { title: 'broadcast', participants: receiverIds }, tokens.get(SENDER))).id as string
  const all = [...receiverIds, SENDER].map((id) => {
    return new Client(side, id, `ws://127.0.0.1:${port}/chat/ws?access_token=${String(tokens.get(id))}`, id !== SENDER)
  })
  await Promise.all(all.map(async (c) => { await c.until('{"type":"ready"') }))
  // The sender joins too, so its first send is not also its subscription.
  await Promise.all(all.map(async (c) => {
    const joined = c.until('{"type":"joined"')
    c.ws.send(JSON.stringify({ type: 'join', conversationId: side.conversationId }))
    await joined
  }))
  side.sender = all.pop() as Client
  side.receivers.push(...all)
  return side
}

interface Run { latencies: number[], wallMs: number, serverCpuMs: number, clientCpuMs: number }

/** One message at a time: k+1 goes once every receiver has k. */
async function latencyRun (side: Side, count: number): Promise<Run> {
  const latencies: number[] = []
  const cpu0 = cpuMs(side.pid)
  const client0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < count; i++) {
    const k = side.cursor++
    const text = side.frame(k)
    side.sentAt[k] = performance.now()
    side.sender.ws.send(text)
    await side.delivered(k)
    latencies.push(side.doneAt[k] - side.sentAt[k])
  }
  const client = process.cpuUsage(client0)
  return { latencies, wallMs: performance.now() - t0, serverCpuMs: cpuMs(side.pid) - cpu0, clientCpuMs: (client.user + client.system) / 1000 }
}

/** All at once; done when every receiver has the last one (each socket delivers in order). */
async function burstRun (side: Side, count: number): Promise<Run> {
  const first = side.cursor
  side.cursor += count
  const frames = Array.from({ length: count }, (_, i) => side.frame(first + i))
  const cpu0 = cpuMs(side.pid)
  const client0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < count; i++) {
    side.sentAt[first + i] = performance.now()
    side.sender.ws.send(frames[i])
  }
  await side.delivered(first + count - 1)
  const wallMs = side.doneAt[first + count - 1] - t0
  const client = process.cpuUsage(client0)
  const latencies = Array.from({ length: count }, (_, i) => side.doneAt[first + i] - side.sentAt[first + i])
  return { latencies, wallMs, serverCpuMs: cpuMs(side.pid) - cpu0, clientCpuMs: (client.user + client.system) / 1000 }
}

const settle = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 100)) }

try {
  const [raw, chat] = await Promise.all([
    startServer(['-e', RAW_SERVER]),
    startServer(chatServerArgs('memory'))
  ])
  const sides = [await setupRaw(raw.port), await setupChat(chat.port)]
  sides[0].pid = raw.child.pid
  sides[1].pid = chat.child.pid

  for (const side of sides) {
    if (WARMUP > 0) {
      await latencyRun(side, WARMUP)
      await burstRun(side, WARMUP)
      await settle()
    }
    side.frameBytes = 0 // measure it on a measured message
  }

  const latency: Run[][] = [[], []]
  const burst: Run[][] = [[], []]
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so drift favours neither.
    const order = round % 2 === 0 ? [0, 1] : [1, 0]
    for (const i of order) { latency[i].push(await latencyRun(sides[i], M)); await settle() }
    for (const i of order) { burst[i].push(await burstRun(sides[i], M)); await settle() }
  }

  closing = true
  for (const ws of sockets) ws.close()
  await Promise.all([stopServer(raw.child), stopServer(chat.child)])
  clearTimeout(watchdog)

  const pct = (values: number[], p: number): number => {
    const sorted = [...values].sort((x, y) => x - y)
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
  }
  const median = (values: number[]): number => pct(values, 50)
  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)
  const pooled = (runs: Run[]): number[] => runs.flatMap((r) => r.latencies)
  const throughput = (runs: Run[]): number => median(runs.map((r) => M / (r.wallMs / 1000)))
  const perMessageUs = (runs: Run[]): number => sum(runs.map((r) => r.serverCpuMs)) * 1000 / (runs.length * M)
  const busy = (runs: Run[], cpu: (r: Run) => number): string => (100 * sum(runs.map(cpu)) / sum(runs.map((r) => r.wallMs))).toFixed(0)

  type Row = [name: string, raw: number, chat: number, digits: number]
  const rows: Row[] = []
  for (const p of [50, 95, 99]) rows.push([`latency: send → all R, p${p} (ms)`, pct(pooled(latency[0]), p), pct(pooled(latency[1]), p), 3])
  for (const p of [50, 95, 99]) rows.push([`burst: send → all R, p${p} (ms)`, pct(pooled(burst[0]), p), pct(pooled(burst[1]), p), 1])
  rows.push(['burst: messages to all R per s', throughput(burst[0]), throughput(burst[1]), 0])
  rows.push(['burst: frames to receivers per s', throughput(burst[0]) * R, throughput(burst[1]) * R, 0])
  rows.push(['latency: server CPU per message (µs)', perMessageUs(latency[0]), perMessageUs(latency[1]), 0])
  rows.push(['burst: server CPU per message (µs)', perMessageUs(burst[0]), perMessageUs(burst[1]), 0])
  rows.push(['message frame (bytes)', sides[0].frameBytes, sides[1].frameBytes, 0])

  console.log(`broadcast: R=${R} receivers + 1 sender in one conversation, M=${M} messages per mode × ${ROUNDS} rounds (after ${WARMUP} + ${WARMUP} warm-up), node ${process.version}, ${availableParallelism()} CPUs`)
  console.log('baseline = raw `ws` server (JSON.parse, JSON.stringify once, client.send(string) to every client in a loop); chat = bench/server.ts (memory storage) over /chat/ws')
  console.log('latency = one message at a time; burst = all M at once (percentiles pooled over rounds, throughput the median round); every frame also goes back to the sender')
  console.log('chat / raw above 1 = chat slower or costlier, except the per-second rows, where above 1 = chat faster')
  console.log('')
  console.log('| mode / metric                          | raw ws (baseline) |         chat | chat / raw |')
  console.log('|----------------------------------------|-------------------|--------------|------------|')
  for (const [name, a, c, digits] of rows) {
    console.log(`| ${name.padEnd(38)} | ${a.toFixed(digits).padStart(17)} | ${c.toFixed(digits).padStart(12)} | ${(c / a).toFixed(2).padStart(10)} |`)
  }
  console.log('')
  console.log(`CPU during bursts, % of one core: server raw ${busy(burst[0], (r) => r.serverCpuMs)}, chat ${busy(burst[1], (r) => r.serverCpuMs)};` +
    ` bench process (all clients) raw ${busy(burst[0], (r) => r.clientCpuMs)}, chat ${busy(burst[1], (r) => r.clientCpuMs)} (near 100: that side bounds the burst)`)
} catch (err) {
  console.error(err)
  shutdown(1)
}
