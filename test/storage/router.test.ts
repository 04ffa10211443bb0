import { join } from 'node:path'
import t, { type Test } from 'tap'
import { newId } from '../../lib/ids.ts'
import type { ConversationRecord } from '../../lib/schemas/entities.ts'
import { storageContract } from '../../lib/storage/contract.ts'
import { createMemoryStorage } from '../../lib/storage/memory.ts'
import { createRouterStorage, type RouterStorageOptions } from '../../lib/storage/router.ts'
import { createSqliteStorage } from '../../lib/storage/sqlite.ts'
import type { ChatStorage } from '../../lib/storage/types.ts'
import { conversation, draft, participant } from '../helpers/storage.ts'

async function opened (t: Test, opts: RouterStorageOptions): Promise<ChatStorage> {
  const storage = createRouterStorage(opts)
  await storage.init()
  t.teardown(() => storage.close())
  return storage
}

const tenant = (record: ConversationRecord) => String(record.metadata?.tenant)
const inTenant = (name: string, over: Partial<ConversationRecord> = {}): ConversationRecord =>
  ({ ...conversation(newId()), metadata: { tenant: name }, ...over })

/** A memory store that counts the lookups a router makes in it. */
function counted (): ChatStorage & { lookups: number } {
  const memory = createMemoryStorage()
  const store = {
    ...memory,
    lookups: 0,
    getConversation (id: string) {
      store.lookups++
      return memory.getConversation(id)
    }
  }
  return store
}

t.test('contract: memory and SQLite behind a router, conversations alternating between them', async (t) => {
  const dir = t.testdir()
  let n = 0
  storageContract(t, async () => {
    let turn = 0
    return createRouterStorage({
      stores: { memory: createMemoryStorage(), sqlite: createSqliteStorage({ filename: join(dir, `db${n++}.db`) }) },
      route: () => (turn++ % 2 === 0 ? 'memory' : 'sqlite')
    })
  })
})

t.test('a new conversation lands in the store the rule names, and is served from there', async (t) => {
  const stores = { east: createMemoryStorage(), west: createMemoryStorage() }
  const router = await opened(t, { stores, route: tenant })
  const e = inTenant('east')
  const w = inTenant('west')
  await router.createConversation(e, [participant])
  await router.createConversation(w, [participant])
  t.strictSame(await stores.east.getConversation(e.id), e)
  t.equal(await stores.west.getConversation(e.id), null)
  t.strictSame(await stores.west.getConversation(w.id), w)

  t.match(await router.appendMessage(w.id, draft('hello west')), { message: { seq: 1 } })
  t.match(await stores.west.getMessages(w.id, { limit: 5 }), [{ content: 'hello west' }])
  t.strictSame(await stores.east.getMessages(w.id, { limit: 5 }), [])
  t.equal(await router.addParticipant(e.id, { ...participant, id: 'bob' }, 5), 'added')
  t.equal((await stores.east.getParticipants(e.id)).length, 2)
  t.equal(await router.countConversations(), 2, 'counts add up')
  t.equal(await router.deleteConversation(e.id), true)
  t.equal(await stores.east.getConversation(e.id), null)
  t.equal(await router.deleteConversation(e.id), false)
  t.equal(await router.addParticipant(e.id, participant, 5), 'missing')
  await t.rejects(router.appendMessage(e.id, draft('x')), { code: 'CHAT_ERR_NOT_FOUND' })
})

t.test('a route to an unknown store is refused, and nothing is stored', async (t) => {
  const stores = { east: createMemoryStorage() }
  const router = await opened(t, { stores, route: tenant })
  await t.rejects(router.createConversation(inTenant('nowhere'), [participant]),
    { code: 'CHAT_ERR_INVALID_OPTS', message: /route\(\) named the store "nowhere", not one of east/ })
  await t.rejects(router.createConversation(inTenant('toString'), [participant]), { code: 'CHAT_ERR_INVALID_OPTS' }, 'not an inherited key either')
  t.equal(await router.countConversations(), 0)
  t.throws(() => createRouterStorage({ stores: {}, route: tenant }), { code: 'CHAT_ERR_INVALID_OPTS', message: /no stores/ })
  t.throws(() => createRouterStorage({ stores, route: tenant, audit: 'west' }), { code: 'CHAT_ERR_INVALID_OPTS', message: /audit names "west"/ })
})

