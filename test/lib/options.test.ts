import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import t, { type Test } from 'tap'
import type { HostConfig } from '../../examples/config.ts'
import chat, { createMemoryStorage, type ChatOptions } from '../../lib/index.ts'
import { resolveOptions } from '../../lib/options.ts'
import { TestClient } from '../helpers/app.ts'

/**
 * Options are checked at registration: a bad one fails `app.ready()` with CHAT_ERR_INVALID_OPTS naming it.
 * These tests build bare Fastify apps (no example host): a trivial `authenticate` that reads the user from
 * the `x-user` header (or `?user=` on the socket upgrade), and, when asked, a `config` decorator.
 */

interface HostSetup {
  /** The host's config decorator, under `configName` ('config' unless said). */
  config?: unknown
  configName?: string
  /** false: the host has no `authenticate` decorator. */
  authenticate?: boolean
  /** Extra host decorators. */
  decorators?: Record<string, unknown>
}

function userFrom (request: FastifyRequest): string | undefined {
  const header = request.headers['x-user']
  if (typeof header === 'string') return header
  const query = request.query as Record<string, unknown> | undefined
  return typeof query?.user === 'string' ? query.user : undefined
}

function bareApp (t: Test, chatOptions: ChatOptions, host: HostSetup = {}): FastifyInstance {
  const app = Fastify({ logger: false })
  if (host.authenticate !== false) {
    app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
      const id = userFrom(request)
      if (id !== undefined) Object.assign(request, { user: { id, name: `${id} (name)`, roles: id === 'root' ? ['admin'] : [] } })
      return undefined
    })
  }
  if (host.config !== undefined) app.decorate(host.configName ?? 'config', host.config as HostConfig)
  for (const [name, value] of Object.entries(host.decorators ?? {})) app.decorate(name, value)
  app.register(chat, chatOptions)
  t.teardown(async () => { await app.close().catch(() => {}) })
  return app
}

/** Stands in for a node-postgres Pool: what the options check for, never connected. */
function fakePool (): { query: () => Promise<never>, connect: () => Promise<never> } {
  return {
    async query () { throw new Error('not connected') },
    async connect () { throw new Error('not connected') }
  }
}

/** app.ready() as a real Promise (its return value is the instance, a PromiseLike). */
async function ready (app: FastifyInstance): Promise<void> {
  await app.ready()
}

async function listening (t: Test, chatOptions: ChatOptions, host: HostSetup = {}): Promise<{ app: FastifyInstance, connect: (user: string, path?: string) => Promise<TestClient> }> {
  const app = bareApp(t, chatOptions, host)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    app,
    async connect (user, path = '/chat/ws') {
      const client = new TestClient(`ws://127.0.0.1:${port}${path}?user=${user}`)
      t.teardown(() => { client.close() })
      await client.next((f) => f.type === 'ready')
      return client
    }
  }
}

