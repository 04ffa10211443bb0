// bench/join-storm: N participants of one conversation connect and `join` it at once, against the baseline of
// N plain `ws` connects to a server that sends one small frame on connection.
//   chat: bench/server.ts (memory storage, rate limits off, limits.maxParticipants raised to N + 1 for the
//         run); the N users are made participants beforehand over REST (created with the conversation).
//         Each socket sends `join` as soon as it has `ready`. Timed from the first connect to the last
//         `ready`, to the last `joined`, and to the last `participant` frame seen by the earliest joiner.
//   raw ws: a WebSocketServer that sends {"type":"ready"} on each connection; timed to the last one received.
// Presence: every `participant` and `presence` frame received by all N sockets is counted. Told per event, each
// join would reach everyone already in the room, N(N-1)/2 frames; a room above limits.presenceBatchAbove gets
// them coalesced, one `presence` frame per interval (docs/protocol.md, extension 26): the count shows which.
// The N sockets live in --procs child processes (bench/fleet.ts); times are epoch ms from those processes.
// A warm-up storm of --warmup users (its own conversation, its own sockets; as many as --joiners by default, so
// the measured storms find both servers' code compiled) runs on each server first; then --rounds storms on
// each, interleaved, and the table gives their medians.
//
//   npx tsx bench/join-storm.ts [--joiners 1000] [--warmup <joiners>] [--rounds 3] [--procs 2]
//                               [--concurrency <joiners>: sockets opening at once] [--timeout 300]
import { availableParallelism } from 'node:os'
import { createRoom, tokensFor, wsUrl } from './chat-room.ts'
import { cpuMs } from './cpu.ts'
import { giveUpAfter, intFlag, usage } from './flags.ts'
import { exitNow, Fleet } from './fleet.ts'
import { chatServerArgs, startServer, stopServer } from './processes.ts'
import { fixed, median, printTable, ratio, type Row } from './stats.ts'

const BENCH = 'join-storm'
const N = intFlag(BENCH, 'joiners', 1000, 2)
const WARMUP = intFlag(BENCH, 'warmup', N, 0)
const ROUNDS = intFlag(BENCH, 'rounds', 3)
const PROCS = intFlag(BENCH, 'procs', 2)
const CONCURRENCY = intFlag(BENCH, 'concurrency', N)
const TIMEOUT_S = intFlag(BENCH, 'timeout', 300)
if (PROCS > N) usage(BENCH, '--procs at most --joiners')
process.env.CHAT_MAX_PARTICIPANTS = String(Math.max(100, N + 1, WARMUP + 1))

const RAW_SERVER = `
const { WebSocketServer } = require('ws')
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 2048 }, () => {
  process.stdout.write(JSON.stringify({ port: wss.address().port }) + '\\n')
})
wss.on('connection', (ws) => { ws.send('{"type":"ready"}') })
process.stdin.resume()
process.stdin.on('end', () => {
  for (const client of wss.clients) client.terminate()
  wss.close(() => process.exit(0))
})
`

const fleets: Fleet[] = []
const shutdown = (code: number): never => exitNow(fleets, code)
const watchdog = giveUpAfter(BENCH, TIMEOUT_S, () => { shutdown(1) })

