import { copyFileSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { toPublicError } from '../../lib/errors.ts'
import { sqliteFault, unavailable } from '../../lib/storage/sqlite-errors.ts'
import { createSqliteStorage } from '../../lib/storage/sqlite.ts'
import { createConversation, startApp, type Frame, type TestApp, type TestClient } from '../helpers/app.ts'

/** Storage faults of SQLite, driven through the plugin: UNAVAILABLE (503, retryAfterMs), never an ack. */

const isUnavailable = (f: Frame) => f.type === 'error' && f.code === 'UNAVAILABLE' && f.status === 503 &&
  typeof f.retryAfterMs === 'number' && f.retryAfterMs > 0

async function send (client: TestClient, conversationId: string, clientMessageId: string, content = clientMessageId): Promise<Frame> {
  return await client.call({ type: 'send', conversationId, clientMessageId, content })
}

async function health (ta: TestApp): Promise<{ status: number, body: any }> {
  return await ta.request('GET', '/chat/health')
}

/** No ack was ever sent for this clientMessageId, and no message with it reached the socket. */
function neverAcked (t: Test, client: TestClient, clientMessageId: string): void {
  t.notOk(client.frames.some((f) => f.type === 'ack' && f.clientMessageId === clientMessageId), `no ack for ${clientMessageId}`)
  t.notOk(client.frames.some((f) => f.type === 'message' && f.message.clientMessageId === clientMessageId), `no message ${clientMessageId}`)
}

t.test('a full database: sends fail UNAVAILABLE without an ack, health is 503, and both recover once room is freed', async (t) => {
  // The search index catches up at once: deleting indexed messages must still free room on a full database.
  const storage = createSqliteStorage({ filename: join(t.testdir(), 'chat.db'), maxSizeBytes: 512 * 1024, searchIndexDelayMs: 1 })
  const ta = await startApp(t, { storage })
  const filler = await createConversation(ta, 'alice')
  const kept = await createConversation(ta, 'alice', ['bob'])
  const alice = await ta.connect('alice')
  const bob = await ta.connect('bob')
  await bob.call({ type: 'join', conversationId: kept.id })
  const big = 'x'.repeat(8000) // past a page: every one needs new pages

  let full: Frame | undefined
  let lastAck: Frame | undefined
  let refusedId = ''
  for (let i = 0; i < 200 && full === undefined; i++) {
    refusedId = `f${i}`
    const reply = await send(alice, filler.id, refusedId, big)
    if (reply.type === 'ack') lastAck = reply
    else full = reply
  }
  t.ok(lastAck !== undefined && full !== undefined, 'the database filled up after some messages')
  t.ok(isUnavailable(full as Frame), `UNAVAILABLE, 503, retryAfterMs: ${JSON.stringify(full)}`)
  neverAcked(t, alice, refusedId)
  const stored = await ta.request('GET', `/chat/conversations/${filler.id}/messages?after=0&limit=500`, { token: await ta.token('alice') })
  t.equal(stored.body.items.at(-1).seq, lastAck?.seq, 'the refused message was not stored')

  const refused = await send(alice, kept.id, 'k1', big)
  t.ok(isUnavailable(refused), 'a send into another conversation is refused too')
  neverAcked(t, alice, 'k1')
  const rest = await ta.request('POST', `/chat/conversations/${kept.id}/messages`, { token: await ta.token('alice'), body: { clientMessageId: 'k1', content: big } })
  t.match(rest, { status: 503, body: { statusCode: 503, code: 'UNAVAILABLE' } }, 'REST says 503 UNAVAILABLE, not 500')
  const down = await health(ta)
  t.match(down, { status: 503, body: { status: 'unavailable', storage: { name: 'sqlite', status: 'unavailable' } } }, 'health sees writes failing')

  const deleted = await ta.request('DELETE', `/chat/conversations/${filler.id}`, { token: await ta.token('alice') })
  t.equal(deleted.status, 204, 'freeing room needs no room')
  t.match(await health(ta), { status: 200, body: { storage: { status: 'ok' } } }, 'health recovers without a restart')
  const ack = await send(alice, kept.id, 'k1', big)
  t.match(ack, { type: 'ack', clientMessageId: 'k1', seq: kept.lastSeq + 1 }, 'the retried send is acked with the next seq')
  const seen = await bob.next((f) => f.type === 'message' && f.conversationId === kept.id)
  t.match(seen.message, { seq: kept.lastSeq + 1, clientMessageId: 'k1' }, 'others get it, with no gap')
})

t.test('the database directory deleted: sends fail UNAVAILABLE without an ack, health is 503, and both recover when the file is restored', async (t) => {
  const root = t.testdir()
  const dir = join(root, 'data')
  const filename = join(dir, 'chat.db')
  const backup = join(root, 'backup.db')
  const ta = await startApp(t, { storage: { type: 'sqlite', filename } })
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice = await ta.connect('alice')
  const bob = await ta.connect('bob')
  await bob.call({ type: 'join', conversationId: conv.id })
  const first = await send(alice, conv.id, 'm1')
  t.match(first, { type: 'ack', seq: conv.lastSeq + 1 })

  // What an operator keeps: a consistent copy, taken through a second connection.
  const other = new Database(filename)
  other.exec(`VACUUM INTO '${backup.replaceAll("'", "''")}'`)
  other.close()
  rmSync(dir, { recursive: true, force: true })

  const lost = await send(alice, conv.id, 'm2')
  t.ok(isUnavailable(lost), `a write into the deleted file is not acked: ${JSON.stringify(lost)}`)
  t.match(await health(ta), { status: 503, body: { storage: { status: 'unavailable' } } }, 'health is 503 while the file is missing')
  t.ok(isUnavailable(await send(alice, conv.id, 'm2')), 'still refused while the file is missing (no empty database made in its place)')
  neverAcked(t, alice, 'm2')

  mkdirSync(dir)
  copyFileSync(backup, filename)
  t.match(await health(ta), { status: 200, body: { storage: { status: 'ok' } } }, 'health recovers once the file is back')
  const ack = await send(alice, conv.id, 'm2')
  t.match(ack, { type: 'ack', clientMessageId: 'm2', seq: first.seq + 1 }, 'the retried send is acked with the next seq')
  const seen = await bob.next((f) => f.type === 'message' && f.message.clientMessageId === 'm2')
  t.equal(seen.message.seq, first.seq + 1, 'others get it, with no gap')

  // Acked means durable: a restart on the same file finds both messages.
  alice.close()
  bob.close()
  await ta.app.close()
  const again = await startApp(t, { storage: { type: 'sqlite', filename } })
  const history = await again.request('GET', `/chat/conversations/${conv.id}/messages?after=${conv.lastSeq}`, { token: await again.token('alice') })
  t.same(history.body.items.map((m: any) => [m.seq, m.clientMessageId]), [[first.seq, 'm1'], [first.seq + 1, 'm2']])
})

t.test('another connection holding the write lock: pings and health answer while a send waits; it fails UNAVAILABLE past the lock timeout, and is acked once the lock is released', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const ta = await startApp(t, { storage: { type: 'sqlite', filename } })
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice = await ta.connect('alice')
  const bob = await ta.connect('bob')
  await alice.call({ type: 'join', conversationId: conv.id })
  await bob.call({ type: 'join', conversationId: conv.id })

  const blocker = new Database(filename)
  t.teardown(() => { if (blocker.open) blocker.close() })
  blocker.exec('BEGIN IMMEDIATE')

  const waiting = send(alice, conv.id, 'locked')
  const asked = performance.now()
  await bob.call({ type: 'ping' })
  const pongMs = performance.now() - asked
  t.notOk(alice.frames.some((f) => f.type === 'ack' || f.type === 'error'), 'the send is still waiting for the lock')
  t.ok(pongMs < 250, `another socket's ping is answered at once (${Math.round(pongMs)} ms): the event loop is free`)

  const down = await health(ta)
  t.match(down, { status: 503, body: { storage: { status: 'unavailable' } } }, 'health is 503 while writes cannot get the lock')
  const refused = await waiting
  t.ok(isUnavailable(refused), `UNAVAILABLE with retryAfterMs past the lock timeout: ${JSON.stringify(refused)}`)
  neverAcked(t, alice, 'locked')

  // A send that waits is acked as soon as the lock is released within the timeout.
  const pending = send(alice, conv.id, 'locked')
  await bob.call({ type: 'ping' })
  t.notOk(alice.frames.some((f) => f.type === 'ack'), 'waiting while locked')
  blocker.exec('ROLLBACK')
  t.match(await pending, { type: 'ack', clientMessageId: 'locked', seq: conv.lastSeq + 1 }, 'acked with the next seq once the lock is free')
  const seen = await bob.next((f) => f.type === 'message')
  t.equal(seen.message.seq, conv.lastSeq + 1, 'others get it, with no gap')
  t.match(await health(ta), { status: 200, body: { storage: { status: 'ok' } } }, 'health recovers without a restart')
})

