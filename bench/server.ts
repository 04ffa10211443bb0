// The example host, as `npm start` runs it, on a free port, for benchmarks in another process.
// Prints one JSON line { port } when listening; exits when its parent closes stdin.
//
//   node --import tsx bench/server.ts [memory|sqlite|postgres|azure]
// Environment, for the benchmarks only (the example host's own config is left as it is):
//   CHAT_MAX_PARTICIPANTS  limits.maxParticipants (big rooms: bench/broadcast --receivers 1000, bench/join-storm)
//   CHAT_HEARTBEAT_MS      heartbeatMs (bench/connections: pings to every idle socket while it measures)
//   DATABASE_URL, CHAT_PG_SCHEMA  for postgres (a schema the benchmark owns and drops)
//   AZURE_STORAGE_CONNECTION_STRING, CHAT_AZURE_TABLE_PREFIX  for azure (see bench/azure-storage.ts)
// GET /bench/memory answers this process's memory (after a full GC when node runs with --expose-gc).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../examples/app.ts'
import { loadConfig } from '../examples/config.ts'
import { azureStorage } from './azure-storage.ts'

const storage = process.argv[2] ?? 'sqlite'
const env = process.env
// One user creates, joins and asks in hundreds of conversations back to back: every per-user limit is off
// for the benchmark (CHAT_RATE_LIMIT=0).
// A temporary directory for SQLite only, removed on a clean exit.
const dir = storage === 'sqlite' ? mkdtempSync(join(tmpdir(), 'chat-bench-')) : undefined
const config = loadConfig({
  CHAT_STORAGE: storage === 'azure' ? 'memory' : storage,
  ...(dir === undefined ? {} : { CHAT_DB: join(dir, 'chat.db') }),
  CHAT_RATE_LIMIT: '0',
  ...(env.DATABASE_URL === undefined ? {} : { DATABASE_URL: env.DATABASE_URL }),
  ...(env.CHAT_PG_SCHEMA === undefined ? {} : { CHAT_PG_SCHEMA: env.CHAT_PG_SCHEMA })
})
const limits: Record<string, number> = {}
if (env.CHAT_MAX_PARTICIPANTS !== undefined) limits.maxParticipants = Number(env.CHAT_MAX_PARTICIPANTS)
if (Object.keys(limits).length > 0) config.chat.limits = limits
if (env.CHAT_HEARTBEAT_MS !== undefined) config.chat.heartbeatMs = Number(env.CHAT_HEARTBEAT_MS)
if (storage === 'azure') {
  const azure = await azureStorage(env.CHAT_AZURE_TABLE_PREFIX ?? 'benchchat')
  if (typeof azure === 'string') throw new Error(azure)
  config.chat.storage = azure
}

const app = await buildApp({ config })
const gc = (globalThis as { gc?: () => void }).gc
app.get('/bench/memory', async () => {
  if (gc !== undefined) {
    // Twice: what the first collection frees may hold more (weak refs, finalizers).
    gc()
    await new Promise((resolve) => setImmediate(resolve))
    gc()
  }
  return { ...process.memoryUsage(), gc: gc !== undefined }
})
// The listen backlog of every benchmark server, raw ones included: at Node's default (511) a storm of 1000
// connects overflows the kernel's accept queue and the dropped ones come back a second later (SYN retry),
// which the storm's time would measure instead of the server.
await app.listen({ port: 0, host: '127.0.0.1', backlog: 2048 })
const address = app.server.address()
process.stdout.write(JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => {
  void app.close().then(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    process.exit(0)
  })
})
