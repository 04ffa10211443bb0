import t from 'tap'
import { newId } from '../../lib/ids.ts'
import { storageContract } from '../../lib/storage/contract.ts'
import { createAzureTableStorage } from '../../lib/storage/azure.ts'
import { get } from '../../lib/storage/azure-client.ts'
import { toChatError } from '../../lib/storage/azure-errors.ts'
import type { ChatStorage } from '../../lib/storage/types.ts'
import { createConversation, startApp } from '../helpers/app.ts'
import { azurite, connectionStringFor, portOf } from '../helpers/azurite.ts'
import { startProxy } from '../helpers/proxy.ts'
import { conversation, draft, opened, participant, raceInChildren } from '../helpers/storage.ts'

/**
 * Runs against Azurite (AZURE_STORAGE_CONNECTION_STRING when set, else one started for this file, in memory).
 * Every storage works in tables of its own (a random prefix); an outage is a TCP proxy that is cut.
 */
const { connectionString, freshPrefix } = await azurite(t)

const open = async (t: Parameters<typeof opened>[0], tablePrefix = freshPrefix()): Promise<ChatStorage> =>
  await opened(t, createAzureTableStorage({ connectionString, tablePrefix }))

t.test('contract, each sub-test in tables of its own', async (t) => {
  storageContract(t, async () => createAzureTableStorage({ connectionString, tablePrefix: freshPrefix() }))
})

t.test('processes appending to one conversation at once get 1..n with no gap and no repeat', async (t) => {
  const tablePrefix = freshPrefix()
  const storage = await open(t, tablePrefix)
  const id = newId()
  await storage.createConversation(conversation(id), [participant])

  // Each child says 'ready' and appends when all have, 8 at a time: the counter's ETag is fought over across
  // processes. Every tenth message is sent twice at once, racing its own duplicate.
  const child = (n: number) => `
    const { createAzureTableStorage } = await import(${JSON.stringify(new URL('../../lib/storage/azure.ts', import.meta.url).href)})
    const storage = createAzureTableStorage({ connectionString: ${JSON.stringify(connectionString)}, tablePrefix: ${JSON.stringify(tablePrefix)} })
    await storage.init()
    process.once('message', async () => {
      const sender = { id: 'p${n}', name: 'P', type: 'human' }
      const seqs = []
      await Promise.all(Array.from({ length: 8 }, async (_, lane) => {
        for (let i = lane; i < 60; i += 8) {
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

  t.strictSame(seqs, Array.from({ length: 240 }, (_, i) => i + 1))
  t.match(await storage.getConversation(id), { lastSeq: 240 })
  const stored = await storage.getMessages(id, { after: 0, limit: 1000 })
  t.strictSame(stored.map((m) => m.seq), seqs, 'every seq stored once, the racing duplicates nothing')
})

t.test('two storages racing the same client ids store each once, with no gap', async (t) => {
  const tablePrefix = freshPrefix()
  const a = await open(t, tablePrefix)
  const b = await open(t, tablePrefix)
  const id = newId()
  await a.createConversation(conversation(id), [participant])
  const drafts = Array.from({ length: 40 }, (_, i) => draft(`m${i}`, `c${i}`))
  const [fromA, fromB] = await Promise.all([a, b].map(async (s) => await Promise.all(drafts.map(async (d) => await s.appendMessage(id, d)))))
  for (let i = 0; i < drafts.length; i++) {
    t.equal(Number(fromA[i].created) + Number(fromB[i].created), 1, `c${i} created once`)
    t.strictSame(fromA[i].message, fromB[i].message, `c${i} is the same message on both sides`)
  }
  t.strictSame(fromA.map((r) => r.message.seq).sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i + 1))
  t.match(await a.getConversation(id), { lastSeq: 40 })
})

t.test('content and parts larger than one property round-trip; past an entity\'s 1 MiB is TOO_LARGE', async (t) => {
  const storage = await open(t)
  const id = newId()
  await storage.createConversation(conversation(id), [participant])
  // 100K UTF-16 units with a surrogate pair across every 30K boundary, and a NUL: split across properties.
  const content = ('a'.repeat(29_999) + '😀').repeat(3) + '\u0000 end' + 'é'.repeat(9000)
  const parts = Array.from({ length: 400 }, (_, i) => ({ message_type: 'result_batch', results: [{ name: `r${i}`, text: 'x'.repeat(300) }] }))
  t.ok(JSON.stringify(parts).length > 64 * 1024, 'parts JSON past one property')
  const { message } = await storage.appendMessage(id, { ...draft(content, 'big'), kind: 'ai', parts, status: 'streaming' })
  t.strictSame((await storage.getMessages(id, { limit: 1 }))[0], message, 'stored as given')
  t.equal((await storage.findMessageByClientId(id, 'alice', 'big'))?.content, content)

  const moreParts = [...parts, ...parts]
  const done = await storage.updateMessage(id, message.id, { content: 'short now', parts: moreParts, status: 'complete' }, { parts: JSON.stringify(moreParts) })
  t.strictSame(done, { ...message, content: 'short now', parts: moreParts, status: 'complete' })
  t.strictSame((await storage.getMessages(id, { limit: 1 }))[0], done, 'fewer content chunks than before leave none behind')

  await t.rejects(storage.appendMessage(id, draft('x'.repeat(600_000))), { code: 'CHAT_ERR_TOO_LARGE', statusCode: 413 })
  t.match(await storage.appendMessage(id, draft('fine')), { message: { seq: 2 } }, 'the refused message used no seq')
})

t.test('ids with characters keys cannot hold (/ \\ # ? and control characters) work', async (t) => {
  const storage = await open(t)
  const id = `a/b\\c#d?e\u0001${newId()}`
  const odd = { ...participant, id: 'u/#?\\\u0007' }
  await storage.createConversation(conversation(id), [odd])
  t.strictSame(await storage.getParticipants(id), [odd])
  const sent = await storage.appendMessage(id, { ...draft('hi', 'c/#?'), sender: { id: odd.id, name: 'U', type: 'human' } })
  t.strictSame(await storage.findMessageByClientId(id, odd.id, 'c/#?'), sent.message)
  t.strictSame((await storage.listConversations({ userId: odd.id, limit: 5 })).items.map((c) => c.id), [id])
  t.strictSame(await storage.updateMessage(id, sent.message.id, { content: 'edited' }), { ...sent.message, content: 'edited' })
  t.equal(await storage.deleteConversation(id), true)
  t.equal(await storage.countConversations(), 0)
})