t.test('each invalid option fails app.ready() with CHAT_ERR_INVALID_OPTS naming the option', async (t) => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['prefix without a leading slash', { prefix: 'chat' }, /"prefix"/],
    ['an unknown storage', { storage: 'mongo' }, /"storage"/],
    ['sqlite storage without a filename', { storage: { type: 'sqlite' } }, /"storage"/],
    ['postgres storage with neither connectionString nor pool', { storage: { type: 'postgres' } }, /"storage"/],
    ['postgres storage with an empty connectionString', { storage: { type: 'postgres', connectionString: '' } }, /"storage"/],
    ['postgres storage with both connectionString and pool', { storage: { type: 'postgres', connectionString: 'postgres://x', pool: fakePool() } }, /"storage"/],
    ['postgres storage.pool that is not a pool', { storage: { type: 'postgres', pool: { query: 'SELECT 1' } } }, /"storage\.pool"/],
    ['postgres storage.pool a connection string', { storage: { type: 'postgres', pool: 'postgres://x' } }, /"storage\.pool"/],
    ['postgres storage.schema with a dash', { storage: { type: 'postgres', connectionString: 'postgres://x', schema: 'my-chat' } }, /"storage"/],
    ['postgres storage.schema over 63 characters', { storage: { type: 'postgres', connectionString: 'postgres://x', schema: 'a'.repeat(64) } }, /"storage"/],
    ['an unknown key in postgres storage', { storage: { type: 'postgres', connectionString: 'postgres://x', max: 5 } }, /"storage"/],
    ['limits.maxMessageBytes 0', { limits: { maxMessageBytes: 0 } }, /"limits\.maxMessageBytes"/],
    ['limits.maxMessageBytes a string', { limits: { maxMessageBytes: '1000' } }, /"limits\.maxMessageBytes"/],
    ['limits.maxMessageBytes a fraction', { limits: { maxMessageBytes: 10.5 } }, /"limits\.maxMessageBytes"/],
    ['limits.maxMessageBytes over limits.maxFrameBytes', { limits: { maxMessageBytes: 4096, maxFrameBytes: 2048 } }, /"limits\.maxMessageBytes".*"limits\.maxFrameBytes"/],
    ['limits.maxParticipants 1', { limits: { maxParticipants: 1 } }, /"limits\.maxParticipants"/],
    ['an unknown key inside limits', { limits: { maxMessageByte: 10 } }, /"limits\.maxMessageByte"/],
    ['heartbeatMs too small', { heartbeatMs: 10 }, /"heartbeatMs"/],
    ['an unknown top-level key', { prefx: '/chat' }, /"prefx"/],
    ['rateLimit.max -1', { rateLimit: { max: -1 } }, /"rateLimit\.max"/],
    ['rateLimit.windowMs 0', { rateLimit: { windowMs: 0 } }, /"rateLimit\.windowMs"/],
    ['cache.max 0', { cache: { max: 0 } }, /"cache\.max"/],
    ['user.property empty', { user: { property: '' } }, /"user\.property"/],
    ['publicHealth not a boolean', { publicHealth: 'yes' }, /"publicHealth"/],
    ['identify not a function', { identify: 'header' }, /"identify"/],
    ['auth empty', { auth: '' }, /"auth"/],
    ['ai not an object', { ai: 'yes' }, /"ai"/],
    ['ai.handler neither a function nor a name', { ai: { handler: 42 } }, /"ai\.handler"/],
    ['ai.id with a space', { ai: { handler: () => {}, id: 'my bot' } }, /"ai\.id"/],
    ['users not an object', { users: 'ldap' }, /"users"/],
    ['users without resolve', { users: {} }, /"users\.resolve"/],
    ['users.resolve not a function', { users: { resolve: 'lookup' } }, /"users\.resolve"/],
    ['users.timeoutMs 0', { users: { resolve: () => ({}), timeoutMs: 0 } }, /"users\.timeoutMs"/],
    ['an unknown key inside users', { users: { resolve: () => ({}), cache: true } }, /"users\.cache"/]
  ]
  for (const [name, opts, names] of cases) {
    const app = bareApp(t, opts as ChatOptions)
    await t.rejects(ready(app), { code: 'CHAT_ERR_INVALID_OPTS', message: names }, name)
  }
})

t.test('auth naming a decorator the host lacks fails with CHAT_ERR_MISSING_DECORATOR', async (t) => {
  const renamed = bareApp(t, { auth: 'verifyUser' })
  await t.rejects(ready(renamed), { code: 'CHAT_ERR_MISSING_DECORATOR', message: /"verifyUser"/ })

  const noAuthAtAll = bareApp(t, {}, { authenticate: false })
  await t.rejects(ready(noAuthAtAll), { code: 'CHAT_ERR_MISSING_DECORATOR', message: /"authenticate".*"auth" option/ })
})

t.test('ai.handler naming a decorator the host lacks fails with CHAT_ERR_MISSING_DECORATOR', async (t) => {
  const app = bareApp(t, { ai: { handler: 'askHandler' } })
  await t.rejects(ready(app), { code: 'CHAT_ERR_MISSING_DECORATOR', message: /"askHandler".*"ai\.handler"/ })
  const notAFunction = bareApp(t, { ai: { handler: 'search' } }, { decorators: { search: { url: 'http://x' } } })
  await t.rejects(ready(notAFunction), { code: 'CHAT_ERR_INVALID_OPTS', message: /"ai\.handler".*"search"/ })
})

t.test('auth naming a decorator that is not a function fails with CHAT_ERR_INVALID_OPTS', async (t) => {
  const app = bareApp(t, { auth: 'secret' }, { decorators: { secret: 'hunter2' } })
  await t.rejects(ready(app), { code: 'CHAT_ERR_INVALID_OPTS', message: /"auth".*"secret"/ })
})