interface Storm {
  /** ms from the first connect. */
  lastReady: number
  lastJoined: number
  earlyLastPresence: number
  presence: number
  earlyPresence: number
  bytes: number
  serverCpuMs: number
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** One storm of `urls` (joining `join`, for the chat); the fleet's processes are ended after it. */
async function storm (urls: string[], pid: number | undefined, join?: string): Promise<Storm> {
  const fleet = new Fleet(Math.min(PROCS, urls.length))
  fleets.push(fleet)
  await fleet.up()
  const cpu0 = cpuMs(pid)
  const opened = await fleet.open(urls, { join, concurrency: CONCURRENCY })
  // Presence frames still on their way: wait until the count stands still for 800 ms, longer than a big
  // room's presence interval (500 ms by default: a storm over within it may not have had its batch yet; a
  // 300 ms wait counted none in such rounds). Their times were taken as they arrived: the wait adds nothing.
  let stats = await fleet.stats()
  for (let still = 0; still < 8;) {
    await sleep(100)
    const next = await fleet.stats()
    still = next.presence === stats.presence && next.bytes === stats.bytes ? still + 1 : 0
    stats = next
  }
  const serverCpuMs = cpuMs(pid) - cpu0
  fleet.close()
  await sleep(200) // the sockets close: the chat tells the room each one left (not measured)
  const t0 = opened.startedAt
  return {
    lastReady: opened.readyLast - t0,
    lastJoined: join === undefined ? NaN : opened.joinedLast - t0,
    earlyLastPresence: stats.earlyLastPresenceAt > 0 ? stats.earlyLastPresenceAt - t0 : NaN,
    presence: stats.presence,
    earlyPresence: stats.earlyPresence,
    bytes: stats.bytes,
    serverCpuMs
  }
}

try {
  const [raw, chat] = await Promise.all([startServer(['-e', RAW_SERVER]), startServer(chatServerArgs('memory'))])
  const base = `http://127.0.0.1:${chat.port}`
  const owner = 'bench-owner'
  const warmIds = Array.from({ length: WARMUP }, (_, i) => `bench-w${i}`)
  const ids = Array.from({ length: N }, (_, i) => `bench-j${i}`)
  const tokens = await tokensFor(base, [owner, ...warmIds, ...ids])
  const urls = ids.map((id) => wsUrl(chat.port, tokens.get(id) as string))
  const rawUrls = ids.map(() => `ws://127.0.0.1:${raw.port}/`)

  if (WARMUP > 0) {
    await storm(rawUrls.slice(0, WARMUP), raw.child.pid)
    const warmRoom = await createRoom(base, tokens.get(owner) as string, warmIds, 'warm-up')
    await storm(warmIds.map((id) => wsUrl(chat.port, tokens.get(id) as string)), chat.child.pid, warmRoom)
  }

  const rawRuns: Storm[] = []
  const chatRuns: Storm[] = []
  for (let round = 0; round < ROUNDS; round++) {
    // A fresh conversation each round: in the last one everyone went offline.
    const room = await createRoom(base, tokens.get(owner) as string, ids, `storm ${round}`)
    if (round % 2 === 0) {
      rawRuns.push(await storm(rawUrls, raw.child.pid))
      chatRuns.push(await storm(urls, chat.child.pid, room))
    } else {
      chatRuns.push(await storm(urls, chat.child.pid, room))
      rawRuns.push(await storm(rawUrls, raw.child.pid))
    }
  }
  await Promise.all([stopServer(raw.child), stopServer(chat.child)])
  clearTimeout(watchdog)

  const med = (runs: Storm[], f: (s: Storm) => number): number => median(runs.map(f))
  const rawReady = med(rawRuns, (s) => s.lastReady)
  const rows: Row[] = [
    ['first connect → last ready (ms)', fixed(rawReady, 1), fixed(med(chatRuns, (s) => s.lastReady), 1), ratio(med(chatRuns, (s) => s.lastReady), rawReady)],
    ['first connect → last joined (ms)', fixed(rawReady, 1), fixed(med(chatRuns, (s) => s.lastJoined), 1), ratio(med(chatRuns, (s) => s.lastJoined), rawReady)],
    ['first connect → early joiner\'s last presence (ms)', '—', fixed(med(chatRuns, (s) => s.earlyLastPresence), 1), ratio(med(chatRuns, (s) => s.earlyLastPresence), rawReady)],
    ['presence frames, all sockets', '—', fixed(med(chatRuns, (s) => s.presence), 0), '—'],
    ['presence frames, the earliest joiner', '—', fixed(med(chatRuns, (s) => s.earlyPresence), 0), '—'],
    ['bytes received, all sockets (MB)', fixed(med(rawRuns, (s) => s.bytes) / 1e6, 2), fixed(med(chatRuns, (s) => s.bytes) / 1e6, 2), ratio(med(chatRuns, (s) => s.bytes), med(rawRuns, (s) => s.bytes))],
    ['server CPU for the storm (ms)', fixed(med(rawRuns, (s) => s.serverCpuMs), 0), fixed(med(chatRuns, (s) => s.serverCpuMs), 0), ratio(med(chatRuns, (s) => s.serverCpuMs), med(rawRuns, (s) => s.serverCpuMs))]
  ]
  console.log(`${BENCH}: N=${N} sockets at once (at most ${CONCURRENCY} opening together) in ${PROCS} child processes, ${ROUNDS} round${ROUNDS > 1 ? 's (medians)' : ''} after a ${WARMUP}-socket warm-up, node ${process.version}, ${availableParallelism()} CPUs`)
  console.log('baseline = raw `ws` server, one {"type":"ready"} on each connection; chat = bench/server.ts (memory storage), each socket joins one conversation of N participants on `ready`')
  console.log(`presence: told per event, N joins would cost N(N-1)/2 = ${N * (N - 1) / 2} frames (square in the room); rooms above limits.presenceBatchAbove get one presence frame per interval`)
  console.log('')
  printTable(['measure', 'raw ws (baseline)', 'chat', 'chat / raw'], rows)
} catch (err) {
  console.error(err)
  shutdown(1)
}
