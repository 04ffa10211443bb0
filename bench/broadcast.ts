// bench/broadcast: fan-out of one conversation, the same run against its baseline —
//   raw `ws` (a WebSocketServer that JSON-parses each message and sends one JSON.stringify'd frame to every
//   client with client.send(string) in a plain loop)  vs  chat (bench/server.ts, memory storage, /chat/ws).
// R receivers and one sender; each server runs in its own process. The receivers live in --procs child
// processes of their own (bench/fleet.ts), so no one client event loop handles all R frames of a message
// and hides the server's cost; the sender, and the clock, stay in this process. Each child reports when all
// its receivers have message k (epoch ms), the latest report is "the last delivery".
//   latency: message k+1 is sent once every receiver has message k;  burst: all M sent at once.
// For each message: send → the last receiver has it. Burst throughput: messages delivered to all R per second,
// and deliveries (frames to receivers) per second.
// The chat's limits.maxParticipants is raised for this run only (CHAT_MAX_PARTICIPANTS to bench/server.ts).
//
//   npx tsx bench/broadcast.ts [--receivers 99] [--messages 500] [--rounds 3] [--warmup 200] [--content 64]
//                              [--procs 1, 2 from 200 receivers] [--timeout 240]
//   npm run bench:broadcast -- --receivers 1000 --messages 200
//   BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' adds node flags to both server processes.
import { availableParallelism } from 'node:os'
import WebSocket, { type RawData } from 'ws'
import { createRoom, tokensFor, wsUrl } from './chat-room.ts'
import { cpuMs } from './cpu.ts'
import { giveUpAfter, intFlag, usage } from './flags.ts'
import { epochNow, exitNow, Fleet } from './fleet.ts'
import { chatServerArgs, startServer, stopServer } from './processes.ts'
import { fixed, median, pct, printTable, ratio, type Row } from './stats.ts'

