import { createServer } from 'node:net'
import Fastify, { type FastifyRequest } from 'fastify'
import pg from 'pg'
import t, { type Test } from 'tap'
import chat from '../../lib/index.ts'
import { newId } from '../../lib/ids.ts'
import { storageContract } from '../../lib/storage/contract.ts'
import { createPostgresStorage, type PostgresStorageOptions } from '../../lib/storage/postgres.ts'
import { MIGRATIONS, migrate, quoteIdent, type Migration } from '../../lib/storage/postgres-migrations.ts'
import type { ChatStorage } from '../../lib/storage/types.ts'
import { startProxy } from '../helpers/proxy.ts'
import { pgSchemas, url } from '../helpers/postgres.ts'
import { conversation, draft, opened, participant, raceInChildren } from '../helpers/storage.ts'

/**
 * Runs against the machine's PostgreSQL (PG_TEST_URL, default 127.0.0.1:5432, user postgres). Every test
 * works in schemas of its own, with random names, dropped when the file ends; the server itself is never
 * stopped or reconfigured: an outage is a closed port, or a TCP proxy whose connections are cut.
 */
const { admin, freshSchema, dropLater } = pgSchemas(t)

async function open (t: Test, opts: PostgresStorageOptions): Promise<ChatStorage> {
  return await opened(t, createPostgresStorage(opts))
}

/** A port nothing listens on: a server bound, then closed. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  return typeof address === 'object' && address !== null ? address.port : 0
}

/** A bare host with a header-based `authenticate` and the chat plugin on the given storage options. */
async function host (t: Test, storage: unknown) {
  const app = Fastify({ logger: false })
  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const id = request.headers['x-user']
    if (typeof id === 'string') Object.assign(request, { user: { id, name: id, roles: [] } })
    return undefined
  })
  await app.register(chat, { storage: storage as never })
  t.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

t.test('contract, each sub-test on a pool of its own in a fresh schema', async (t) => {
  storageContract(t, async () => createPostgresStorage({ connectionString: url, schema: freshSchema() }))
})

t.test('contract, every sub-test sharing the host\'s one pool, each in a fresh schema', async (t) => {
  // Storages on different schemas prepare statements of the same kind on the same connections.
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  t.teardown(() => pool.end())
  storageContract(t, async () => createPostgresStorage({ pool, schema: freshSchema() }))
})

t.test('migrations: instances starting at once on a new schema apply each step once', async (t) => {
  const schema = freshSchema()
  const storages = Array.from({ length: 4 }, () => createPostgresStorage({ connectionString: url, schema }))
  t.teardown(() => Promise.all(storages.map((s) => s.close())))
  await Promise.all(storages.map((s) => s.init()))
  const { rows } = await admin.query(`SELECT version FROM ${quoteIdent(schema)}.migrations ORDER BY version`)
  t.strictSame(rows, MIGRATIONS.map((m) => ({ version: m.version })), 'each recorded once')

  const id = newId()
  await storages[0].createConversation(conversation(id), [participant])
  t.match(await storages[3].appendMessage(id, draft('hi')), { created: true, message: { seq: 1 } }, 'all four use the same tables')

  const again = await open(t, { connectionString: url, schema })
  t.match(await again.getConversation(id), { lastSeq: 1 }, 'a restart keeps the data and migrates nothing')
})

t.test('migrations run in version order, each once, under a lock that makes concurrent runs take turns', async (t) => {
  const schema = freshSchema()
  const steps: Migration[] = [
    { version: 2, name: 'second', sql: (s) => `INSERT INTO ${s}.log VALUES ('second')` },
    { version: 1, name: 'first', sql: (s) => `CREATE TABLE ${s}.log (step text NOT NULL)` }
  ]
  const runs = await Promise.all(Array.from({ length: 4 }, async () => await migrate(admin, schema, steps)))
  t.strictSame(runs.filter((r) => r.length > 0), [[1, 2]], 'one run applied both, in order; the others found nothing to do')

  const third: Migration = { version: 3, name: 'third', sql: (s) => `INSERT INTO ${s}.log VALUES ('third')` }
  t.strictSame(await migrate(admin, schema, [...steps, third]), [3], 'a later step alone')
  const log = await admin.query(`SELECT step FROM ${quoteIdent(schema)}.log`)
  t.strictSame(log.rows.map((r) => r.step), ['second', 'third'])

  const broken: Migration = { version: 4, name: 'broken', sql: (s) => `INSERT INTO ${s}.log VALUES ('fourth'); SELECT 1/0` }
  await t.rejects(migrate(admin, schema, [...steps, third, broken]), { code: '22012' })
  const versions = await admin.query(`SELECT version FROM ${quoteIdent(schema)}.migrations ORDER BY version`)
  t.strictSame(versions.rows.map((r) => r.version), [1, 2, 3], 'a failed step is not recorded')
  t.equal((await admin.query(`SELECT count(*)::int AS n FROM ${quoteIdent(schema)}.log`)).rows[0].n, 2, 'and leaves nothing behind')
})

