// bench/store: acked sends per second into ONE conversation, by ONE user over ONE socket, with --window sends
// in flight (64; and a second column with 1), for each storage, beside the targets. The baseline, in
// the same run: the storage's own append rate with no chat in front — its `appendMessage` called directly in
// this process, as many in flight — so the table shows what the chat costs on top of its storage.
//   memory      in process
//   sqlite      a temporary file (its directory removed at the end)
//   postgres    DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres), in a schema bench_store_<random>
//               of this run, dropped at the end (the server itself is never touched)
//   azure       only when AZURE_STORAGE_CONNECTION_STRING is set (Azurite: see the README); tables
//               bench<random>chat / …chatindex, deleted at the end
// The chat is bench/server.ts in its own process (rate limits off; compiled as the package ships, see
// bench/compiled.mjs); one socket joins, then keeps --window `send` frames unacked: each `ack` lets the next one
// go (the sends ready in one tick leave in one TCP write). --warmup sends first, then --rounds measured runs of
// --sends each; the table gives the median round. The defaults are sized so a round lasts about half a second
// or more on the fast storages (15,000 sends after 5,000 of warm-up: shorter rounds measured the JIT warming up
// and the machine's noise, 22k–36k acked/s on memory between runs), and so Azure (~100 appends/s on
// Azurite) ends: 1,000 after 200 there.
//
//   npx tsx bench/store.ts [--sends 15000] [--warmup 5000] [--rounds 3] [--window 64] [--timeout 900]
//                          [--storages memory,sqlite,postgres,azure]
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import type { Socket } from 'node:net'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import WebSocket, { type RawData } from 'ws'
import { newId } from '../lib/ids.ts'
import { createMemoryStorage } from '../lib/storage/memory.ts'
import type { ChatStorage, MessageDraft } from '../lib/storage/types.ts'
import { azureConnectionString, azureStorage, dropAzureTables } from './azure-storage.ts'
import { cpuMs } from './cpu.ts'
import { createRoom, tokensFor, wsUrl } from './chat-room.ts'
import { giveUpAfter, intFlag, usage } from './flags.ts'
import { chatServerArgs, children, startServer, stopServer } from './processes.ts'
import { fixed, median, printTable, ratio, type Row } from './stats.ts'

const BENCH = 'store'
const ALL = ['memory', 'sqlite', 'postgres', 'azure'] as const
type StorageName = typeof ALL[number]
const given = (name: string): boolean => process.argv.includes(`--${name}`)
/** --sends and --warmup, or each storage's default (Azure's are small: it appends ~100/s on Azurite). */
const SENDS = intFlag(BENCH, 'sends', 15_000)
const WARMUP = intFlag(BENCH, 'warmup', 5000, 0)
const sendsFor = (name: StorageName): number => name === 'azure' && !given('sends') ? 1000 : SENDS
const warmupFor = (name: StorageName): number => name === 'azure' && !given('warmup') ? 200 : WARMUP
const ROUNDS = intFlag(BENCH, 'rounds', 3)
const WINDOW = intFlag(BENCH, 'window', 64)
const TIMEOUT_S = intFlag(BENCH, 'timeout', 900)
const flag = process.argv.indexOf('--storages')
const STORAGES = (flag > 0 ? String(process.argv[flag + 1]).split(',') : [...ALL]) as StorageName[]
for (const s of STORAGES) if (!ALL.includes(s)) usage(BENCH, `--storages: unknown storage "${s}" (${ALL.join(', ')})`)
// A socket queues limits.maxQueuedFrames (1024) frames.
if (WINDOW > 1000) usage(BENCH, '--window at most 1000')
/** The targets, acked sends per second with 64 in flight. */
const TARGETS: Partial<Record<StorageName, number>> = { memory: 30_000, sqlite: 15_000, postgres: 5_000 }

const RUN = randomUUID().replace(/-/g, '').slice(0, 12)
const SCHEMA = `bench_store_${RUN}`
const AZURE_PREFIX = `bench${RUN}`
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const TMP = mkdtempSync(join(tmpdir(), 'chat-bench-store-'))
let schemaCreated = false
let azureUsed = false