t.test('a host config whose `chat` is not an object fails with CHAT_ERR_INVALID_OPTS', async (t) => {
  for (const chatEntry of ['memory', 42, ['prefix', '/x'], null]) {
    const app = bareApp(t, {}, { config: { chat: chatEntry } })
    await t.rejects(ready(app), { code: 'CHAT_ERR_INVALID_OPTS', message: /"chat"/ }, JSON.stringify(chatEntry))
  }
  // A bad value that comes from the host config is named like an explicit one.
  const fromConfig = bareApp(t, {}, { config: { chat: { heartbeatMs: 5 } } })
  await t.rejects(ready(fromConfig), { code: 'CHAT_ERR_INVALID_OPTS', message: /"heartbeatMs"/ })
  const unknownInConfig = bareApp(t, {}, { config: { chat: { colour: 'blue' } } })
  await t.rejects(ready(unknownInConfig), { code: 'CHAT_ERR_INVALID_OPTS', message: /"colour"/ })
})

t.test('a host config without a `chat` key, or a config that is not an object, changes nothing', async (t) => {
  const withoutChat = bareApp(t, {}, { config: { port: 3000 } })
  await withoutChat.ready()
  t.equal(withoutChat.chat.options.prefix, '/chat')
  const notAnObject = bareApp(t, {}, { config: 'production' })
  await notAnObject.ready()
  t.equal(notAnObject.chat.options.heartbeatMs, 30_000)
})

t.test('defaults are filled in', async (t) => {
  const app = bareApp(t, {})
  await app.ready()
  const o = app.chat.options
  t.equal(o.prefix, '/chat')
  t.equal(o.auth, 'authenticate')
  t.equal(o.config, 'config')
  t.equal(o.storage, 'memory')
  t.equal(o.adminRole, 'admin')
  t.equal(o.heartbeatMs, 30_000)
  t.equal(o.publicHealth, true)
  t.same(o.user, { property: 'user', id: 'id', name: 'name', roles: 'roles', expires: 'exp' })
  t.same(o.limits, {
    maxMessageBytes: 16 * 1024,
    maxFrameBytes: 1024 * 1024,
    maxParticipants: 100,
    historyWindow: 50,
    replayLimit: 500,
    maxQueuedFrames: 1024,
    maxPendingSends: 1000,
    maxBufferedBytes: 8 * 1024 * 1024,
    maxTitleLength: 200,
    maxMetadataBytes: 4096,
    presenceBatchAbove: 100,
    presenceIntervalMs: 500
  })
  t.same(o.rateLimit, {
    max: 300,
    windowMs: 10_000,
    conversations: { max: 600, windowMs: 60_000 },
    participants: { max: 1200, windowMs: 60_000 },
    typing: { max: 100, windowMs: 10_000 },
    joins: { max: 1000, windowMs: 10_000 },
    rest: { max: 1000, windowMs: 10_000 }
  })
  t.same(o.cache, { max: 1000, messages: 200 })
  t.equal(o.identify, undefined)
  t.equal(o.users, undefined, 'no directory: people added by id are named by their id')
  t.equal((await app.chat.health()).storage.name, 'memory')

  // Groups given in part are completed, not replaced.
  const partial = bareApp(t, { limits: { maxParticipants: 7 } })
  await partial.ready()
  t.equal(partial.chat.options.limits.maxParticipants, 7)
  t.equal(partial.chat.options.limits.maxMessageBytes, 16 * 1024)
})

t.test('options from the host config decorator apply; explicit options win key by key', async (t) => {
  const hostConfig = {
    chat: {
      heartbeatMs: 5000,
      adminRole: 'ops',
      limits: { maxMessageBytes: 2000, maxParticipants: 5 },
      rateLimit: { max: 9 }
    }
  }
  const snapshot = structuredClone(hostConfig)
  const { app, connect } = await listening(t, { limits: { maxMessageBytes: 3000 }, rateLimit: { windowMs: 1234 } }, { config: hostConfig })
  const o = app.chat.options
  t.equal(o.heartbeatMs, 5000, 'from the config')
  t.equal(o.adminRole, 'ops', 'from the config')
  t.equal(o.limits.maxMessageBytes, 3000, 'explicit wins')
  t.equal(o.limits.maxParticipants, 5, 'the config\'s other keys in the same group stay')
  t.match(o.rateLimit, { max: 9, windowMs: 1234, joins: { max: 1000 } }, 'merged key by key, the rest from the defaults')
  t.equal(o.limits.historyWindow, 50, 'defaults fill the rest')
  t.same(hostConfig, snapshot, 'the host config object is not modified')

  const alice = await connect('alice')
  t.match(alice.all('ready')[0], { type: 'ready', userId: 'alice', heartbeatMs: 5000, limits: { maxMessageBytes: 3000, maxParticipants: 5 } })
})

