// bench/connections: N idle, authenticated sockets on one chat process against N on a raw `ws` server.
//   memory   server RSS (and heap) after a full GC with the N sockets open, minus before them, divided by N.
//            Each server answers its own memory: chat GET /bench/memory (bench/server.ts), raw GET /memory;
//            both run with --expose-gc. The chat's tokens are signed by another process beforehand, so that
//            both servers start as fresh (a heap grown by signing N tokens would take in the sockets unseen).
//   latency  while the N sockets are open (and the server pings every one of them every --heartbeat ms, as
//            the chat's heartbeatMs does; the raw server runs the same loop as the ws README's), one more
//            socket in this process measures, one at a time, --interval ms apart for --duration s:
//            an app-level `ping` → `pong`, a WebSocket-level ping → pong, and (chat) a `send` → `ack` into a
//            conversation of its own / (raw) a `send` the server parses and answers with an ack.
// The N sockets live in --procs child processes (bench/fleet.ts), opened --concurrency at a time; the chat's
// are N distinct users (dev-login), each socket past `ready`, joined nowhere.
// Limits: each process holds up to N sockets, so `ulimit -n` must exceed N (N is lowered, with a message,
// when it does not); the N client sockets to one server port need N local ports (ip_local_port_range).
//
//   node --expose-gc --import tsx bench/connections.ts [--sockets 10000] [--procs 2] [--heartbeat 5000]
//                    [--duration 10] [--interval 10] [--concurrency 200] [--timeout 600]
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import WebSocket, { type RawData } from 'ws'
import { createRoom, tokensFor, wsUrl } from './chat-room.ts'
import { giveUpAfter, intFlag } from './flags.ts'
import { exitNow, Fleet } from './fleet.ts'
import { chatServerArgs, startServer, stopServer } from './processes.ts'
import { fixed, pct, printTable, ratio, type Row } from './stats.ts'

const BENCH = 'connections'
const WANTED = intFlag(BENCH, 'sockets', 10_000)
const PROCS = intFlag(BENCH, 'procs', 2)
const HEARTBEAT_MS = intFlag(BENCH, 'heartbeat', 5000, 100)
const DURATION_S = intFlag(BENCH, 'duration', 10)
const INTERVAL_MS = intFlag(BENCH, 'interval', 10, 0)
const CONCURRENCY = intFlag(BENCH, 'concurrency', 200)
const TIMEOUT_S = intFlag(BENCH, 'timeout', 600)

// File descriptors: a server holds N sockets plus its own files; a fleet child N / procs.
const FD_SPARE = 200
const fdLimit = (() => {
  try { return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) } catch { return NaN }
})()
const ports = (() => {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    return high - low + 1
  } catch { return NaN }
})()
let N = WANTED
const notes: string[] = [`ulimit -n ${fdLimit}, ${Number.isNaN(ports) ? 'unknown' : ports} local ports`]
if (Number.isFinite(fdLimit) && N + FD_SPARE > fdLimit) {
  N = Math.max(1, fdLimit - FD_SPARE)
  notes.push(`--sockets ${WANTED} lowered to ${N}: ulimit -n is ${fdLimit} (raise it with \`ulimit -n ${WANTED + FD_SPARE}\` for the full count)`)
}
if (Number.isFinite(ports) && N + FD_SPARE > ports) {
  N = Math.max(1, ports - FD_SPARE)
  notes.push(`--sockets lowered to ${N}: only ${ports} local ports (net.ipv4.ip_local_port_range)`)
}
for (const note of notes.slice(1)) console.error(`${BENCH}: ${note}`)
process.env.CHAT_HEARTBEAT_MS = String(HEARTBEAT_MS)