async function cleanup (): Promise<void> {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  rmSync(TMP, { recursive: true, force: true })
  if (schemaCreated) {
    const client = new pg.Client({ connectionString: DATABASE_URL })
    await client.connect()
    await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
    await client.end()
  }
  if (azureUsed) await dropAzureTables(AZURE_PREFIX).catch((err: unknown) => { console.error(`${BENCH}: could not delete the Azure tables ${AZURE_PREFIX}*:`, err) })
}
const watchdog = giveUpAfter(BENCH, TIMEOUT_S, () => { void cleanup().finally(() => process.exit(1)) })

const CONTENT = 'lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt'.slice(0, 64)
const USER = 'bench-writer'

const oneInFlight = (sends: number): number => Math.max(100, Math.ceil(sends / 5))

/** Runs `count` operations with `window` in flight; resolves to operations per second. */
async function windowed (count: number, window: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: Math.min(window, count) }, async () => {
    while (next < count) await op(next++)
  }))
  return count / ((performance.now() - t0) / 1000)
}

interface Rates { many: number, one: number, /** CPU µs per operation at WINDOW in flight, of the process doing it. */ cpuUs: number }

/**
 * Median of ROUNDS measured runs after the warm-up, at 64 (WINDOW) and at 1 in flight. `cpu` reads the CPU
 * time (ms) of the process that does the work (this one for the storage alone, the server for the chat).
 */
async function rates (name: StorageName, op: (i: number) => Promise<void>, cpu: () => number): Promise<Rates> {
  let i = 0
  const run = async (count: number, window: number): Promise<number> => await windowed(count, window, async () => { await op(i++) })
  const sends = sendsFor(name)
  const warmup = warmupFor(name)
  if (warmup > 0) await run(warmup, WINDOW)
  const many: number[] = []
  const one: number[] = []
  let cpuMsMany = 0
  for (let r = 0; r < ROUNDS; r++) {
    const cpu0 = cpu()
    many.push(await run(sends, WINDOW))
    cpuMsMany += cpu() - cpu0
    // 1 in flight is slow on a database: a fifth as many sends.
    one.push(await run(oneInFlight(sends), 1))
  }
  return { many: median(many), one: median(one), cpuUs: cpuMsMany * 1000 / (ROUNDS * sends) }
}

const ownCpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

/** The storage alone: appendMessage on one conversation, from this process. */
async function rawRates (name: StorageName): Promise<Rates | string> {
  let storage: ChatStorage
  if (name === 'memory') storage = createMemoryStorage()
  else if (name === 'sqlite') {
    const { createSqliteStorage } = await import('../lib/storage/sqlite.ts')
    storage = createSqliteStorage({ filename: join(TMP, 'raw.db') })
  } else if (name === 'postgres') {
    const { createPostgresStorage } = await import('../lib/storage/postgres.ts')
    storage = createPostgresStorage({ connectionString: DATABASE_URL, schema: SCHEMA })
    schemaCreated = true
  } else {
    const azure = await azureStorage(AZURE_PREFIX)
    if (typeof azure === 'string') return azure
    storage = azure
    azureUsed = true
  }
  await storage.init()
  try {
    const now = new Date().toISOString()
    const id = newId()
    await storage.createConversation(
      { id, title: 'raw', createdBy: USER, createdAt: now, updatedAt: now, lastSeq: 0 },
      [{ id: USER, name: USER, type: 'human', role: 'owner', joinedAt: now }]
    )
    const sender = { id: USER, name: USER, type: 'human' as const }
    return await rates(name, async (i) => {
      const draft: MessageDraft = { id: newId(), kind: 'text', sender, content: CONTENT, clientMessageId: `r${i}`, createdAt: new Date().toISOString() }
      await storage.appendMessage(id, draft)
    }, ownCpuMs)
  } finally {
    await storage.close()
  }
}