t.test('ids of 128 characters that all need escaping work end to end (keys past the service\'s limit are hashed)', async (t) => {
  const storage = await open(t)
  const id = '/#?\\'.repeat(32) // 128 characters, each escaped to 5
  const other = `${'/'.repeat(127)}#` // the same escaped length, another id
  const user = { ...participant, id: '?\u0001'.repeat(64) }
  const sender = { id: user.id, name: 'U', type: 'human' } as const
  t.equal(id.length, 128)
  for (const cid of [id, other]) {
    await storage.createConversation({ ...conversation(cid), createdBy: user.id }, [user])
    t.strictSame(await storage.getParticipants(cid), [user], 'participants')
    t.match(await storage.addParticipant(cid, { ...participant, id: '#'.repeat(128), role: 'member' }, 5), 'added')
  }
  const sent = await storage.appendMessage(id, { ...draft('hi', '?'.repeat(128)), id: '\\'.repeat(128), sender },
    (m) => ({ id: '#'.repeat(128), kind: 'ai', sender: { id: 'ai', name: 'AI', type: 'ai' }, content: '', status: 'streaming', replyTo: m.seq, createdAt: m.createdAt }))
  t.match(sent, { created: true, message: { seq: 1, conversationId: id }, reply: { seq: 2 } })
  t.match(await storage.appendMessage(id, { ...draft('again', '?'.repeat(128)), sender }), { created: false, message: { seq: 1 } }, 'a repeat')
  t.strictSame(await storage.findMessageByClientId(id, user.id, '?'.repeat(128)), sent.message)
  t.strictSame((await storage.getMessages(id, { after: 0, limit: 10 })).map((m) => m.seq), [1, 2])
  t.match(await storage.updateMessage(id, '#'.repeat(128), { content: 'done', status: 'complete' }), { seq: 2, content: 'done' }, 'found by its long id')
  t.strictSame((await storage.listConversations({ userId: user.id, limit: 5 })).items.map((c) => c.id).sort(), [id, other].sort(), 'a user\'s list')
  t.strictSame((await storage.listConversations({ limit: 5 })).items.map((c) => c.id).sort(), [id, other].sort(), 'everyone\'s list')
  t.equal(await storage.countConversations(), 2)
  t.equal((await storage.getConversation(other))?.id, other, 'two long ids, two conversations')
  t.equal(await storage.removeParticipant(id, '#'.repeat(128)), true)
  t.equal(await storage.deleteConversation(id), true)
  t.equal(await storage.getConversation(id), null)
  t.equal(await storage.countConversations(), 1)
})