const BENCH = 'broadcast'
const R = intFlag(BENCH, 'receivers', 99)
const M = intFlag(BENCH, 'messages', 500)
const ROUNDS = intFlag(BENCH, 'rounds', 3)
const WARMUP = intFlag(BENCH, 'warmup', 200, 0)
const CONTENT = intFlag(BENCH, 'content', 64, 16)
const PROCS = intFlag(BENCH, 'procs', R >= 200 ? 2 : 1)
const TIMEOUT_S = intFlag(BENCH, 'timeout', 240)
// A socket may have limits.maxQueuedFrames (1024) frames waiting; a larger burst is refused with QUEUE_FULL.
if (Math.max(M, WARMUP) > 1000) usage(BENCH, '--messages and --warmup at most 1000 (the chat queues 1024 frames per socket)')
if (PROCS > R) usage(BENCH, '--procs at most --receivers')
// The sender is a participant too.
process.env.CHAT_MAX_PARTICIPANTS = String(Math.max(100, R + 1))

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
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 2048 }, () => {
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
const fleets: Fleet[] = []

function shutdown (code: number): never {
  for (const ws of sockets) ws.terminate()
  return exitNow(fleets, code)
}
const watchdog = giveUpAfter(BENCH, TIMEOUT_S, () => { shutdown(1) })

const TOTAL = 2 * WARMUP + 2 * ROUNDS * M // per server: warm-up (latency + burst), then the rounds
const FILLER = 'lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor '.repeat(Math.ceil(CONTENT / 40))
const contents: string[] = []
for (let k = 0; k < TOTAL; k++) {
  const head = `b${k}.` // the fleet checks each receiver gets b0., b1., ... in order
  contents.push(head + FILLER.slice(0, CONTENT - head.length))
}

/** Set once the bench closes its sockets: a close before that is a failure. */
let closing = false

/** One server, its receivers (a fleet) and its sender (here). */
interface Side {
  name: string
  pid: number | undefined
  fleet: Fleet
  sender: WebSocket
  conversationId: string
  /** Next message index to send. */
  cursor: number
  readonly sentAt: Float64Array
  frameBytes: number
}

/** The sender's socket, open once its first frame (ready) came; later `prefix` frames resolve `until`. */
async function senderSocket (url: string, fleet: Fleet, name: string): Promise<{ ws: WebSocket, until: (prefix: string) => Promise<string> }> {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  sockets.push(ws)
  const waiters: Array<{ prefix: string, resolve: (text: string) => void }> = []
  ws.on('message', (data: RawData) => {
    if (waiters.length === 0) return // its own copies of the messages
    const text = data.toString()
    if (text.startsWith('{"type":"error"')) { fleet.fail(new Error(`${name}: the sender got ${text}`)); return }
    const i = waiters.findIndex((w) => text.startsWith(w.prefix))
    if (i >= 0) waiters.splice(i, 1)[0].resolve(text)
  })
  ws.on('error', (err) => { fleet.fail(err) })
  ws.on('close', () => { if (!closing) fleet.fail(new Error(`${name}: the sender's socket closed`)) })
  const until = async (prefix: string): Promise<string> => await Promise.race([new Promise<string>((resolve) => { waiters.push({ prefix, resolve }) }), fleet.failed])
  await until('{"type":"ready"')
  return { ws, until }
}

const receiverIds = Array.from({ length: R }, (_, i) => `bench-r${i}`)

async function setupRaw (port: number, pid: number | undefined): Promise<Side> {
  const fleet = new Fleet(PROCS, TOTAL)
  fleets.push(fleet)
  await fleet.up()
  const url = `ws://127.0.0.1:${port}/`
  await fleet.open(receiverIds.map(() => url), { concurrency: 256 })
  const { ws } = await senderSocket(url, fleet, 'raw ws')
  await fleet.track()
  // as long as a chat id
  return { name: 'raw ws', pid, fleet, sender: ws, conversationId: 'raw0000000000bench00000', cursor: 0, sentAt: new Float64Array(TOTAL), frameBytes: 0 }
}

async function setupChat (port: number, pid: number | undefined): Promise<Side> {
  const base = `http://127.0.0.1:${port}`
  const tokens = await tokensFor(base, [SENDER, ...receiverIds])
  const conversationId = await createRoom(base, tokens.get(SENDER) as string, receiverIds, 'broadcast')
  const fleet = new Fleet(PROCS, TOTAL)
  fleets.push(fleet)
  await fleet.up()
  await fleet.open(receiverIds.map((id) => wsUrl(port, tokens.get(id) as string)), { join: conversationId, concurrency: 256 })
  const { ws, until } = await senderSocket(wsUrl(port, tokens.get(SENDER) as string), fleet, 'chat')
  // The sender joins too, so its first send is not also its subscription.
  const joined = until('{"type":"joined"')
  ws.send(JSON.stringify({ type: 'join', conversationId }))
  await joined
  await fleet.track()
  return { name: 'chat', pid, fleet, sender: ws, conversationId, cursor: 0, sentAt: new Float64Array(TOTAL), frameBytes: 0 }
}

const frame = (side: Side, k: number): string =>
  JSON.stringify({ type: 'send', conversationId: side.conversationId, clientMessageId: `b${k}`, content: contents[k] })

interface Run { latencies: number[], wallMs: number, serverCpuMs: number, clientCpuMs: number }

async function measured (side: Side, body: () => Promise<number>, first: number, count: number): Promise<Run> {
  const cpu0 = cpuMs(side.pid)
  const client0 = await side.fleet.cpuMs()
  const wallMs = await body()
  const clientCpuMs = await side.fleet.cpuMs() - client0
  const latencies = Array.from({ length: count }, (_, i) => side.fleet.doneAt[first + i] - side.sentAt[first + i])
  return { latencies, wallMs, serverCpuMs: cpuMs(side.pid) - cpu0, clientCpuMs }
}

/** One message at a time: k+1 goes once every receiver has k. */
async function latencyRun (side: Side, count: number): Promise<Run> {
  const first = side.cursor
  side.cursor += count
  return await measured(side, async () => {
    const t0 = epochNow()
    for (let k = first; k < first + count; k++) {
      const text = frame(side, k)
      side.sentAt[k] = epochNow()
      side.sender.send(text)
      await side.fleet.delivered(k)
    }
    return epochNow() - t0
  }, first, count)
}

/** All at once; done when every receiver has the last one (each socket delivers in order). */
async function burstRun (side: Side, count: number): Promise<Run> {
  const first = side.cursor
  side.cursor += count
  const frames = Array.from({ length: count }, (_, i) => frame(side, first + i))
  return await measured(side, async () => {
    const t0 = epochNow()
    for (let i = 0; i < count; i++) {
      side.sentAt[first + i] = epochNow()
      side.sender.send(frames[i])
    }
    await side.fleet.delivered(first + count - 1)
    return side.fleet.doneAt[first + count - 1] - t0
  }, first, count)
}

const settle = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 100)) }