/** The chat in front: one socket, sends acked. */
async function chatRates (name: StorageName): Promise<Rates> {
  process.env.DATABASE_URL = DATABASE_URL
  process.env.CHAT_PG_SCHEMA = SCHEMA
  process.env.CHAT_AZURE_TABLE_PREFIX = AZURE_PREFIX
  const server = await startServer(chatServerArgs(name))
  try {
    const base = `http://127.0.0.1:${server.port}`
    const tokens = await tokensFor(base, [USER])
    const token = tokens.get(USER) as string
    const conversationId = await createRoom(base, token, [], 'store')
    const ws = new WebSocket(wsUrl(server.port, token), { perMessageDeflate: false })
    const acks = new Map<string, () => void>()
    let failure: ((err: Error) => void) | undefined
    const failed = new Promise<never>((resolve, reject) => { failure = reject })
    failed.catch(() => {})
    let joined: () => void = () => {}
    const joinedP = new Promise<void>((resolve) => { joined = resolve })
    ws.on('message', (data: RawData) => {
      const text = data.toString()
      if (text.startsWith('{"type":"ack"')) {
        const ref = /"clientMessageId":"([^"]+)"/.exec(text)?.[1] as string
        acks.get(ref)?.()
        acks.delete(ref)
      } else if (text.startsWith('{"type":"ready"')) {
        ws.send(JSON.stringify({ type: 'join', conversationId }))
      } else if (text.startsWith('{"type":"joined"')) {
        joined()
      } else if (text.startsWith('{"type":"error"')) {
        failure?.(new Error(`${name}: ${text}`))
      }
    })
    ws.on('error', (err) => { failure?.(err) })
    ws.on('close', (code) => { failure?.(new Error(`${name}: the socket closed (${code})`)) })
    await Promise.race([joinedP, failed])
    const result = await rates(name, async (i) => {
      const clientMessageId = `c${i}`
      const acked = new Promise<void>((resolve) => { acks.set(clientMessageId, resolve) })
      // The sends this client has ready in one tick leave in one TCP write (as the chat's replies do), so the
      // load generator's own writes do not bound the rate it measures.
      const raw = (ws as unknown as { _socket: Socket })._socket
      if (raw.writableCorked === 0) {
        raw.cork()
        process.nextTick(() => { raw.uncork() })
      }
      ws.send(JSON.stringify({ type: 'send', conversationId, clientMessageId, content: CONTENT }))
      await Promise.race([acked, failed])
    }, () => cpuMs(server.child.pid))
    ws.removeAllListeners('close')
    ws.close()
    return result
  } finally {
    await stopServer(server.child)
  }
}

let code = 0
try {
  const rows: Row[] = []
  const notes: string[] = []
  for (const name of STORAGES) {
    if (name === 'azure' && azureConnectionString() === undefined) {
      notes.push('azure: skipped: AZURE_STORAGE_CONNECTION_STRING is not set')
      continue
    }
    const raw = await rawRates(name)
    if (typeof raw === 'string') {
      notes.push(`${name}: ${raw}`)
      continue
    }
    const chat = await chatRates(name)
    const target = TARGETS[name]
    rows.push([
      name,
      fixed(raw.many, 0), fixed(chat.many, 0), ratio(chat.many, raw.many),
      target === undefined ? '—' : `≥ ${target}`, target === undefined ? '—' : chat.many >= target ? 'yes' : 'NO',
      fixed(raw.one, 0), fixed(chat.one, 0), ratio(chat.one, raw.one),
      fixed(raw.cpuUs, 0), fixed(chat.cpuUs, 0)
    ])
  }
  clearTimeout(watchdog)
  const size = (name: StorageName): string => `${sendsFor(name)} sends per round at ${WINDOW} in flight (${oneInFlight(sendsFor(name))} at 1) after ${warmupFor(name)} warm-up`
  const sizes = new Map<string, StorageName[]>()
  for (const name of STORAGES) sizes.set(size(name), [...(sizes.get(size(name)) ?? []), name])
  const sized = sizes.size === 1 ? [...sizes.keys()] : [...sizes].map(([text, names]) => `${names.join(', ')}: ${text}`)
  console.log(`${BENCH}: one user, one conversation, one socket; ${sized.join('; ')}; median of ${ROUNDS} rounds; node ${process.version}, ${availableParallelism()} CPUs`)
  console.log('baseline = the storage alone (appendMessage from this process, as many in flight); chat = bench/server.ts over /chat/ws, sends/s counted at the ack')
  console.log('chat / raw below 1 = the chat\'s cost on top of its storage; target = the issue\'s, for the chat at 64 in flight')
  console.log('')
  printTable(['storage', `raw appends/s (${WINDOW})`, `chat acked/s (${WINDOW})`, 'chat / raw', 'target', 'met', 'raw appends/s (1)', 'chat acked/s (1)', 'chat / raw (1)', `raw CPU µs/append (${WINDOW})`, `chat server CPU µs/send (${WINDOW})`], rows)
  for (const note of notes) console.log(note)
  console.log('CPU µs per operation: of this process for the storage alone, of the server process for the chat (on a busy machine, rate × CPU < 1 s means the process waited)')
} catch (err) {
  console.error(err)
  code = 1
} finally {
  await cleanup()
}
process.exit(code)