t.test('the service refusing a key (400 OutOfRangeInput, InvalidInput): nothing there on reads, BAD_REQUEST on writes', async (t) => {
  for (const code of ['OutOfRangeInput', 'InvalidInput']) {
    const refused = Object.assign(new Error(`The input is out of range (${code})`), { statusCode: 400, code })
    const table = { getEntity: async () => { throw refused } } as unknown as Parameters<typeof get>[0]
    t.equal(await get(table, 'c|x', 'c'), undefined, `${code} on a read`)
    t.match(toChatError(refused), { code: 'CHAT_ERR_BAD_REQUEST', statusCode: 400 }, `${code} on a write`)
  }
  const other = Object.assign(new Error('Bad request'), { statusCode: 400, code: 'InvalidHeaderValue' })
  t.equal(toChatError(other), other, 'another 400 as it is')
})

/** An entity group transaction on the wire: Azurite commits it before it answers. */
const ENTITY_GROUP_TRANSACTION = /^POST [^ ]*\$batch /m

t.test('a transaction whose response is lost and that the client sends again is stored once and answered as created', async (t) => {
  const proxy = await startProxy(portOf(connectionString))
  t.teardown(() => proxy.close())
  const storage = await opened(t, createAzureTableStorage({ connectionString: connectionStringFor(proxy.port), tablePrefix: freshPrefix() }))
  const id = newId()
  await storage.createConversation(conversation(id), [participant])
  const ai = { id: 'ai', name: 'AI', type: 'ai' } as const

  proxy.loseNextResponse(ENTITY_GROUP_TRANSACTION)
  const sent = await storage.appendMessage(id, draft('question', 'q1'),
    (m) => ({ id: newId(), kind: 'ai', sender: ai, content: '', status: 'streaming', replyTo: m.seq, createdAt: m.createdAt }))
  t.equal(proxy.lost, 1, 'the response was lost')
  t.match(sent, { created: true, message: { seq: 1, clientMessageId: 'q1' }, reply: { seq: 2, replyTo: 1 } }, 'created: the plugin delivers it')

  proxy.loseNextResponse(ENTITY_GROUP_TRANSACTION)
  const system = await storage.appendMessage(id, { ...draft('bob joined'), kind: 'system' })
  t.equal(proxy.lost, 2)
  t.match(system, { created: true, message: { seq: 3, kind: 'system' } }, 'a message without client id')

  const stored = await storage.getMessages(id, { after: 0, limit: 10 })
  t.strictSame(stored.map((m) => [m.seq, m.id]), [[1, sent.message.id], [2, sent.reply?.id], [3, system.message.id]], 'each stored once')
  t.match(await storage.getConversation(id), { lastSeq: 3 })
  t.match(await storage.appendMessage(id, draft('next')), { created: true, message: { seq: 4 } })
})

t.test('a participant added or removed by a transaction whose response is lost and sent again: added, removed, listed once', async (t) => {
  const proxy = await startProxy(portOf(connectionString))
  t.teardown(() => proxy.close())
  const storage = await opened(t, createAzureTableStorage({ connectionString: connectionStringFor(proxy.port), tablePrefix: freshPrefix() }))
  const id = newId()
  await storage.createConversation(conversation(id), [participant])
  const bob = { ...participant, id: 'bob', name: 'Bob', role: 'member' as const }

  proxy.loseNextResponse(ENTITY_GROUP_TRANSACTION)
  t.equal(await storage.addParticipant(id, bob, 5), 'added', 'added, not "exists"')
  t.equal(proxy.lost, 1, 'the response was lost')
  t.strictSame((await storage.getParticipants(id)).map((p) => p.id).sort(), [participant.id, 'bob'].sort())
  t.strictSame((await storage.listConversations({ userId: 'bob', limit: 5 })).items.map((c) => c.id), [id], 'in Bob\'s list')
  t.equal(await storage.addParticipant(id, bob, 5), 'exists', 'a second add is "exists"')

  proxy.loseNextResponse(ENTITY_GROUP_TRANSACTION)
  t.equal(await storage.removeParticipant(id, 'bob'), true, 'removed, not "not there"')
  t.equal(proxy.lost, 2)
  t.strictSame((await storage.getParticipants(id)).map((p) => p.id), [participant.id])
  t.strictSame((await storage.listConversations({ userId: 'bob', limit: 5 })).items, [], 'gone from Bob\'s list')
  t.equal(await storage.removeParticipant(id, 'bob'), false, 'a second removal finds nobody')
  t.equal(await storage.addParticipant(id, bob, 2), 'added', 'the count came back down: room for Bob under a limit of 2')
})