t.test('a schema of the version before search migrates: the messages already there are found', async (t) => {
  const schema = freshSchema()
  const s = quoteIdent(schema)
  t.strictSame(await migrate(admin, schema, MIGRATIONS.filter((m) => m.version < 3)), [1, 2], 'the schema as it was')
  const id = newId()
  const at = '2020-01-01T00:00:00.000Z'
  await admin.query(`INSERT INTO ${s}.conversations (id, title, created_by, created_at, updated_at, last_seq) VALUES ($1, 'Old', 'alice', $2, $2, 2)`, [id, at])
  await admin.query(`INSERT INTO ${s}.participants (conversation_id, user_id, name, type, role, joined_at) VALUES ($1, 'alice', 'Alice', 'human', 'owner', $2)`, [id, at])
  for (const [seq, content] of [[1, 'the old lighthouse keeper'], [2, 'harbour lights at night']] as const) {
    await admin.query(`INSERT INTO ${s}.messages (conversation_id, seq, id, kind, sender_id, sender, content, created_at)
      VALUES ($1, $2, $3, 'text', 'alice', '{"id":"alice","name":"Alice","type":"human"}', $4, $5)`, [id, seq, newId(), content, at])
  }

  const storage = await open(t, { connectionString: url, schema })
  const { rows } = await admin.query(`SELECT version FROM ${s}.migrations ORDER BY version`)
  t.strictSame(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version), 'the search step applied at init')
  t.match(await storage.searchMessages?.(id, { q: 'LIGHTHOUSE', limit: 10 }), { items: [{ seq: 1, content: 'the old lighthouse keeper' }], nextCursor: null })
  await storage.appendMessage(id, draft('a lighthouse again'))
  t.strictSame((await storage.searchMessages?.(id, { q: 'lighthouse harbour', limit: 10 }))?.items.map((m) => m.seq).sort(), [1, 2, 3],
    'old and new messages alike')
})

t.test('a schema at version 3 migrates: the words inside addresses, paths and version numbers of its messages are found', async (t) => {
  const schema = freshSchema()
  const s = quoteIdent(schema)
  t.strictSame(await migrate(admin, schema, MIGRATIONS.filter((m) => m.version <= 3)), [1, 2, 3], 'the schema as it was')
  const id = newId()
  const at = '2020-01-01T00:00:00.000Z'
  await admin.query(`INSERT INTO ${s}.conversations (id, title, created_by, created_at, updated_at, last_seq) VALUES ($1, 'Old', 'alice', $2, $2, 3)`, [id, at])
  await admin.query(`INSERT INTO ${s}.participants (conversation_id, user_id, name, type, role, joined_at) VALUES ($1, 'alice', 'Alice', 'human', 'owner', $2)`, [id, at])
  const contents = ['mail bob@example.com or see https://example.com/docs', 'it runs /usr/bin/env at 1.2.3', 'İSTANBUL and ΟΔΟΣ']
  for (const [i, content] of contents.entries()) {
    await admin.query(`INSERT INTO ${s}.messages (conversation_id, seq, id, kind, sender_id, sender, content, created_at)
      VALUES ($1, $2, $3, 'text', 'alice', '{"id":"alice","name":"Alice","type":"human"}', $4, $5)`, [id, i + 1, newId(), content, at])
  }
  const before = await admin.query(`SELECT count(*)::int AS n FROM ${s}.messages WHERE content_search @@ 'example'::tsquery`)
  t.equal(before.rows[0].n, 0, 'version 3 indexed example.com as one token')

  const storage = await open(t, { connectionString: url, schema })
  const { rows } = await admin.query(`SELECT version FROM ${s}.migrations ORDER BY version`)
  t.strictSame(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version), 'the later steps applied at init')
  const seqs = async (q: string) => (await storage.searchMessages?.(id, { q, limit: 10 }))?.items.map((m) => m.seq)
  t.strictSame(await seqs('example'), [1], 'a host, twice in one message')
  t.match(await storage.searchMessages?.(id, { q: 'example', limit: 10 }), { items: [{ seq: 1, content: contents[0] }], nextCursor: null })
  t.strictSame(await seqs('env'), [2], 'a path')
  t.strictSame(await seqs('2'), [2], 'a version number')
  t.strictSame(await seqs('istanbul'), [], 'İ lowercased as JavaScript does')
  t.strictSame(await seqs('İstanbul οδος'), [3])
  await storage.appendMessage(id, draft('docs at docs.example.org'))
  t.strictSame(await seqs('docs'), [4, 1], 'new messages alike, the one holding the word twice first')
  const index = await admin.query("SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'messages_content_search'", [schema])
  t.match(index.rows, [{ indexdef: /USING gin \(content_search\)/ }], 'the index is there again')
})

