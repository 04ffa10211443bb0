/**
 * Fuzzes the example host in its own process: `npm run fuzz -- [--frames N] [--rest N] [--seed S]
 * [--connections C] [--storage memory|sqlite]`, or `node --import tsx bench/fuzz.ts ...`.
 *
 * Starts `examples/server.ts` on a free port (rate limit off, in-memory or a temporary SQLite storage), signs
 * in a few users, and sends N frames (10^5 by default) over C sockets — random bytes, mutated, deep, wide,
 * huge and hostile frames among valid ones (test/helpers/fuzz.ts) — then REST junk. Prints frames sent,
 * replies by code, closes by code, every reply with status >= 500 (must be 0), whether the server is still
 * up and answering /chat/health (a crash must be 0), its error-level log lines, its RSS before and after,
 * and whether storage holds exactly the acked messages. Exits non-zero when any of those fails.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import {
  compareStored, emptyStats, fuzzRest, fuzzSockets, readAllMessages, type RestCall, type FuzzStats
} from '../test/helpers/fuzz.ts'

function arg (name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback
}

const FRAMES = Number(arg('frames', '100000'))
const REST = Number(arg('rest', '2000'))
const SEED = Number(arg('seed', '1'))
const CONNECTIONS = Number(arg('connections', '6'))
const STORAGE = arg('storage', 'memory')
const MAX_FRAME_BYTES = 1024 * 1024 // the plugin's default; the example host keeps it
const root = fileURLToPath(new URL('..', import.meta.url))

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

/** VmRSS and VmHWM (peak) of a process, in MiB. */
function memory (pid: number): { rss: number, peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}

interface Server {
  child: ChildProcess
  base: string
  logLevels: Record<string, number>
  /** Error-level log lines by message: how many, and the first. */
  errorKinds: Map<string, { count: number, line: string }>
  exited: Promise<number | null>
}

async function startServer (port: number, dir: string): Promise<Server> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    CHAT_STORAGE: STORAGE,
    CHAT_DB: join(dir, 'chat.db'),
    CHAT_RATE_LIMIT: '0'
  }
  delete env.REDIS_URL // one process, no fan-out
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/server.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const logLevels: Record<string, number> = {}
  const errorKinds = new Map<string, { count: number, line: string }>()
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { if (stderr.length < 10_000) stderr += d.toString() })
  const listening = new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      let entry: { level?: number, msg?: string }
      try { entry = JSON.parse(line) } catch { return }
      const level = String(entry.level)
      logLevels[level] = (logLevels[level] ?? 0) + 1
      if ((entry.level ?? 0) >= 50) {
        // One example of each kind of error line, with how often it came.
        const e = entry as { msg?: string, err?: { message?: string } }
        const key = `${e.msg ?? ''} | ${e.err?.message ?? ''}`
        const seen = errorKinds.get(key)
        if (seen === undefined) errorKinds.set(key, { count: 1, line: line.slice(0, 700) })
        else seen.count++
      }
      if (entry.msg?.startsWith('Server listening') === true) resolve()
    })
    void exited.then((code) => { reject(new Error(`the server exited (${String(code)}) before listening:\n${stderr}`)) })
  })
  await listening
  return { child, base: `http://127.0.0.1:${port}`, logLevels, errorKinds, exited }
}

