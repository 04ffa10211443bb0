import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { test } from 'tap'

/**
 * The package as users install it: `npm pack`, the tarball installed into hosts outside the repository, a
 * plain-JS ESM host run with node, a strict `nodenext` TypeScript host type-checked with tsc against our
 * `.d.ts` (skipLibCheck off) and its compiled output run with node. Each host mounts the plugin, and the
 * client from `fastify-nlweb-chat/client` sends a message and gets its ack and the message back.
 */

const run = promisify(execFile)
const repo = new URL('..', import.meta.url).pathname
const tsc = join(repo, 'node_modules/typescript/bin/tsc')

// What each host does, in plain JS; the TypeScript host is the same with its types spelled out.
const HOST_JS = `
import Fastify from 'fastify'
import chat from 'fastify-nlweb-chat'
import { ChatClient } from 'fastify-nlweb-chat/client'
import { WebSocket } from 'ws'

const app = Fastify()
// The host's auth hook: in this tiny host the bearer token is the user id.
app.decorate('authenticate', async function authenticate (request) {
  const token = request.headers.authorization?.slice(7) ?? request.query.access_token
  if (token) request.user = { id: token, name: token.toUpperCase(), roles: [] }
})
try {
  await app.register(chat, { storage: process.env.STORAGE === 'sqlite' ? { type: 'sqlite', filename: ':memory:' } : 'memory' })
  await app.listen({ port: 0, host: '127.0.0.1' })
} catch (err) {
  console.log(JSON.stringify({ startError: { code: err.code, message: err.message } }))
  process.exit(0)
}
const client = new ChatClient({ url: 'ws://127.0.0.1:' + app.server.address().port + '/chat/ws', token: 'alice', WebSocket })
const conversation = await client.rest.createConversation({ title: 'packaged' })
await client.join(conversation.id)
const delivered = new Promise((resolve) => client.on('message', (m) => { if (m.kind === 'text') resolve(m) }))
const ack = await client.send(conversation.id, 'hello from a packaged host')
const message = await delivered
client.close()
await app.close()
console.log(JSON.stringify({ ack, message: { seq: message.seq, content: message.content, sender: message.sender } }))
`

const HOST_TS = `
import Fastify, { type FastifyRequest } from 'fastify'
import chat, { type ChatOptions, type Message } from 'fastify-nlweb-chat'
import { ChatClient, type SendAck, type Message as ClientMessage } from 'fastify-nlweb-chat/client'
import { WebSocket } from 'ws'
import type { AddressInfo } from 'node:net'

declare module 'fastify' {
  interface FastifyRequest { user?: { id: string, name: string, roles: string[] } }
}

const app = Fastify()
app.decorate('authenticate', async function authenticate (request: FastifyRequest<{ Querystring: { access_token?: string } }>) {
  const token = request.headers.authorization?.slice(7) ?? request.query.access_token
  if (token !== undefined) request.user = { id: token, name: token.toUpperCase(), roles: [] }
})
const options: ChatOptions = { storage: 'memory', limits: { maxMessageBytes: 4096 } }
await app.register(chat, options)
await app.listen({ port: 0, host: '127.0.0.1' })
const { port } = app.server.address() as AddressInfo
const client = new ChatClient({ url: \`ws://127.0.0.1:\${port}/chat/ws\`, token: async () => 'alice', WebSocket })
const conversation = await client.rest.createConversation({ title: 'packaged' })
await client.join(conversation.id)
const delivered = new Promise<ClientMessage>((resolve) => client.on('message', (m) => { if (m.kind === 'text') resolve(m) }))
const ack: SendAck = await client.send(conversation.id, 'hello from a packaged host')
const message: Message = await delivered
// The host's own view of the plugin is typed too.
const stored: Message[] = (await app.chat.listMessages({ id: 'alice', name: 'ALICE', roles: [] }, conversation.id, { limit: 10 })).items
client.close()
await app.close()
console.log(JSON.stringify({ ack, stored: stored.length, message: { seq: message.seq, content: message.content, sender: message.sender } }))
`

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    skipLibCheck: false,
    outDir: 'dist',
    types: ['node']
  },
  include: ['host.ts']
}