t.test('where a conversation lives is remembered; on a miss every store is asked once', async (t) => {
  const stores = { east: counted(), west: counted() }
  const first = await opened(t, { stores, route: tenant })
  const record = inTenant('west')
  await first.createConversation(record, [participant])
  for (let i = 0; i < 3; i++) await first.appendMessage(record.id, draft(`m${i}`))
  t.strictSame([stores.east.lookups, stores.west.lookups], [0, 0], 'created here: known without asking')

  const cold = createRouterStorage({ stores, route: tenant })
  t.match(await cold.appendMessage(record.id, draft('m3')), { message: { seq: 4 } })
  t.strictSame([stores.east.lookups, stores.west.lookups], [1, 1], 'a miss asks all stores')
  await cold.getMessages(record.id, { limit: 10 })
  await cold.updateConversation(record.id, { title: 'T' })
  t.strictSame([stores.east.lookups, stores.west.lookups], [1, 1], 'then it is known')
  t.equal(await cold.getConversation(newId()), null)
  t.equal(await cold.getConversation(newId()), null)
  t.strictSame([stores.east.lookups, stores.west.lookups], [3, 3], 'an unknown id is not remembered: it may be created later')
})

t.test('after a restart with a cold cache, conversations are found where they are, whatever the rule says now', async (t) => {
  const dir = t.testdir()
  const files = { east: join(dir, 'east.db'), west: join(dir, 'west.db') }
  const sqlite = () => ({ east: createSqliteStorage({ filename: files.east }), west: createSqliteStorage({ filename: files.west }) })
  const before = createRouterStorage({ stores: sqlite(), route: tenant, audit: 'west' })
  await before.init()
  const e = inTenant('east')
  const w = inTenant('west')
  await before.createConversation(e, [participant])
  await before.createConversation(w, [participant])
  await before.appendMessage(e.id, draft('one', 'c1'))
  await before.appendAudit({ id: newId(), at: '2020-01-01T00:00:02.000Z', actor: 'alice', action: 'create', target: e.id })
  await before.close()

  const stores = sqlite()
  const after = await opened(t, { stores, route: () => 'west', audit: 'west' })
  t.match(await after.getConversation(e.id), { id: e.id, lastSeq: 1 })
  t.match(await after.appendMessage(e.id, draft('repeat', 'c1')), { created: false, message: { seq: 1, content: 'one' } }, 'dedupe holds')
  t.match(await after.appendMessage(e.id, draft('two')), { created: true, message: { seq: 2 } }, 'seq goes on in its store')
  t.equal((await stores.east.getMessages(e.id, { limit: 10 })).length, 2)
  t.strictSame((await after.listConversations({ limit: 10 })).items.map((c) => c.id), [w.id, e.id])
  t.match(await after.listAudit({ limit: 10 }), [{ target: e.id }], 'the audit is in the named store')
  t.strictSame(await stores.east.listAudit({ limit: 10 }), [])
  const later = inTenant('east')
  await after.createConversation(later, [participant])
  t.ok(await stores.west.getConversation(later.id), 'new conversations follow the new rule')
})