function table (title: string, rows: Array<[string, string | number]>): void {
  console.log(`\n${title}`)
  const width = Math.max(...rows.map(([k]) => k.length))
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${typeof v === 'number' ? v.toLocaleString('en-US') : v}`)
}

const sorted = (counts: Record<string, number>): Array<[string, number]> => Object.entries(counts).sort((a, b) => b[1] - a[1])

let server: Server | undefined
const dir = mkdtempSync(join(tmpdir(), 'chat-fuzz-'))
function cleanup (): void {
  if (server !== undefined && server.child.exitCode === null) server.child.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { cleanup(); process.exit(130) })

try {
  const port = await freePort()
  server = await startServer(port, dir)
  const { base, child } = server
  const call: RestCall = async (req) => {
    try {
      const res = await fetch(base + req.url, { method: req.method, headers: req.headers, body: req.body as BodyInit | undefined, signal: AbortSignal.timeout(30_000) })
      return { status: res.status, body: await res.text() }
    } catch (err) {
      return { status: 0, body: `no answer: ${String(err)}` }
    }
  }
  const login = async (userId: string): Promise<string> => {
    const res = await call({ kind: 'login', method: 'POST', url: '/auth/dev-login', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId }) })
    return JSON.parse(res.body).token as string
  }
  const users = Array.from({ length: CONNECTIONS }, (_, i) => `fuzz${i}`)
  const tokens = await Promise.all(users.map(login))
  const victim = await login('victim')
  const created = async (token: string, participants: string[]): Promise<string> => {
    const res = await call({ kind: 'setup', method: 'POST', url: '/chat/conversations', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'fuzz', participants }) })
    if (res.status !== 201) throw new Error(`create: ${res.status} ${res.body}`)
    return JSON.parse(res.body).id as string
  }
  const targets = { own: await created(tokens[0], users.slice(1)), foreign: await created(victim, []) }
  const foreignBefore = await readAllMessages(call, targets.foreign, victim)

  const before = memory(child.pid!)
  const started = performance.now()
  let lastReport = started
  const stats: FuzzStats = await fuzzSockets({
    url: (token) => `ws://127.0.0.1:${port}/chat/ws?access_token=${token}`,
    tokens,
    frames: FRAMES,
    seed: SEED,
    targets,
    maxFrameBytes: MAX_FRAME_BYTES,
    onProgress: (s) => {
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now()
        console.error(`  ${s.framesSent.toLocaleString('en-US')} frames, ${((performance.now() - started) / 1000).toFixed(0)} s`)
      }
    }
  }, emptyStats())
  const socketSeconds = (performance.now() - started) / 1000
  const restStarted = performance.now()
  const rest = await fuzzRest(call, { count: REST, seed: SEED, targets, tokens, acked: stats.acked })
  const restSeconds = (performance.now() - restStarted) / 1000
  const after = memory(child.pid!)

  const health = await call({ kind: 'health', method: 'GET', url: '/chat/health', headers: {} })
  const crashed = child.exitCode !== null || health.status !== 200 ? 1 : 0
  const stored = await readAllMessages(call, targets.own, tokens[0])
  const check = compareStored(stored, stats, targets.own)
  const foreignAfter = await readAllMessages(call, targets.foreign, victim)
  const foreignChanged = JSON.stringify(foreignAfter) !== JSON.stringify(foreignBefore)

  table(`Fuzz: seed ${SEED}, ${CONNECTIONS} sockets, storage ${STORAGE}`, [
    ['frames sent', stats.framesSent],
    ['  of which valid sends', stats.validSends],
    ['REST requests', rest.requests],
    ['socket phase', `${socketSeconds.toFixed(1)} s (${Math.round(stats.framesSent / socketSeconds).toLocaleString('en-US')} frames/s)`],
    ['REST phase', `${restSeconds.toFixed(1)} s`],
    ['replies with status >= 500 (socket)', stats.serverErrors],
    ['replies with status >= 500 (REST)', rest.serverErrors - rest.noAnswer],
    ['REST requests never answered', rest.noAnswer],
    ['server crashed / not healthy', crashed],
    ['syncs unanswered (stalled sockets)', stats.stalls],
    ['reconnects', stats.reconnects],
    ['server RSS before -> after', `${before.rss.toFixed(0)} MiB -> ${after.rss.toFixed(0)} MiB (peak ${after.peak.toFixed(0)} MiB)`],
    ['server log lines by level', sorted(server.logLevels).map(([k, v]) => `${k}:${v}`).join(' ')],
    ['stored text messages', stored.filter((m) => m.kind === 'text').length],
    ['acks received', stats.acked.size],
    ['stored but not acked', check.storedNotAcked.length],
    ['acked but not stored', check.ackedNotStored.length],
    ['valid sends refused', sorted(stats.validRefused).map(([k, v]) => `${k}:${v}`).join(' ') || 0],
    ['valid sends never answered', stats.validNotAcked.length],
    ['seq gaps', check.seqGaps],
    ['other user\'s conversation changed', foreignChanged ? 'yes' : 'no']
  ])
  table('Frames sent by kind', sorted(stats.kinds))
  table('Socket replies by type / error code', sorted(stats.replies))
  table('Socket closes by code', sorted(stats.closes).length === 0 ? [['none', 0]] : sorted(stats.closes))
  table('REST replies by status', sorted(rest.statuses))
  for (const s of stats.serverErrorSamples) console.log('socket >=500:', JSON.stringify(s))
  for (const s of rest.serverErrorSamples) console.log('REST >=500:', JSON.stringify(s))
  for (const [key, { count, line }] of server.errorKinds) console.log(`server error log x${count}: ${key}\n    ${line}`)
  if (check.storedNotAcked.length > 0) console.log('stored but not acked:', check.storedNotAcked.slice(0, 10))
  if (stats.validNotAcked.length > 0) console.log('valid sends never answered:', stats.validNotAcked.slice(0, 10))

  child.kill('SIGTERM')
  const exitCode = await Promise.race([server.exited, new Promise<'timeout'>((resolve) => { setTimeout(() => resolve('timeout'), 10_000).unref() })])
  if (exitCode === 'timeout') console.log('the server did not stop within 10 s of SIGTERM')
  const failed = stats.serverErrors + rest.serverErrors + crashed + stats.stalls + check.storedNotAcked.length +
    check.ackedNotStored.length + check.seqGaps + (foreignChanged ? 1 : 0) > 0
  console.log(failed ? '\nFAILED' : '\nOK')
  process.exitCode = failed ? 1 : 0
} finally {
  cleanup()
}