t.test('the config option names another host decorator to read `chat` from', async (t) => {
  const { app, connect } = await listening(t, { config: 'settings' }, {
    configName: 'settings',
    config: { chat: { limits: { maxMessageBytes: 1234 } } },
    decorators: { config: { chat: { limits: { maxMessageBytes: 9999 } } } }
  })
  t.equal(app.chat.options.limits.maxMessageBytes, 1234)
  const bob = await connect('bob')
  t.equal(bob.all('ready')[0].limits.maxMessageBytes, 1234)
})

t.test('a custom prefix moves every route', async (t) => {
  const { app, connect } = await listening(t, { prefix: '/api/talk/' })
  t.equal(app.chat.options.prefix, '/api/talk', 'a trailing slash is dropped')
  const created = await app.inject({ method: 'POST', url: '/api/talk/conversations', headers: { 'x-user': 'alice' }, payload: { title: 'moved' } })
  t.equal(created.statusCode, 201)
  const id = created.json().id as string
  const got = await app.inject({ method: 'GET', url: `/api/talk/conversations/${id}`, headers: { 'x-user': 'alice' } })
  t.equal(got.statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/api/talk/health' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/chat/health' })).statusCode, 404, 'nothing left at /chat')
  t.equal((await app.inject({ method: 'GET', url: '/chat/conversations', headers: { 'x-user': 'alice' } })).statusCode, 404)
  const alice = await connect('alice', '/api/talk/ws')
  const joined = await alice.call({ type: 'join', conversationId: id })
  t.match(joined, { type: 'joined', conversationId: id })
})

t.test('the identify option maps a request to the user', async (t) => {
  const app = Fastify({ logger: false })
  // The host's hook only leaves a session object; identify reads it.
  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const who = request.headers['x-session']
    if (typeof who === 'string') Object.assign(request, { session: { login: who, admin: who === 'boss' } })
    return undefined
  })
  await app.register(chat, {
    identify (request) {
      const session = (request as unknown as { session?: { login: string, admin: boolean } }).session
      if (session === undefined) return null
      return { id: `u-${session.login}`, name: session.login.toUpperCase(), roles: session.admin ? ['admin'] : [] }
    }
  })
  t.teardown(async () => { await app.close() })

  t.equal((await app.inject({ method: 'GET', url: '/chat/conversations' })).statusCode, 401, 'identify returned null')
  const created = await app.inject({ method: 'POST', url: '/chat/conversations', headers: { 'x-session': 'ann' }, payload: {} })
  t.equal(created.statusCode, 201)
  t.match(created.json(), { createdBy: 'u-ann', participants: [{ id: 'u-ann', name: 'ANN', role: 'owner' }] })
  t.equal((await app.inject({ method: 'GET', url: '/chat/admin/audit', headers: { 'x-session': 'ann' } })).statusCode, 403)
  t.equal((await app.inject({ method: 'GET', url: '/chat/admin/audit', headers: { 'x-session': 'boss' } })).statusCode, 200)
})