t.test('an outage (the proxy cut and refusing) is CHAT_ERR_UNAVAILABLE with retryAfterMs, and it recovers', async (t) => {
  const proxy = await startProxy(portOf(connectionString))
  t.teardown(() => proxy.close())
  const storage = await opened(t, createAzureTableStorage({ connectionString: connectionStringFor(proxy.port), tablePrefix: freshPrefix() }))
  const id = newId()
  await storage.createConversation(conversation(id), [participant])
  await storage.appendMessage(id, draft('before', 'b'))

  proxy.pause()
  proxy.cut()
  await t.rejects(storage.appendMessage(id, draft('lost', 'l')), { code: 'CHAT_ERR_UNAVAILABLE', statusCode: 503, retryAfterMs: 1000 }, 'an append')
  await t.rejects(storage.getMessages(id, { limit: 5 }), { code: 'CHAT_ERR_UNAVAILABLE' }, 'a read')
  await t.rejects(storage.ping(), { code: 'CHAT_ERR_UNAVAILABLE' }, 'ping')
  await t.rejects(storage.probe?.() ?? Promise.reject(new Error('no probe')), { code: 'CHAT_ERR_UNAVAILABLE' }, 'probe')
  await t.rejects(storage.addParticipant(id, { ...participant, id: 'bob' }, 5), { code: 'CHAT_ERR_UNAVAILABLE' }, 'a conditional write')

  proxy.resume()
  await t.resolves(storage.ping(), 'back')
  t.match(await storage.appendMessage(id, draft('after', 'a')), { created: true, message: { seq: 2 } }, 'the failed append used no seq')
})

t.test('the plugin on Azure Tables: a real WebSocket sends, delivers and replays; /health names it', async (t) => {
  const ta = await startApp(t, { storage: { type: 'azure', connectionString, tablePrefix: freshPrefix() } })
  const health = await ta.request('GET', '/chat/health')
  t.match(health, { status: 200, body: { status: /^(ok|degraded)$/, storage: { name: 'azure', status: 'ok' } } }, 'degraded only if the ping was slow')

  const conv = await createConversation(ta, 'alice', ['bob'])
  const [alice, bob] = [await ta.connect('alice'), await ta.connect('bob')]
  await alice.call({ type: 'join', conversationId: conv.id })
  const joined = await bob.call({ type: 'join', conversationId: conv.id })
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'one', content: 'hello over azure' })
  t.match(ack, { type: 'ack', seq: joined.lastSeq + 1, clientMessageId: 'one' })
  t.match(await bob.next((f) => f.type === 'message'), { message: { seq: ack.seq, content: 'hello over azure' } })
  t.match(await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'one', content: 'again' }), { type: 'ack', seq: ack.seq }, 'a repeat gets the first')

  bob.close()
  const acks = []
  for (let i = 0; i < 5; i++) acks.push(await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: `m${i}`, content: `m${i}` }))
  const back = await ta.connect('bob')
  const resumed = await back.call({ type: 'join', conversationId: conv.id, since: ack.seq })
  t.same(resumed.messages.map((m: { seq: number }) => m.seq), acks.map((a) => a.seq), 'exactly those missed')
  const history = await ta.request('GET', `/chat/conversations/${conv.id}/messages?limit=10`, { token: await ta.token('bob') })
  t.equal(history.status, 200)
  const texts = history.body.items.filter((m: { kind: string }) => m.kind === 'text').map((m: { content: string }) => m.content)
  t.same(texts, ['hello over azure', 'm0', 'm1', 'm2', 'm3', 'm4'], 'stored once each, in order')
})