const RAW_SERVER = `
const http = require('node:http')
const { WebSocketServer } = require('ws')
const server = http.createServer((req, res) => {
  if (req.url !== '/memory') { res.statusCode = 404; res.end(); return }
  global.gc?.()
  setImmediate(() => {
    global.gc?.()
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ ...process.memoryUsage(), gc: typeof global.gc === 'function' }))
  })
})
const wss = new WebSocketServer({ server })
wss.on('connection', (ws) => {
  ws.isAlive = true
  ws.on('pong', () => { ws.isAlive = true })
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString())
    if (frame.type === 'ping') ws.send(JSON.stringify({ type: 'pong', ref: frame.ref }))
    else if (frame.type === 'send') ws.send(JSON.stringify({ type: 'ack', conversationId: frame.conversationId, clientMessageId: frame.clientMessageId }))
  })
  ws.send('{"type":"ready"}')
})
const heartbeat = setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.isAlive) { ws.terminate(); continue }
    ws.isAlive = false
    ws.ping()
  }
}, ${HEARTBEAT_MS})
server.listen({ port: 0, host: '127.0.0.1', backlog: 2048 }, () => { process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n') })
process.stdin.resume()
process.stdin.on('end', () => {
  clearInterval(heartbeat)
  for (const client of wss.clients) client.terminate()
  wss.close(); server.close(() => process.exit(0))
})
`

const fleets: Fleet[] = []
const shutdown = (code: number): never => exitNow(fleets, code)
const watchdog = giveUpAfter(BENCH, TIMEOUT_S, () => { shutdown(1) })

interface Memory { rss: number, heapUsed: number, gc: boolean }
async function memory (url: string): Promise<Memory> {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`GET ${url} → ${res.status}`)
  return await res.json() as Memory
}