t.test('a schema name that needs quoting works', async (t) => {
  const schema = freshSchema().replace('chat_test_', 'Chat Test "x" ')
  dropLater(schema)
  const storage = await open(t, { connectionString: url, schema })
  const id = newId()
  await storage.createConversation(conversation(id), [participant])
  t.match(await storage.appendMessage(id, draft('hi')), { message: { seq: 1 } })
})

t.test('processes appending to one conversation at once get 1..n with no gap', async (t) => {
  const schema = freshSchema()
  const storage = await open(t, { connectionString: url, schema })
  const id = newId()
  await storage.createConversation(conversation(id), [participant])

  // Each child opens its own pool, says 'ready', and appends when all have: the appends overlap. Every
  // tenth message is sent twice at once, racing its own duplicate.
  const child = (n: number) => `
    const { createPostgresStorage } = await import(${JSON.stringify(new URL('../../lib/storage/postgres.ts', import.meta.url).href)})
    const storage = createPostgresStorage({ connectionString: ${JSON.stringify(url)}, schema: ${JSON.stringify(schema)} })
    await storage.init()
    process.once('message', async () => {
      const sender = { id: 'p${n}', name: 'P', type: 'human' }
      const seqs = []
      await Promise.all(Array.from({ length: 8 }, async (_, lane) => {
        for (let i = lane; i < 100; i += 8) {
          const draft = { id: 'p${n}-' + i, kind: 'text', sender, content: 'x', createdAt: new Date().toISOString(), clientMessageId: 'c' + i }
          const sends = i % 10 === 0 ? [storage.appendMessage(${JSON.stringify(id)}, draft), storage.appendMessage(${JSON.stringify(id)}, draft)] : [storage.appendMessage(${JSON.stringify(id)}, draft)]
          const results = await Promise.all(sends)
          if (results.filter((r) => r.created).length !== 1) throw new Error('a duplicate was stored twice')
          seqs.push(results.find((r) => r.created).message.seq)
        }
      }))
      await storage.close()
      process.send(seqs, () => process.disconnect())
    })
    process.send('ready')`
  const seqs = await raceInChildren(t, child)

  t.strictSame(seqs, Array.from({ length: 400 }, (_, i) => i + 1))
  t.match(await storage.getConversation(id), { lastSeq: 400 })
  t.equal((await storage.getMessages(id, { limit: 1000 })).length, 400, 'the racing duplicates stored nothing')
})

t.test('the host\'s pool is used and never ended; a pool the storage made is ended on close', async (t) => {
  const pool = new pg.Pool({ connectionString: url, max: 2 })
  t.teardown(() => pool.end())
  const schema = freshSchema()
  const storage = createPostgresStorage({ pool, schema })
  await storage.init()
  const id = newId()
  await storage.createConversation(conversation(id), [participant])
  await storage.close()
  await storage.close()
  t.equal(pool.ended, false, 'not ended')
  t.strictSame((await pool.query(`SELECT title FROM ${quoteIdent(schema)}.conversations`)).rows, [{ title: 'Kept' }], 'still usable')

  const own = createPostgresStorage({ connectionString: url, schema })
  await own.init()
  await own.ping()
  await own.close()
  await own.close()
  await t.rejects(own.ping(), { code: 'CHAT_ERR_UNAVAILABLE' }, 'its own pool is gone')
})