try {
  const [raw, chat] = await Promise.all([
    startServer(['-e', RAW_SERVER]),
    startServer(chatServerArgs('memory'))
  ])
  const sides = [await setupRaw(raw.port, raw.child.pid), await setupChat(chat.port, chat.child.pid)]

  for (const side of sides) {
    if (WARMUP > 0) {
      await latencyRun(side, WARMUP)
      await burstRun(side, WARMUP)
      await settle()
    }
  }

  const latency: Run[][] = [[], []]
  const burst: Run[][] = [[], []]
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so drift favours neither.
    const order = round % 2 === 0 ? [0, 1] : [1, 0]
    for (const i of order) { latency[i].push(await latencyRun(sides[i], M)); await settle() }
    for (const i of order) { burst[i].push(await burstRun(sides[i], M)); await settle() }
  }
  // One frame as a receiver gets it (the same bytes to every one).
  for (const side of sides) {
    const probe = new Promise<number>((resolve) => {
      const look = (data: Buffer): void => {
        if (!data.toString().startsWith('{"type":"message"')) return // the chat's ack comes first
        side.sender.off('message', look)
        resolve(data.length)
      }
      side.sender.on('message', look)
    })
    side.sender.send(JSON.stringify({ type: 'send', conversationId: side.conversationId, clientMessageId: 'probe', content: contents[0].replace(/^b0\./, 'probe') }))
    side.frameBytes = await probe
  }

  closing = true
  for (const ws of sockets) ws.close()
  for (const fleet of fleets) fleet.close()
  await Promise.all([stopServer(raw.child), stopServer(chat.child)])
  clearTimeout(watchdog)

  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)
  const pooled = (runs: Run[]): number[] => runs.flatMap((r) => r.latencies)
  const throughput = (runs: Run[]): number => median(runs.map((r) => M / (r.wallMs / 1000)))
  const perMessageUs = (runs: Run[]): number => sum(runs.map((r) => r.serverCpuMs)) * 1000 / (runs.length * M)
  const busy = (runs: Run[], cpu: (r: Run) => number): string => (100 * sum(runs.map(cpu)) / sum(runs.map((r) => r.wallMs))).toFixed(0)

  const rows: Row[] = []
  const row = (name: string, a: number, c: number, digits: number): void => { rows.push([name, fixed(a, digits), fixed(c, digits), ratio(c, a)]) }
  for (const p of [50, 95, 99]) row(`latency: send → last delivery, p${p} (ms)`, pct(pooled(latency[0]), p), pct(pooled(latency[1]), p), 3)
  for (const p of [50, 99]) row(`burst: send → last delivery, p${p} (ms)`, pct(pooled(burst[0]), p), pct(pooled(burst[1]), p), 1)
  row('burst: messages to all R per s', throughput(burst[0]), throughput(burst[1]), 0)
  row('burst: deliveries (frames to receivers) per s', throughput(burst[0]) * R, throughput(burst[1]) * R, 0)
  row('latency: server CPU per message (µs)', perMessageUs(latency[0]), perMessageUs(latency[1]), 0)
  row('burst: server CPU per message (µs)', perMessageUs(burst[0]), perMessageUs(burst[1]), 0)
  row('message frame (bytes)', sides[0].frameBytes, sides[1].frameBytes, 0)

  console.log(`${BENCH}: R=${R} receivers (in ${PROCS} child process${PROCS > 1 ? 'es' : ''}) + 1 sender in one conversation, M=${M} messages per mode × ${ROUNDS} rounds (after ${WARMUP} + ${WARMUP} warm-up), node ${process.version}, ${availableParallelism()} CPUs`)
  console.log('baseline = raw `ws` server (JSON.parse, JSON.stringify once, client.send(string) to every client in a loop); chat = bench/server.ts (memory storage, maxParticipants raised for the run) over /chat/ws')
  console.log('latency = one message at a time; burst = all M at once (percentiles pooled over rounds, throughput the median round); every frame also goes back to the sender')
  console.log('chat / raw above 1 = chat slower or costlier, except the per-second rows, where above 1 = chat faster')
  console.log('')
  printTable(['mode / metric', 'raw ws (baseline)', 'chat', 'chat / raw'], rows)
  console.log('')
  console.log(`CPU during bursts, % of one core: server raw ${busy(burst[0], (r) => r.serverCpuMs)}, chat ${busy(burst[1], (r) => r.serverCpuMs)};` +
    ` receiver processes (all ${PROCS}) raw ${busy(burst[0], (r) => r.clientCpuMs)}, chat ${busy(burst[1], (r) => r.clientCpuMs)}` +
    ` (a side near 100 × its processes bounds the burst; with ${availableParallelism()} CPUs, server + receivers share them)`)
} catch (err) {
  console.error(err)
  shutdown(1)
}