interface Side {
  rssPerSocket: number
  heapPerSocket: number
  openS: number
  ping: number[]
  wsPing: number[]
  ack: number[]
  gc: boolean
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** The measuring socket: one exchange at a time, each timed from the write to the reply. */
async function probe (url: string, conversationId: string | undefined, fleet: Fleet): Promise<Pick<Side, 'ping' | 'wsPing' | 'ack'>> {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  let waiting: { prefix: string, resolve: () => void } | undefined
  let closing = false
  ws.on('message', (data: RawData) => {
    const text = data.toString()
    if (text.startsWith('{"type":"error"')) fleet.fail(new Error(`the measuring socket got ${text}`))
    if (waiting !== undefined && text.startsWith(waiting.prefix)) { const { resolve } = waiting; waiting = undefined; resolve() }
  })
  ws.on('pong', () => { if (waiting?.prefix === 'PONG') { const { resolve } = waiting; waiting = undefined; resolve() } })
  ws.on('error', (err) => { fleet.fail(err) })
  ws.on('close', () => { if (!closing) fleet.fail(new Error('the measuring socket closed')) })
  const until = async (prefix: string, act: () => void): Promise<number> => {
    const replied = new Promise<void>((resolve) => { waiting = { prefix, resolve } })
    const t0 = performance.now()
    act()
    await Promise.race([replied, fleet.failed])
    return performance.now() - t0
  }
  await until('{"type":"ready"', () => {})
  if (conversationId !== undefined) await until('{"type":"joined"', () => { ws.send(JSON.stringify({ type: 'join', conversationId })) })
  const out = { ping: [] as number[], wsPing: [] as number[], ack: [] as number[] }
  const cid = conversationId ?? 'raw0000000000bench00000'
  const end = performance.now() + DURATION_S * 1000
  for (let i = 0; performance.now() < end; i++) {
    out.ping.push(await until('{"type":"pong"', () => { ws.send(JSON.stringify({ type: 'ping', ref: `p${i}` })) }))
    await sleep(INTERVAL_MS)
    out.wsPing.push(await until('PONG', () => { ws.ping() }))
    await sleep(INTERVAL_MS)
    out.ack.push(await until('{"type":"ack"', () => { ws.send(JSON.stringify({ type: 'send', conversationId: cid, clientMessageId: `m${i}`, content: 'are you there?' })) }))
    await sleep(INTERVAL_MS)
  }
  closing = true
  ws.close()
  return out
}

/**
 * The N users' tokens, signed by another chat process (the example host signs with the same secret in every
 * process): signing N tokens grows a heap, and the measured server must start its `before` as fresh as the raw one.
 */
async function mintTokens (ids: string[]): Promise<Map<string, string>> {
  const minter = await startServer(chatServerArgs('memory'))
  try {
    return await tokensFor(`http://127.0.0.1:${minter.port}`, ids)
  } finally {
    await stopServer(minter.child)
  }
}

async function measure (kind: 'raw' | 'chat'): Promise<Side> {
  const ids = Array.from({ length: N }, (_, i) => `bench-idle${i}`)
  const tokens = kind === 'chat' ? await mintTokens(['bench-probe', ...ids]) : undefined
  const server = await startServer(['--expose-gc', ...(kind === 'raw' ? ['-e', RAW_SERVER] : chatServerArgs('memory'))])
  const base = `http://127.0.0.1:${server.port}`
  try {
    let urls: string[]
    let probeUrl: string
    let conversationId: string | undefined
    if (tokens !== undefined) {
      urls = ids.map((id) => wsUrl(server.port, tokens.get(id) as string))
      probeUrl = wsUrl(server.port, tokens.get('bench-probe') as string)
      conversationId = await createRoom(base, tokens.get('bench-probe') as string, [], 'probe')
    } else {
      urls = Array.from({ length: N }, () => `ws://127.0.0.1:${server.port}/`)
      probeUrl = urls[0]
    }
    const memoryUrl = base + (kind === 'chat' ? '/bench/memory' : '/memory')
    const fleet = new Fleet(Math.min(PROCS, N))
    fleets.push(fleet)
    await fleet.up()
    const before = await memory(memoryUrl)
    const opened = await fleet.open(urls, { concurrency: CONCURRENCY })
    const openS = (opened.readyLast - opened.startedAt) / 1000
    await sleep(1000)
    const after = await memory(memoryUrl)
    const latency = await probe(probeUrl, conversationId, fleet)
    fleet.close()
    return {
      rssPerSocket: (after.rss - before.rss) / N,
      heapPerSocket: (after.heapUsed - before.heapUsed) / N,
      openS,
      gc: before.gc && after.gc,
      ...latency
    }
  } finally {
    await stopServer(server.child)
  }
}

try {
  const raw = await measure('raw')
  const chat = await measure('chat')
  clearTimeout(watchdog)
  const kb = (bytes: number): string => fixed(bytes / 1024, 2)
  const rows: Row[] = [
    ['server RSS per socket (KiB)', kb(raw.rssPerSocket), kb(chat.rssPerSocket), ratio(chat.rssPerSocket, raw.rssPerSocket)],
    ['server heap used per socket (KiB)', kb(raw.heapPerSocket), kb(chat.heapPerSocket), ratio(chat.heapPerSocket, raw.heapPerSocket)],
    [`first connect → last ready, ${CONCURRENCY} at a time (s)`, fixed(raw.openS, 2), fixed(chat.openS, 2), ratio(chat.openS, raw.openS)]
  ]
  for (const [name, key] of [['app ping → pong', 'ping'], ['ws ping → pong', 'wsPing'], ['send → ack', 'ack']] as const) {
    // The max: a probe caught behind a heartbeat over every socket (one sample per beat, below the p99).
    for (const p of [50, 99, 100]) rows.push([`${name}, ${p === 100 ? 'max' : `p${p}`} (ms)`, fixed(pct(raw[key], p), 3), fixed(pct(chat[key], p), 3), ratio(pct(chat[key], p), pct(raw[key], p))])
  }
  console.log(`${BENCH}: N=${N} idle sockets in ${PROCS} child processes, heartbeat every ${HEARTBEAT_MS} ms, ${DURATION_S} s of probes (${raw.ping.length} / ${chat.ping.length} rounds), node ${process.version}, ${availableParallelism()} CPUs; ${notes[0]}`)
  console.log('baseline = raw `ws` server (a ready frame, a ping loop, JSON replies); chat = bench/server.ts (memory storage), one dev-login user per socket, joined nowhere')
  if (!raw.gc || !chat.gc) console.log('(a server ran without --expose-gc: memory is without a full GC and noisier)')
  console.log('')
  printTable(['measure', 'raw ws (baseline)', 'chat', 'chat / raw'], rows)
} catch (err) {
  console.error(err)
  shutdown(1)
}