t.test('listConversations pages across stores newest first, with no repeat and no miss', async (t) => {
  const stores = { a: createMemoryStorage(), b: createMemoryStorage(), c: createMemoryStorage() }
  // uneven: a long run in a, then b and c interleaved, then a again
  const plan = 'aaaaaaabcbcbbcacccbbbaa'
  const router = await opened(t, { stores, route: tenant })
  const created: string[] = []
  for (const [i, name] of [...plan].entries()) {
    const record = inTenant(name)
    await router.createConversation(record, i % 3 === 0 ? [participant, { ...participant, id: 'bob', role: 'member' }] : [participant])
    created.push(record.id)
  }
  const newestFirst = [...created].reverse()

  const walk = async (query: { userId?: string, limit: number }, between?: () => Promise<void>) => {
    const out: string[][] = []
    let cursor: string | undefined
    for (;;) {
      const page = await router.listConversations({ ...query, cursor })
      out.push(page.items.map((c) => c.id))
      if (page.nextCursor === null || out.length > 50) return out
      cursor = page.nextCursor
      await between?.()
    }
  }
  for (const limit of [1, 2, 3, 5, 7, 8, 23, 30]) {
    const pages = await walk({ limit })
    t.strictSame(pages.flat(), newestFirst, `limit ${limit}: all, in order, once`)
    t.ok(pages.slice(0, -1).every((p) => p.length === limit) && pages[pages.length - 1].length > 0, `limit ${limit}: full pages, no empty last one`)
  }
  const expectedBobs = newestFirst.filter((_, i) => (plan.length - 1 - i) % 3 === 0)
  t.strictSame((await walk({ userId: 'bob', limit: 2 })).flat(), expectedBobs, 'one user\'s, across stores')

  let added: string | undefined
  const pages = await walk({ limit: 4 }, async () => {
    if (added !== undefined) return
    const record = inTenant('b')
    await router.createConversation(record, [participant])
    added = record.id
  })
  t.strictSame(pages.flat(), newestFirst, 'a conversation created during the walk is neither repeated nor pushes one out')
  await t.rejects(router.listConversations({ limit: 2, cursor: 'nonsense' }), { code: 'CHAT_ERR_BAD_REQUEST' })
  const foreign = Buffer.from(JSON.stringify({ last: 'z', from: { d: null } })).toString('base64url')
  await t.rejects(router.listConversations({ limit: 2, cursor: foreign }), { code: 'CHAT_ERR_BAD_REQUEST' }, 'a store it does not have')
})

t.test('searchMessages goes to the conversation\'s store; NOT_IMPLEMENTED where that store has none', async (t) => {
  const searchable = createMemoryStorage()
  const asked: string[] = []
  const found = { items: [], nextCursor: 'next' }
  searchable.searchMessages = async (id) => { asked.push(id); return found }
  const plain = createMemoryStorage()
  delete plain.searchMessages
  const router = await opened(t, { stores: { searchable, plain }, route: tenant })
  const s = inTenant('searchable')
  const p = inTenant('plain')
  await router.createConversation(s, [participant])
  await router.createConversation(p, [participant])

  t.strictSame(await router.searchMessages?.(s.id, { q: 'x', limit: 5 }), found)
  t.strictSame(asked, [s.id])
  await t.rejects(router.searchMessages?.(p.id, { q: 'x', limit: 5 }) as Promise<unknown>, { code: 'CHAT_ERR_NOT_IMPLEMENTED', statusCode: 501 })
  t.strictSame(await router.searchMessages?.(newId(), { q: 'x', limit: 5 }), { items: [], nextCursor: null }, 'unknown conversation')

  const none = createRouterStorage({ stores: { plain }, route: () => 'plain' })
  t.equal(none.searchMessages, undefined, 'no store searches: neither does the router')
})

t.test('failStaleAnswers sweeps every store, at most limit in all, each answer once', async (t) => {
  const stores = { east: createMemoryStorage(), west: createMemoryStorage() }
  const router = await opened(t, { stores, route: tenant })
  const ai = { id: 'ai', name: 'AI', type: 'ai' } as const
  for (const name of ['east', 'west', 'east', 'west']) {
    const record = inTenant(name)
    await router.createConversation(record, [participant])
    await router.appendMessage(record.id, { ...draft(''), sender: ai, kind: 'ai', status: 'streaming' })
  }
  const first = await router.failStaleAnswers('2030-01-01T00:00:00.000Z', 3)
  t.equal(first.length, 3)
  const second = await router.failStaleAnswers('2030-01-01T00:00:00.000Z', 3)
  t.equal(second.length, 1, 'the one left')
  t.equal(new Set([...first, ...second].map((m) => m.id)).size, 4)
  t.strictSame(await router.failStaleAnswers('2030-01-01T00:00:00.000Z', 3), [])
})

t.test('init, ping and probe reach every store; one failing fails them', async (t) => {
  const broken = createMemoryStorage()
  broken.ping = async () => { throw new Error('down') }
  broken.probe = async () => { throw new Error('read-only') }
  const router = await opened(t, { stores: { ok: createMemoryStorage(), broken }, route: () => 'ok' })
  await t.rejects(router.ping(), /down/)
  await t.rejects(router.probe?.() as Promise<void>, /read-only/)
  t.match(router.name, /^router\(ok:memory,broken:memory\)$/)
  const noProbe = createMemoryStorage()
  delete noProbe.probe
  t.equal(createRouterStorage({ stores: { noProbe }, route: () => 'noProbe' }).probe, undefined, 'no store probes: neither does the router')
})
