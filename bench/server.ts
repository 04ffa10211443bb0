// The example host, as `npm start` runs it, on a free port, for benchmarks in another process.
// Prints one JSON line { port } when listening; exits when its parent closes stdin.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../examples/app.ts'
import { loadConfig } from '../examples/config.ts'

const storage = process.argv[2] ?? 'sqlite'
// One user creates, joins and asks in hundreds of conversations back to back: every per-user limit is off
// for the benchmark (CHAT_RATE_LIMIT=0).
const config = loadConfig({
  CHAT_STORAGE: storage,
  CHAT_DB: join(mkdtempSync(join(tmpdir(), 'chat-bench-')), 'chat.db'),
  CHAT_RATE_LIMIT: '0'
})
const app = await buildApp({ config })
await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()
process.stdout.write(JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => { void app.close().then(() => process.exit(0)) })