t.test('the plugin takes { type: "postgres", pool } and { type: "postgres", connectionString }; /health names it', async (t) => {
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  t.teardown(() => pool.end())
  const schema = freshSchema()
  const app = await host(t, { type: 'postgres', pool, schema })
  t.equal((await app.chat.health()).storage.name, 'postgres')
  t.equal((app.chat.options.storage as { pool: unknown }).pool, pool, 'the very pool, not a copy')
  const health = await app.inject({ method: 'GET', url: '/chat/health' })
  t.equal(health.statusCode, 200)
  t.match(health.json(), { status: 'ok', storage: { name: 'postgres', status: 'ok' } })

  const created = await app.inject({ method: 'POST', url: '/chat/conversations', headers: { 'x-user': 'alice' }, payload: { title: 'pg' } })
  t.equal(created.statusCode, 201)
  const { rows } = await pool.query(`SELECT title FROM ${quoteIdent(schema)}.conversations`)
  t.strictSame(rows, [{ title: 'pg' }], 'stored in the named schema')
  await app.close()
  t.equal(pool.ended, false, 'closing the app leaves the host\'s pool open')

  const byUrl = await host(t, { type: 'postgres', connectionString: url, schema })
  const listed = await byUrl.inject({ method: 'GET', url: '/chat/conversations', headers: { 'x-user': 'alice' } })
  t.match(listed.json(), { items: [{ title: 'pg' }] }, 'a connection string reaches the same data')
})