t.test('SQLite fault codes are UNAVAILABLE with a retry hint; errors of the request itself are left as they are', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['SQLITE_FULL', 'full'], ['SQLITE_IOERR_WRITE', 'io'], ['SQLITE_IOERR', 'io'], ['SQLITE_NOMEM', 'io'],
    ['SQLITE_READONLY_DBMOVED', 'readonly'], ['SQLITE_READONLY', 'readonly'], ['SQLITE_CANTOPEN', 'cantopen'],
    ['SQLITE_BUSY', 'locked'], ['SQLITE_BUSY_SNAPSHOT', 'locked'], ['SQLITE_LOCKED', 'locked'],
    ['SQLITE_CORRUPT', 'corrupt'], ['SQLITE_NOTADB', 'corrupt'], ['ENOSPC', 'full'], ['EROFS', 'readonly'],
    ['SQLITE_CONSTRAINT_UNIQUE', undefined], ['SQLITE_ERROR', undefined], ['SQLITE_FULLY', undefined], ['CHAT_ERR_NOT_FOUND', undefined]
  ]
  for (const [code, fault] of cases) t.equal(sqliteFault(Object.assign(new Error('x'), { code })), fault, code)
  t.equal(sqliteFault(new Error('no code')), undefined)
  const err = unavailable('full', new Error('/secret/path/chat.db: disk full'))
  t.match(toPublicError(err, 'ws'), { code: 'UNAVAILABLE', status: 503, message: 'Storage unavailable: disk full', retryAfterMs: 5000 },
    'the client reads the kind of fault, not a path')
  t.match(toPublicError(unavailable('locked')), { retryAfterMs: 1000 }, 'a lock is worth retrying sooner')
})

t.test('a file that is not a database fails init with UNAVAILABLE, not an internal error', async (t) => {
  const filename = join(t.testdir({ 'chat.db': 'this is not a database, just text long enough to have a header'.repeat(20) }), 'chat.db')
  const storage = createSqliteStorage({ filename })
  t.teardown(() => storage.close())
  await t.rejects(storage.init(), { code: 'CHAT_ERR_UNAVAILABLE', statusCode: 503, fault: 'corrupt' })
})