function parseLast (stdout: string): any {
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1])
}

// Packing builds dist with tsc and the hosts install from npm's cache: minutes on a loaded two-core machine.
test('the packed tarball installs into hosts outside the repository: plain JS, strict TypeScript, compiled JS', { timeout: 600_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nlweb-chat-host-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })

  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: repo, maxBuffer: 64 * 1024 * 1024 })
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string, size: number, unpackedSize: number, files: Array<{ path: string }> }>
  const files = info.files.map((f) => f.path)
  t.comment(`tarball ${info.filename}: ${files.length} files, ${(info.size / 1024).toFixed(1)} kB packed, ${(info.unpackedSize / 1024).toFixed(1)} kB unpacked`)
  t.ok(files.includes('dist/lib/index.js') && files.includes('dist/lib/index.d.ts'), 'JS and declarations')
  t.ok(files.includes('dist/lib/client/index.js') && files.includes('dist/lib/client/index.d.ts'), 'the client')
  t.ok(files.includes('README.md') && files.includes('LICENSE') && files.includes('package.json'))
  t.same(files.filter((f) => !/^(dist|docs)\/|^(README\.md|LICENSE|package\.json)$/.test(f)), [], 'nothing but dist, docs, README, LICENSE')
  t.same(files.filter((f) => /(^|\/)(test|bench|examples|\.ci)\//.test(f) || (f.endsWith('.json') && f.startsWith('dist/'))), [], 'no tests, benches, examples or data')

  const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8'))
  await writeFile(join(dir, 'package.json'), JSON.stringify({
    name: 'packaged-host',
    private: true,
    type: 'module',
    dependencies: {
      'fastify-nlweb-chat': `file:./${info.filename}`,
      fastify: pkg.devDependencies.fastify,
      ws: pkg.devDependencies.ws,
      '@types/node': pkg.devDependencies['@types/node']
    }
  }))
  // From npm's cache when the repository's own install filled it; no native build: better-sqlite3 is optional.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: dir, maxBuffer: 64 * 1024 * 1024 })

  await t.test('plain JS ESM host run with node', async (t) => {
    await writeFile(join(dir, 'host.mjs'), HOST_JS)
    const out = parseLast((await run('node', ['host.mjs'], { cwd: dir })).stdout)
    t.match(out.ack, { seq: 2, clientMessageId: String })
    t.same(out.message, { seq: 2, content: 'hello from a packaged host', sender: { id: 'alice', name: 'ALICE', type: 'human' } })
  })

  await t.test('strict nodenext TypeScript host type-checks against the declarations, then runs compiled', async (t) => {
    await writeFile(join(dir, 'host.ts'), HOST_TS)
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG))
    const compiled = await run('node', [tsc, '-p', 'tsconfig.json'], { cwd: dir }).then(() => ({ ok: true, output: '' }),
      (err: { stdout: string }) => ({ ok: false, output: err.stdout }))
    t.ok(compiled.ok, `tsc: ${compiled.output}`)
    const out = parseLast((await run('node', ['dist/host.js'], { cwd: dir })).stdout)
    t.match(out.ack, { seq: 2 })
    t.equal(out.stored, 2, 'the system line and the message')
    t.equal(out.message.content, 'hello from a packaged host')
  })

  await t.test('SQLite storage without better-sqlite3 installed fails at startup, naming the package', async (t) => {
    const out = parseLast((await run('node', ['host.mjs'], { cwd: dir, env: { ...process.env, STORAGE: 'sqlite' } })).stdout)
    t.equal(out.startError?.code, 'CHAT_ERR_MISSING_DEPENDENCY')
    t.match(out.startError?.message, /"better-sqlite3".*npm install better-sqlite3/)
  })
})