t.test('an unreachable database is CHAT_ERR_UNAVAILABLE (503, retry in a second), not an internal error', async (t) => {
  const port = await closedPort()
  const down = createPostgresStorage({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` })
  t.teardown(() => down.close())
  await t.rejects(down.init(), { code: 'CHAT_ERR_UNAVAILABLE', statusCode: 503, retryAfterMs: 1000 }, 'init')
  await t.rejects(down.ping(), { code: 'CHAT_ERR_UNAVAILABLE' }, 'ping')
  await t.rejects(down.appendMessage(newId(), draft('hi')), { code: 'CHAT_ERR_UNAVAILABLE' }, 'an append')
  await t.rejects(down.addParticipant(newId(), participant, 5), { code: 'CHAT_ERR_UNAVAILABLE' }, 'a transaction')
})

t.test('connections cut under a running app: requests fail with UNAVAILABLE, /health says so', async (t) => {
  const proxy = await startProxy(Number(new URL(url).port || 5432))
  t.teardown(() => proxy.close())
  const through = new URL(url)
  through.port = String(proxy.port)
  through.hostname = '127.0.0.1'
  const pool = new pg.Pool({ connectionString: through.href, max: 2, connectionTimeoutMillis: 2000 })
  pool.on('error', () => {}) // the host's own concern: idle connections reset by the cut
  t.teardown(() => pool.end())
  // The test reaches the storage the app runs on: it makes it and hands the instance to the plugin.
  const schema = freshSchema()
  const storage = createPostgresStorage({ pool, schema })
  const app = await host(t, storage)
  const created = await app.inject({ method: 'POST', url: '/chat/conversations', headers: { 'x-user': 'alice' }, payload: {} })
  const id = created.json().id as string
  const { lastSeq } = await storage.getConversation(id) as { lastSeq: number }

  // A transaction in flight when the connections go fails (or had committed); the process does not crash.
  const inFlight = storage.addParticipant(id, { ...participant, id: 'bob', role: 'member' }, 5)
  proxy.cut()
  await inFlight.catch(() => {})
  await proxy.close()

  const health = await app.inject({ method: 'GET', url: '/chat/health' })
  t.equal(health.statusCode, 503)
  t.match(health.json(), { status: 'unavailable', storage: { name: 'postgres', status: 'unavailable' } })
  const listed = await app.inject({ method: 'GET', url: '/chat/conversations?limit=5', headers: { 'x-user': 'carol' } })
  t.equal(listed.statusCode, 503)
  t.match(listed.json(), { code: 'UNAVAILABLE' })
  await t.rejects(storage.appendMessage(id, draft('lost')), { code: 'CHAT_ERR_UNAVAILABLE' })

  const direct = createPostgresStorage({ connectionString: url, schema })
  await direct.init()
  t.teardown(() => direct.close())
  t.match(await direct.appendMessage(id, draft('after')), { created: true, message: { seq: lastSeq + 1 } },
    'the failed append used no seq')
})

t.test('text PostgreSQL cannot hold (NUL) is refused as a bad request', async (t) => {
  const storage = await open(t, { connectionString: url, schema: freshSchema() })
  const id = newId()
  await storage.createConversation(conversation(id), [participant])
  await t.rejects(storage.appendMessage(id, draft('a\u0000b')), { code: 'CHAT_ERR_BAD_REQUEST' })
  await t.rejects(storage.appendMessage(id, { ...draft('ok'), metadata: { x: '\u0000' } }), { code: 'CHAT_ERR_BAD_REQUEST' })
  t.match(await storage.appendMessage(id, draft('fine')), { message: { seq: 1 } }, 'no seq was used')
})

t.test('appends waiting behind one in flight go together: call order, each its own answer', async (t) => {
  const storage = await open(t, { connectionString: url, schema: freshSchema() })
  const id = newId()
  await storage.createConversation(conversation(id), [participant])
  await storage.appendMessage(id, draft('stored before', 'old'))

  // The first goes at once; the rest queue behind it and go in one statement.
  const sends = [
    draft('a'), draft('b', 'x'), draft('bad \u0000'), draft('again', 'old'), draft('b twice', 'x'), draft('c'),
    { ...draft('d', 'y'), sender: { id: 'bob', name: 'Bob', type: 'human' } }
  ] as const
  const results = await Promise.allSettled(sends.map(async (d) => await storage.appendMessage(id, d)))
  const value = (i: number) => (results[i] as PromiseFulfilledResult<Awaited<ReturnType<ChatStorage['appendMessage']>>>).value
  t.match(results[2], { status: 'rejected', reason: { code: 'CHAT_ERR_BAD_REQUEST' } }, 'a message the database refuses fails alone')
  t.strictSame([0, 1, 5, 6].map((i) => [value(i).created, value(i).message.seq]), [[true, 2], [true, 3], [true, 4], [true, 5]],
    'the others are stored, in call order, with no gap')
  t.match(value(3), { created: false, message: { seq: 1, content: 'stored before' } }, 'a repeat of a stored message')
  t.match(value(4), { created: false, message: { seq: 3, content: 'b' } }, 'a repeat inside the batch gets the first')
  t.not(value(4).message, value(1).message, 'as a copy of its own')

  const missing = newId()
  const lost = await Promise.allSettled([draft('1'), draft('2', 'z'), draft('3')].map(async (d) => await storage.appendMessage(missing, d)))
  t.ok(lost.every((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'CHAT_ERR_NOT_FOUND'), 'a missing conversation fails each')
  t.match(await storage.getConversation(id), { lastSeq: 5 })
})

t.test('two pools racing the same client ids store each once, with no gap', async (t) => {
  const schema = freshSchema()
  const a = await open(t, { connectionString: url, schema })
  const b = await open(t, { connectionString: url, schema })
  const id = newId()
  await a.createConversation(conversation(id), [participant])
  const drafts = Array.from({ length: 60 }, (_, i) => draft(`m${i}`, `c${i}`))
  const [fromA, fromB] = await Promise.all([a, b].map(async (s) => await Promise.all(drafts.map(async (d) => await s.appendMessage(id, d)))))
  for (let i = 0; i < drafts.length; i++) {
    t.equal(Number(fromA[i].created) + Number(fromB[i].created), 1, `c${i} created once`)
    t.strictSame(fromA[i].message, fromB[i].message, `c${i} is the same message on both sides`)
  }
  t.strictSame(fromA.map((r) => r.message.seq).sort((x, y) => x - y), Array.from({ length: 60 }, (_, i) => i + 1))
  t.match(await a.getConversation(id), { lastSeq: 60 })
})