t.test('the user option names where the host put the user and its fields', async (t) => {
  const app = Fastify({ logger: false })
  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const who = request.headers['x-user']
    if (who === 'carol') Object.assign(request, { account: { uid: 7, displayName: 'Carol C.', groups: 'staff' } })
    if (who === 'dave') Object.assign(request, { account: { sub: 'dave-sub', groups: ['staff', 'ops'] } })
    if (who === 'nobody') Object.assign(request, { account: { displayName: 'no id' } })
    return undefined
  })
  await app.register(chat, { user: { property: 'account', id: 'uid', name: 'displayName', roles: 'groups' }, adminRole: 'ops' })
  t.teardown(async () => { await app.close() })

  const carol = await app.inject({ method: 'POST', url: '/chat/conversations', headers: { 'x-user': 'carol' }, payload: {} })
  t.equal(carol.statusCode, 201)
  t.match(carol.json().participants[0], { id: '7', name: 'Carol C.', role: 'owner' }, 'a numeric id becomes a string')
  t.equal((await app.inject({ method: 'GET', url: '/chat/admin/audit', headers: { 'x-user': 'carol' } })).statusCode, 403, 'a single role string is read')

  const dave = await app.inject({ method: 'POST', url: '/chat/conversations', headers: { 'x-user': 'dave' }, payload: {} })
  t.match(dave.json().participants[0], { id: 'dave-sub', name: 'dave-sub' }, '`sub` when the id field is missing, the id when the name is')
  t.equal((await app.inject({ method: 'GET', url: '/chat/admin/audit', headers: { 'x-user': 'dave' } })).statusCode, 200, 'adminRole is read from the roles field')

  t.equal((await app.inject({ method: 'GET', url: '/chat/conversations', headers: { 'x-user': 'nobody' } })).statusCode, 401, 'no id, no user')
  t.equal((await app.inject({ method: 'GET', url: '/chat/conversations' })).statusCode, 401, 'nothing at the property')
})

t.test('an explicit storage instance is used as it is, even when the host config names a storage', async (t) => {
  const storage = createMemoryStorage()
  const app = bareApp(t, { storage }, { config: { chat: { storage: { type: 'sqlite', filename: './never.db' } } } })
  await app.ready()
  t.equal(app.chat.options.storage, storage, 'the very instance')
  t.equal((await app.chat.health()).storage.name, 'memory', 'nothing of the config\'s storage mixed in')
  const alice = { id: 'alice', name: 'Alice', roles: [] }
  const created = await app.chat.createConversation(alice, { title: 'kept' })
  t.match(await storage.getConversation(created.id), { title: 'kept' }, 'what the chat stores lands in it')
})

t.test('postgres storage options: the host\'s pool is kept as the very instance; storage is replaced whole, not merged', async (t) => {
  class Pool { async query () {} async connect () {} } // methods on the prototype, like pg's
  const pool = new Pool()
  const resolved = resolveOptions({ storage: { type: 'postgres', pool, schema: 'chat_app' } }, undefined)
  t.equal((resolved.storage as { pool: unknown }).pool, pool, 'not a copy')
  t.strictSame(Object.keys(resolved.storage as object).sort(), ['pool', 'schema', 'type'])

  const byUrl = resolveOptions({ storage: { type: 'postgres', connectionString: 'postgres://db/chat' } }, undefined)
  t.strictSame(byUrl.storage, { type: 'postgres', connectionString: 'postgres://db/chat' }, 'schema stays unset: the storage defaults it to "chat"')

  const fromConfig = { chat: { storage: { type: 'sqlite', filename: './chat.db' } } }
  const over = resolveOptions({ storage: { type: 'postgres', pool } }, fromConfig.chat)
  t.strictSame(Object.keys(over.storage as object).sort(), ['pool', 'type'], 'nothing of the config\'s storage mixed in')
  t.equal((over.storage as { pool: unknown }).pool, pool)
  const configOnly = resolveOptions({}, { storage: { type: 'postgres', connectionString: 'postgres://db/chat', schema: 'c2' } })
  t.strictSame(configOnly.storage, { type: 'postgres', connectionString: 'postgres://db/chat', schema: 'c2' }, 'from the host config')
})

t.test('SQLite options from config: lockTimeoutMs and maxSizeBytes are checked and passed on', async (t) => {
  const dir = t.testdir()
  const app = bareApp(t, { storage: { type: 'sqlite', filename: `${dir}/chat.db`, lockTimeoutMs: 250, maxSizeBytes: 1 << 20 } })
  await app.ready()
  t.match(app.chat.options.storage, { type: 'sqlite', lockTimeoutMs: 250, maxSizeBytes: 1 << 20 })
  t.equal((await app.chat.health()).storage.name, 'sqlite')
  await t.rejects(ready(bareApp(t, { storage: { type: 'sqlite', filename: `${dir}/b.db`, lockTimeoutMs: -1 } as any })), { code: 'CHAT_ERR_INVALID_OPTS', message: /lockTimeoutMs/ })
})
