import { newId } from '../ids.ts'
import type { ConversationRecord, Message, ParticipantRecord, Sender } from '../schemas/entities.ts'
import type { AuditEntry, ChatStorage, MessageDraft } from './types.ts'

/**
 * What the suite needs of a test runner: a subset of tap's `Test` (node-tap 18+), which fits as it is.
 * Shipped as `fastify-nlweb-chat/storage-contract` so a storage adapter of your own can be certified:
 * `test('my storage', (t) => storageContract(t, async () => createMyStorage()))`.
 */
export interface Test {
  // The sub-test is the runner's own Test (tap's overloads do not fit a narrower callback type).
  test (name: string, fn: (t: any) => Promise<void>): unknown
  teardown (fn: () => unknown): void
  equal (found: unknown, wanted: unknown, ...message: [] | [string]): boolean
  same (found: unknown, wanted: unknown, ...message: [] | [string]): boolean
  strictSame (found: unknown, wanted: unknown, ...message: [] | [string]): boolean
  match (found: unknown, pattern: unknown, ...message: [] | [string]): boolean
  ok (value: unknown, ...message: [] | [string]): boolean
  type (value: unknown, type: string, ...message: [] | [string]): boolean
  resolves (promise: Promise<unknown>, ...message: [] | [string]): Promise<unknown>
  rejects (promise: Promise<unknown>, expected: { code: string }): Promise<unknown>
}

/**
 * The one contract every ChatStorage keeps (lib/storage/types.ts). Each implementation's test file calls
 * `storageContract(t, factory)`; every sub-test gets a fresh storage from `factory`, inits it and closes it.
 * Shapes are compared with `t.strictSame`, so an optional field that is absent must be absent as a key too:
 * every implementation returns exactly what the memory one does.
 */
export function storageContract (t: Test, factory: () => Promise<ChatStorage>): void {
  async function open (t: Test): Promise<ChatStorage> {
    const storage = await factory()
    await storage.init()
    t.teardown(() => storage.close())
    return storage
  }

  /** A conversation with `alice` as owner and the given members; returns its record. */
  async function seed (storage: ChatStorage, members: string[] = [], over: Partial<ConversationRecord> = {}) {
    const record = conversation(over)
    await storage.createConversation(record, [participant('alice', 'owner'), ...members.map((id) => participant(id))])
    return record
  }

  t.test('identifies itself and answers ping', async (t) => {
    const storage = await open(t)
    t.type(storage.name, 'string')
    t.ok(storage.name.length > 0, 'name is not empty')
    await t.resolves(storage.ping())
  })

  t.test('probe, where there is one, takes a write and leaves nothing the other methods see', async (t) => {
    const storage = await open(t)
    if (storage.probe === undefined) {
      t.ok(true, `${storage.name} has no probe (optional)`)
      return
    }
    const record = await seed(storage)
    await storage.appendMessage(record.id, draft(alice, { content: 'before' }))
    await storage.appendAudit({ id: newId(), at: at(1), actor: 'alice', action: 'create', target: record.id })
    await t.resolves(storage.probe())
    await t.resolves(storage.probe())
    t.equal(await storage.countConversations(), 1)
    t.match(await storage.getConversation(record.id), { lastSeq: 1 })
    t.equal((await storage.getMessages(record.id, { limit: 10 })).length, 1)
    t.equal((await storage.listAudit({ limit: 10 })).length, 1)
    t.match(await storage.appendMessage(record.id, draft(alice, { content: 'after' })), { message: { seq: 2 } }, 'seq goes on')
  })

  t.test('createConversation stores the record and its participants', async (t) => {
    const storage = await open(t)
    const plain = await seed(storage, ['bob'])
    t.strictSame(await storage.getConversation(plain.id), plain, 'optional fields stay absent')
    t.strictSame(sortById(await storage.getParticipants(plain.id)), [participant('alice', 'owner'), participant('bob')])

    const full = conversation({ metadata: { topic: 'x', nested: { n: 1, list: [1, 'a', null] } }, closedAt: at(5) })
    await storage.createConversation(full, [])
    t.strictSame(await storage.getConversation(full.id), full, 'metadata and closedAt round-trip')
    t.strictSame(await storage.getParticipants(full.id), [])

    t.equal(await storage.getConversation(newId()), null, 'unknown id gives null')
    t.strictSame(await storage.getParticipants(newId()), [], 'unknown conversation has no participants')
  })

  t.test('updateConversation patches only the given fields', async (t) => {
    const storage = await open(t)
    const record = await seed(storage, [], { metadata: { a: 1 } })

    const renamed = await storage.updateConversation(record.id, { title: 'Renamed' })
    const { updatedAt, ...rest } = record
    t.match(renamed, { ...rest, title: 'Renamed', metadata: { a: 1 } })
    t.ok((renamed as ConversationRecord).updatedAt > updatedAt, 'updatedAt moves on')
    t.strictSame(await storage.getConversation(record.id), renamed, 'the returned record is the stored one')

    const closed = await storage.updateConversation(record.id, { metadata: { b: 2 }, closedAt: at(9) })
    t.match(closed, { title: 'Renamed', closedAt: at(9), lastSeq: 0 })
    t.strictSame(closed?.metadata, { b: 2 }, 'metadata is replaced, not merged')

    const same = await storage.updateConversation(record.id, { title: undefined, metadata: undefined, closedAt: undefined })
    t.match(same, { title: 'Renamed', closedAt: at(9), metadata: { b: 2 } }, 'a key set to undefined changes nothing')

    t.equal(await storage.updateConversation(newId(), { title: 'x' }), null, 'unknown id gives null')
  })

  t.test('deleteConversation removes the conversation, its participants and its messages', async (t) => {
    const storage = await open(t)
    const gone = await seed(storage, ['bob'])
    const kept = await seed(storage, ['bob'])
    await storage.appendMessage(gone.id, draft(alice, { clientMessageId: 'c1' }))
    await storage.appendMessage(kept.id, draft(alice, { clientMessageId: 'c1' }))

    t.equal(await storage.deleteConversation(gone.id), true)
    t.equal(await storage.getConversation(gone.id), null)
    t.strictSame(await storage.getParticipants(gone.id), [])
    t.strictSame(await storage.getMessages(gone.id, { limit: 10 }), [])
    t.equal(await storage.findMessageByClientId(gone.id, 'alice', 'c1'), null)
    t.equal(await storage.countConversations(), 1)
    t.strictSame((await storage.listConversations({ userId: 'bob', limit: 10 })).items.map((c) => c.id), [kept.id])
    await t.rejects(storage.appendMessage(gone.id, draft()), { code: 'CHAT_ERR_NOT_FOUND' })
    t.equal(await storage.deleteConversation(gone.id), false, 'a second delete finds nothing')

    t.equal((await storage.getMessages(kept.id, { limit: 10 })).length, 1, 'other conversations are untouched')
    t.equal((await storage.getParticipants(kept.id)).length, 2)
  })

  t.test('listConversations is newest first and pages without repeat or loss', async (t) => {
    const storage = await open(t)
    const created: string[] = []
    for (let i = 0; i < 7; i++) created.push((await seed(storage, i % 2 === 0 ? ['bob'] : [])).id)
    const newestFirst = [...created].reverse()

    const all = await storage.listConversations({ limit: 10 })
    t.strictSame(all.items.map((c) => c.id), newestFirst)
    t.equal(all.nextCursor, null, 'nothing after the last page')
    t.strictSame(all.items[0], await storage.getConversation(newestFirst[0]), 'items are full records')

    t.strictSame(await pages(storage, { limit: 3 }), [newestFirst.slice(0, 3), newestFirst.slice(3, 6), newestFirst.slice(6)])
    t.strictSame(await pages(storage, { limit: 7 }), [newestFirst], 'a full last page has no cursor')
    t.strictSame(await pages(storage, { limit: 1 }), newestFirst.map((id) => [id]))

    const bobs = newestFirst.filter((_, i) => (6 - i) % 2 === 0)
    t.strictSame(await pages(storage, { userId: 'bob', limit: 2 }), [bobs.slice(0, 2), bobs.slice(2)])
    t.strictSame(await pages(storage, { userId: 'alice', limit: 4 }), [newestFirst.slice(0, 4), newestFirst.slice(4)])
    t.strictSame(await storage.listConversations({ userId: 'nobody', limit: 5 }), { items: [], nextCursor: null })

    await storage.removeParticipant(bobs[0], 'bob')
    t.strictSame(await pages(storage, { userId: 'bob', limit: 10 }), [bobs.slice(1)], 'a removed participant no longer lists it')
  })

  t.test('countConversations counts', async (t) => {
    const storage = await open(t)
    t.equal(await storage.countConversations(), 0)
    const first = await seed(storage)
    await seed(storage)
    t.equal(await storage.countConversations(), 2)
    await storage.deleteConversation(first.id)
    t.equal(await storage.countConversations(), 1)
  })

  t.test('addParticipant answers added, exists, full and missing', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)

    t.equal(await storage.addParticipant(record.id, participant('bob'), 3), 'added')
    t.equal(await storage.addParticipant(record.id, { ...participant('bob'), name: 'Other' }, 3), 'exists')
    t.equal(await storage.addParticipant(record.id, participant('carol'), 3), 'added')
    t.equal(await storage.addParticipant(record.id, participant('dave'), 3), 'full')
    t.equal(await storage.addParticipant(record.id, participant('carol'), 3), 'exists', 'exists wins over full')
    t.equal(await storage.addParticipant(newId(), participant('bob'), 3), 'missing')
    t.strictSame(sortById(await storage.getParticipants(record.id)),
      [participant('alice', 'owner'), participant('bob'), participant('carol')], 'the first bob is kept')
  })

  t.test('concurrent addParticipant never goes past max', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      storage.addParticipant(record.id, participant(`user${i}`), 5)))
    t.equal(results.filter((r) => r === 'added').length, 4)
    t.equal(results.filter((r) => r === 'full').length, 6)
    t.equal((await storage.getParticipants(record.id)).length, 5)
  })

  t.test('removeParticipant', async (t) => {
    const storage = await open(t)
    const record = await seed(storage, ['bob'])
    t.equal(await storage.removeParticipant(record.id, 'bob'), true)
    t.equal(await storage.removeParticipant(record.id, 'bob'), false, 'not a participant any more')
    t.equal(await storage.removeParticipant(newId(), 'alice'), false, 'unknown conversation')
    t.strictSame(await storage.getParticipants(record.id), [participant('alice', 'owner')])
    t.equal(await storage.addParticipant(record.id, participant('bob'), 5), 'added', 'can come back')
  })

  t.test('appendMessage gives 1, 2, 3 and bumps lastSeq and updatedAt', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    const other = await seed(storage)
    const drafts = [draft(alice, { createdAt: at(1) }), draft(bob, { createdAt: at(2) }), draft(alice, { createdAt: at(3) })]
    const appended: Message[] = []
    for (const d of drafts) {
      const result = await storage.appendMessage(record.id, d)
      t.equal(result.created, true)
      appended.push(result.message)
    }
    t.strictSame(appended, drafts.map((d, i) => ({ ...d, conversationId: record.id, seq: i + 1 })))
    t.strictSame(await storage.getMessages(record.id, { limit: 10 }), appended, 'reads give what append returned')
    t.match(await storage.getConversation(record.id), { lastSeq: 3, updatedAt: at(3) })
    t.match(await storage.getConversation(other.id), { lastSeq: 0 }, 'seq is per conversation')

    const again = await storage.appendMessage(record.id, drafts[0])
    t.match(again, { created: true, message: { seq: 4 } }, 'without clientMessageId there is no dedupe')
  })

  t.test('appendMessage keeps every field and adds no optional key', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    const full = draft(ai, {
      kind: 'ai',
      parts: [{ type: 'result', items: [{ name: 'A', score: 0.5 }] }, 'text', 3, null],
      status: 'streaming',
      replyTo: 1,
      clientMessageId: 'c1',
      metadata: { model: 'x', nested: { ok: true } }
    })
    const bare = draft(alice)
    const loose = { ...draft(bob), parts: undefined, status: undefined, replyTo: undefined, clientMessageId: undefined, metadata: undefined }

    t.strictSame((await storage.appendMessage(record.id, full)).message, { ...full, conversationId: record.id, seq: 1 })
    t.strictSame((await storage.appendMessage(record.id, bare)).message, { ...bare, conversationId: record.id, seq: 2 })
    const { parts, status, replyTo, clientMessageId, metadata, ...defined } = loose
    const stored = (await storage.appendMessage(record.id, loose)).message
    t.strictSame(stored, { ...defined, conversationId: record.id, seq: 3 }, 'keys set to undefined are not stored')
    t.strictSame(await storage.getMessages(record.id, { limit: 10 }), [
      { ...full, conversationId: record.id, seq: 1 },
      { ...bare, conversationId: record.id, seq: 2 },
      stored
    ])
  })

  t.test('concurrent appends get distinct seqs with no gap', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    const other = await seed(storage)
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      storage.appendMessage(i % 4 === 0 ? other.id : record.id, draft(i % 2 === 0 ? alice : bob, { content: `m${i}` }))))
    const seqs = (id: string) => results.filter((r) => r.message.conversationId === id).map((r) => r.message.seq).sort((a, b) => a - b)
    t.strictSame(seqs(record.id), range(1, 150))
    t.strictSame(seqs(other.id), range(1, 50))
    t.ok(results.every((r) => r.created))
    t.match(await storage.getConversation(record.id), { lastSeq: 150 })
    t.match(await storage.getConversation(other.id), { lastSeq: 50 })
    t.strictSame((await storage.getMessages(record.id, { limit: 500 })).map((m) => m.seq), range(1, 150))
  })

  t.test('a repeated clientMessageId from the same sender returns the first message', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    const first = await storage.appendMessage(record.id, draft(alice, { clientMessageId: 'c1', content: 'first' }))
    const repeat = await storage.appendMessage(record.id,
      draft({ ...alice, name: 'Renamed' }, { clientMessageId: 'c1', content: 'second' }))
    t.equal(repeat.created, false)
    t.strictSame(repeat.message, first.message)
    t.match(await storage.getConversation(record.id), { lastSeq: 1 }, 'no seq used')
    t.equal((await storage.getMessages(record.id, { limit: 10 })).length, 1, 'nothing stored')
  })

  t.test('identical appends racing store one message', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    await storage.appendMessage(record.id, draft(bob))
    const same = draft(alice, { clientMessageId: 'race' })
    const results = await Promise.all(Array.from({ length: 10 }, () => storage.appendMessage(record.id, same)))
    t.equal(results.filter((r) => r.created).length, 1, 'exactly one created')
    for (const r of results) t.strictSame(r.message, { ...same, conversationId: record.id, seq: 2 })
    t.match(await storage.getConversation(record.id), { lastSeq: 2 })
    t.equal((await storage.getMessages(record.id, { limit: 10 })).length, 2)
  })

  t.test('the same clientMessageId from another sender or in another conversation is a new message', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    const other = await seed(storage)
    const a = await storage.appendMessage(record.id, draft(alice, { clientMessageId: 'c1' }))
    const b = await storage.appendMessage(record.id, draft(bob, { clientMessageId: 'c1' }))
    const c = await storage.appendMessage(other.id, draft(alice, { clientMessageId: 'c1' }))
    t.match([a, b, c], [{ created: true, message: { seq: 1 } }, { created: true, message: { seq: 2 } }, { created: true, message: { seq: 1 } }])
  })

  t.test('appendMessage with a reply stores both, with consecutive seqs, atomically; a repeat gets no reply', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    const seen: number[] = []
    const replyFor = (question: Message): MessageDraft => {
      seen.push(question.seq)
      return draft(bob, { kind: 'ai', content: '', parts: [], status: 'streaming', replyTo: question.seq })
    }
    const results = await Promise.all([
      storage.appendMessage(record.id, draft(alice, { clientMessageId: 'q1' }), replyFor),
      storage.appendMessage(record.id, draft(alice, { clientMessageId: 'q2' }), replyFor),
      storage.appendMessage(record.id, draft(carol))
    ])
    for (const r of results.slice(0, 2)) {
      t.equal(r.created, true)
      t.match(r.reply, { seq: r.message.seq + 1, replyTo: r.message.seq, status: 'streaming', kind: 'ai' }, 'the reply takes the next seq')
    }
    t.equal(results[2].reply, undefined)
    t.same(seen.sort(), results.slice(0, 2).map((r) => r.message.seq).sort(), 'called with each stored question')
    t.same((await storage.getMessages(record.id, { limit: 10 })).map((m) => m.seq), [1, 2, 3, 4, 5], 'no gap')
    const repeat = await storage.appendMessage(record.id, draft(alice, { clientMessageId: 'q1' }), replyFor)
    t.equal(repeat.created, false)
    t.equal(repeat.reply, undefined, 'a repeat gets no second reply')
    t.match(await storage.getConversation(record.id), { lastSeq: 5 })
    const none = await storage.appendMessage(record.id, draft(alice), () => undefined)
    t.equal(none.reply, undefined, 'a reply function may decline')
    t.equal(none.message.seq, 6)
  })

  t.test('appendMessage to a missing conversation rejects with CHAT_ERR_NOT_FOUND', async (t) => {
    const storage = await open(t)
    await t.rejects(storage.appendMessage(newId(), draft()), { code: 'CHAT_ERR_NOT_FOUND' })
    await t.rejects(storage.appendMessage(newId(), draft(alice, { clientMessageId: 'c1' })), { code: 'CHAT_ERR_NOT_FOUND' })
    t.equal(await storage.countConversations(), 0, 'nothing created on the way')
  })

  t.test('updateMessage rewrites content, parts, status and metadata', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    const other = await seed(storage)
    await storage.appendMessage(record.id, draft(alice))
    const { message } = await storage.appendMessage(record.id, draft(ai, { kind: 'ai', status: 'streaming', replyTo: 1, clientMessageId: 'c1' }))

    const partial = await storage.updateMessage(record.id, message.id, { content: 'Hello' })
    t.strictSame(partial, { ...message, content: 'Hello' })
    const done = await storage.updateMessage(record.id, message.id, {
      content: 'Hello world', parts: [{ type: 'result', n: 1 }], status: 'complete', metadata: { tokens: 3 }
    })
    const expected = { ...message, content: 'Hello world', parts: [{ type: 'result', n: 1 }], status: 'complete', metadata: { tokens: 3 } }
    t.strictSame(done, expected)
    t.strictSame((await storage.getMessages(record.id, { limit: 10 }))[1], expected, 'visible in getMessages')
    t.strictSame(await storage.findMessageByClientId(record.id, 'ai', 'c1'), expected, 'visible in findMessageByClientId')

    const unchanged = await storage.updateMessage(record.id, message.id, { content: undefined, parts: undefined, status: 'failed' })
    t.strictSame(unchanged, { ...expected, status: 'failed' }, 'a key set to undefined changes nothing')

    t.equal(await storage.updateMessage(record.id, newId(), { content: 'x' }), null, 'unknown message')
    t.equal(await storage.updateMessage(newId(), message.id, { content: 'x' }), null, 'unknown conversation')
    t.equal(await storage.updateMessage(other.id, message.id, { content: 'x' }), null, 'message of another conversation')
    t.match(await storage.getConversation(record.id), { lastSeq: 2 }, 'no seq used')
  })

  t.test('getMessages ranges', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    for (let i = 0; i < 10; i++) await storage.appendMessage(record.id, draft(alice, { content: `m${i + 1}` }))
    const seqs = async (query: { after?: number, before?: number, limit: number }) =>
      (await storage.getMessages(record.id, query)).map((m) => m.seq)

    t.strictSame(await seqs({ limit: 100 }), range(1, 10), 'all, ascending')
    t.strictSame(await seqs({ limit: 3 }), [8, 9, 10], 'nothing but limit: the newest')
    t.strictSame(await seqs({ after: 2, limit: 3 }), [3, 4, 5], 'after: the first ones after')
    t.strictSame(await seqs({ after: 0, limit: 2 }), [1, 2])
    t.strictSame(await seqs({ after: 8, limit: 5 }), [9, 10])
    t.strictSame(await seqs({ after: 10, limit: 5 }), [], 'nothing after the last')
    t.strictSame(await seqs({ before: 5, limit: 10 }), [1, 2, 3, 4], 'before: everything below')
    t.strictSame(await seqs({ before: 8, limit: 3 }), [5, 6, 7], 'before only: the newest below')
    t.strictSame(await seqs({ before: 100, limit: 2 }), [9, 10])
    t.strictSame(await seqs({ before: 1, limit: 5 }), [], 'nothing before the first')
    t.strictSame(await seqs({ after: 2, before: 6, limit: 10 }), [3, 4, 5], 'after and before: the window')
    t.strictSame(await seqs({ after: 2, before: 9, limit: 2 }), [3, 4], 'after and before: counted from after')
    t.strictSame(await seqs({ after: 5, before: 6, limit: 5 }), [], 'empty window')
    t.strictSame(await seqs({ limit: 0 }), [], 'limit 0')
    t.strictSame(await storage.getMessages(newId(), { limit: 10 }), [], 'unknown conversation')
    t.match(await storage.getMessages(record.id, { after: 3, limit: 1 }), [{ seq: 4, content: 'm4', conversationId: record.id }])
  })

  t.test('findMessageByClientId', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    const other = await seed(storage)
    await storage.appendMessage(record.id, draft(bob, { clientMessageId: 'c0' }))
    const { message } = await storage.appendMessage(record.id, draft(alice, { clientMessageId: 'c1' }))
    t.strictSame(await storage.findMessageByClientId(record.id, 'alice', 'c1'), message)
    t.equal(await storage.findMessageByClientId(record.id, 'bob', 'c1'), null, 'another sender')
    t.equal(await storage.findMessageByClientId(other.id, 'alice', 'c1'), null, 'another conversation')
    t.equal(await storage.findMessageByClientId(record.id, 'alice', 'c2'), null, 'unknown clientMessageId')
    t.equal(await storage.findMessageByClientId(newId(), 'alice', 'c1'), null, 'unknown conversation')
  })

  t.test('failStaleAnswers fails only streaming AI answers started before the cutoff, once', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    const other = await seed(storage)
    const answer = (over: Partial<MessageDraft>): MessageDraft => draft(ai, { kind: 'ai', content: '', parts: [], status: 'streaming', replyTo: 1, ...over })
    await storage.appendMessage(record.id, draft(alice, { createdAt: at(1) }))
    const old = (await storage.appendMessage(record.id, answer({ createdAt: at(2), parts: [{ message_type: 'result_batch', n: 1 }], metadata: { k: 1 } }))).message
    const done = (await storage.appendMessage(record.id, answer({ createdAt: at(3), content: 'done', status: 'complete' }))).message
    const cancelled = (await storage.appendMessage(record.id, answer({ createdAt: at(3), status: 'cancelled' }))).message
    const text = (await storage.appendMessage(record.id, draft(alice, { createdAt: at(3), status: 'streaming' }))).message
    const elsewhere = (await storage.appendMessage(other.id, answer({ createdAt: at(4) }))).message
    const atCutoff = (await storage.appendMessage(record.id, answer({ createdAt: at(10) }))).message
    const newer = (await storage.appendMessage(record.id, answer({ createdAt: at(11) }))).message

    const failed = await storage.failStaleAnswers(at(10), 100)
    t.strictSame(sortById(failed), sortById([{ ...old, status: 'failed' }, { ...elsewhere, status: 'failed' }]),
      'exactly the streaming ai messages created before the cutoff, content, parts and metadata kept')
    t.strictSame(await storage.getMessages(record.id, { limit: 10 }), [
      (await storage.getMessages(record.id, { limit: 1, before: 2 }))[0],
      { ...old, status: 'failed' }, done, cancelled, text, atCutoff, newer
    ], 'stored as returned; finished answers, other kinds and newer answers untouched')
    t.strictSame(await storage.getMessages(other.id, { limit: 10 }), [{ ...elsewhere, status: 'failed' }])
    t.strictSame(await storage.failStaleAnswers(at(10), 100), [], 'a second sweep finds nothing')
    t.match(await storage.getConversation(record.id), { lastSeq: 7 }, 'no seq used')
  })

  t.test('failStaleAnswers takes at most limit, oldest first; sweeps at once fail each answer once', async (t) => {
    const storage = await open(t)
    const record = await seed(storage)
    for (let i = 5; i > 0; i--) {
      await storage.appendMessage(record.id, draft(ai, { kind: 'ai', content: '', parts: [], status: 'streaming', createdAt: at(i) }))
    }
    t.strictSame(await storage.failStaleAnswers(at(10), 0), [], 'limit 0')
    const first = await storage.failStaleAnswers(at(10), 2)
    t.strictSame(first.map((m) => m.createdAt), [at(1), at(2)], 'the oldest two')
    const concurrent = await Promise.all([storage.failStaleAnswers(at(10), 10), storage.failStaleAnswers(at(10), 10)])
    t.strictSame(concurrent.flat().map((m) => m.createdAt).sort(), [at(3), at(4), at(5)], 'each of the others once')
    t.ok((await storage.getMessages(record.id, { limit: 10 })).every((m) => m.status === 'failed'))
  })

  /** The storage's searchMessages, or undefined (with a passing note) when it has none: search is optional. */
  function searcher (t: Test, storage: ChatStorage): ChatStorage['searchMessages'] {
    if (storage.searchMessages === undefined) {
      t.ok(true, `${storage.name} has no searchMessages (optional): skipped`)
      return undefined
    }
    return storage.searchMessages.bind(storage)
  }

  /** Appends a text message by alice with this content; returns it as stored. */
  async function say (storage: ChatStorage, conversationId: string, content: string): Promise<Message> {
    return (await storage.appendMessage(conversationId, draft(alice, { content }))).message
  }

  /** Messages that match none of the words the search tests look for. */
  async function filler (storage: ChatStorage, conversationId: string, n = 6): Promise<void> {
    for (let i = 0; i < n; i++) await say(storage, conversationId, `weather report number ${i} cloudy skies`)
  }

  t.test('searchMessages ranks more of the words first, then more often, then newest', async (t) => {
    const storage = await open(t)
    const search = searcher(t, storage)
    if (search === undefined) return
    const record = await seed(storage)
    await filler(storage, record.id)
    const one = await say(storage, record.id, 'apple pie recipe')
    const both = await say(storage, record.id, 'banana apple smoothie')
    await say(storage, record.id, 'nothing to see here')
    const once = await say(storage, record.id, 'kiwi is green')
    const thrice = await say(storage, record.id, 'kiwi kiwi kiwi')
    const older = await say(storage, record.id, 'mango lassi')
    const newer = await say(storage, record.id, 'mango lassi')
    await filler(storage, record.id)

    const ids = async (q: string) => (await search(record.id, { q, limit: 10 })).items.map((m) => m.id)
    t.strictSame(await ids('apple banana'), [both.id, one.id], 'both words before one; any word matches')
    t.strictSame(await ids('APPLE Banana'), [both.id, one.id], 'case does not matter')
    t.strictSame(await ids('kiwi'), [thrice.id, once.id], 'a word held more often ranks higher')
    t.strictSame(await ids('mango'), [newer.id, older.id], 'equal ranks: newest first')
    t.strictSame(await search(record.id, { q: 'durian', limit: 10 }), { items: [], nextCursor: null }, 'no match')
    t.strictSame(await search(record.id, { q: 'banana', limit: 10 }), { items: [both], nextCursor: null },
      'items are the stored messages')
  })

  t.test('searchMessages searches only the given conversation', async (t) => {
    const storage = await open(t)
    const search = searcher(t, storage)
    if (search === undefined) return
    const mine = await seed(storage)
    const other = await seed(storage, ['bob'])
    const kept = await say(storage, mine.id, 'the secret password is swordfish')
    await say(storage, other.id, 'swordfish for dinner')
    await say(storage, other.id, 'swordfish again')
    t.strictSame((await search(mine.id, { q: 'swordfish', limit: 10 })).items.map((m) => m.id), [kept.id])
    t.equal((await search(other.id, { q: 'swordfish', limit: 10 })).items.length, 2)
    t.strictSame(await search(newId(), { q: 'swordfish', limit: 10 }), { items: [], nextCursor: null }, 'unknown conversation')
  })

  t.test('searchMessages pages without repeat or loss, and nextCursor is null at the end', async (t) => {
    const storage = await open(t)
    const search = searcher(t, storage)
    if (search === undefined) return
    const record = await seed(storage)
    await filler(storage, record.id, 3)
    for (let i = 0; i < 7; i++) await say(storage, record.id, i % 3 === 0 ? `travel travel plan ${i}` : `travel plan ${i}`)
    await filler(storage, record.id, 3)
    const all = (await search(record.id, { q: 'travel', limit: 100 })).items.map((m) => m.id)
    t.equal(all.length, 7)

    const walk = async (limit: number, between?: () => Promise<void>): Promise<string[][]> => {
      const out: string[][] = []
      let cursor: string | undefined
      for (;;) {
        const page = await search(record.id, { q: 'travel', limit, cursor })
        out.push(page.items.map((m) => m.id))
        if (page.nextCursor === null) return out
        if (out.length > 20) throw new Error('searchMessages does not end')
        t.type(page.nextCursor, 'string')
        cursor = page.nextCursor
        await between?.()
      }
    }
    t.strictSame(await walk(3), [all.slice(0, 3), all.slice(3, 6), all.slice(6)], 'the ranked order, cut in pages')
    t.strictSame(await walk(7), [all], 'a full last page has no cursor')
    t.strictSame(await walk(1), all.map((id) => [id]))

    let added: Message | undefined
    const pages = await walk(3, async () => { added ??= await say(storage, record.id, 'travel travel travel') })
    t.strictSame(pages.flat(), all, 'a message stored during the walk neither repeats nor pushes out one it had')
    t.equal((await search(record.id, { q: 'travel', limit: 1 })).items[0].id, added?.id, 'a new walk finds it')
  })

  t.test('searchMessages takes operators, quotes and punctuation in q as words, never as syntax', async (t) => {
    const storage = await open(t)
    const search = searcher(t, storage)
    if (search === undefined) return
    const record = await seed(storage)
    await filler(storage, record.id)
    const near = await say(storage, record.id, 'meet near the station')
    const cats = await say(storage, record.id, 'cats AND dogs')
    const then = await say(storage, record.id, 'and then it rained')
    const hello = await say(storage, record.id, 'she said "hello" twice')
    const price = await say(storage, record.id, 'price: 5 (approx)')
    const art = await say(storage, record.id, 'state-of-the-art gadget')
    await filler(storage, record.id)

    const ids = async (q: string) => (await search(record.id, { q, limit: 10 })).items.map((m) => m.id)
    t.strictSame(await ids('NEAR'), [near.id], 'NEAR is a word')
    t.strictSame(await ids('NEAR(station'), [near.id])
    t.strictSame(await ids('cats AND'), [cats.id, then.id], 'AND is a word: both words first')
    t.strictSame(await ids('NOT dogs'), [cats.id], 'NOT excludes nothing')
    t.strictSame(await ids('dogs OR'), [cats.id], 'OR is a word nobody wrote')
    t.strictSame(await ids('"hello'), [hello.id], 'an unbalanced quote')
    t.strictSame(await ids('"said twice"'), [hello.id], 'quotes make no phrase')
    t.strictSame(await ids('content:hello'), [hello.id], 'no column filter')
    t.strictSame(await ids('price:*'), [price.id], 'no prefix search')
    t.strictSame(await ids('(approx)'), [price.id])
    t.strictSame(await ids('-gadget'), [art.id], 'a minus excludes nothing')
    t.strictSame(await ids('art^'), [art.id], 'no initial-token marker')
    t.strictSame(await ids('hello\\'), [hello.id], 'a backslash')
    t.strictSame(await ids("station'; DROP TABLE messages; --"), [near.id])
    for (const q of ['*', '"', '""', '^', ':', '(', ')', '-', '()', '*:*', "'", '\\', '|', '&', '!']) {
      t.strictSame(await search(record.id, { q, limit: 10 }), { items: [], nextCursor: null }, `${JSON.stringify(q)}: no words, no match`)
    }
    t.equal((await storage.getMessages(record.id, { limit: 100 })).length, 18, 'all still there')
  })

  t.test('searchMessages finds a message updated after it was stored by its new content only', async (t) => {
    const storage = await open(t)
    const search = searcher(t, storage)
    if (search === undefined) return
    const record = await seed(storage)
    await filler(storage, record.id)
    await say(storage, record.id, 'why is the sky blue')
    const { message } = await storage.appendMessage(record.id, draft(ai, { kind: 'ai', content: '', parts: [], status: 'streaming', replyTo: 7 }))
    await storage.updateMessage(record.id, message.id, { content: 'draft about zebras' })
    const done = await storage.updateMessage(record.id, message.id, { content: 'Rayleigh scattering of sunlight', status: 'complete' })
    t.strictSame(await search(record.id, { q: 'rayleigh', limit: 10 }), { items: [done], nextCursor: null }, 'found as completed')
    t.strictSame(await search(record.id, { q: 'zebras', limit: 10 }), { items: [], nextCursor: null }, 'its old content is gone')
    await storage.updateMessage(record.id, message.id, { status: 'failed' })
    t.match((await search(record.id, { q: 'sunlight', limit: 10 })).items, [{ id: message.id, status: 'failed' }], 'other fields changed keep it found')
  })

  t.test('searchMessages finds nothing of a deleted conversation', async (t) => {
    const storage = await open(t)
    const search = searcher(t, storage)
    if (search === undefined) return
    const gone = await seed(storage)
    const kept = await seed(storage)
    await say(storage, gone.id, 'ephemeral thoughts')
    const stays = await say(storage, kept.id, 'ephemeral but kept')
    t.equal((await search(gone.id, { q: 'ephemeral', limit: 10 })).items.length, 1)
    await storage.deleteConversation(gone.id)
    t.strictSame(await search(gone.id, { q: 'ephemeral', limit: 10 }), { items: [], nextCursor: null })
    t.strictSame((await search(kept.id, { q: 'ephemeral', limit: 10 })).items, [stays], 'other conversations are untouched')
  })

  t.test('searchMessages finds the words inside addresses, paths and version numbers', async (t) => {
    const storage = await open(t)
    const search = searcher(t, storage)
    if (search === undefined) return
    const record = await seed(storage)
    await filler(storage, record.id)
    const site = await say(storage, record.id, 'see https://example.com/docs?page=42 first')
    const mail = await say(storage, record.id, 'write to bob@example.com today')
    const path = await say(storage, record.id, 'it runs /usr/bin/env node')
    const version = await say(storage, record.id, 'upgrade to 7.8.9 soon')
    const under = await say(storage, record.id, 'set max_retries=7')
    await filler(storage, record.id)
    const seqs = async (q: string) => (await search(record.id, { q, limit: 10 })).items.map((m) => m.seq).sort((a, b) => a - b)
    t.strictSame(await seqs('example'), [site.seq, mail.seq], 'the host of a URL and of an e-mail address')
    t.strictSame(await seqs('docs'), [site.seq], 'a URL path')
    t.strictSame(await seqs('bob'), [mail.seq])
    t.strictSame(await seqs('env'), [path.seq], 'a file path')
    t.strictSame(await seqs('8'), [version.seq], 'a version number')
    t.strictSame(await seqs('retries'), [under.seq], 'an underscore separates')
    t.strictSame(await seqs('bob@example.com'), [site.seq, mail.seq], 'an address in q is its words')
  })

  t.test('searchMessages splits and folds words the same way whatever the script', async (t) => {
    const storage = await open(t)
    const search = searcher(t, storage)
    if (search === undefined) return
    const record = await seed(storage)
    await filler(storage, record.id)
    const dotted = await say(storage, record.id, 'İSTANBUL in spring')
    const plain = await say(storage, record.id, 'istanbul in winter')
    const greek = await say(storage, record.id, 'ΟΔΟΣ κλειστή')
    const adlam = await say(storage, record.id, '𞤀𞤣𞤤𞤢𞤥 𞤆𞤵𞤤𞤢𞤪')
    const hindi = await say(storage, record.id, 'हिन्दी भाषा')
    await filler(storage, record.id)
    const seqs = async (q: string) => (await search(record.id, { q, limit: 10 })).items.map((m) => m.seq)
    // JavaScript lowercases İ to i and a combining dot above: another word than istanbul.
    t.strictSame(await seqs('İstanbul'), [dotted.seq], 'İ, lowercased as JavaScript does')
    t.strictSame(await seqs('i\u0307stanbul'), [dotted.seq])
    t.strictSame(await seqs('ISTANBUL'), [plain.seq])
    t.strictSame(await seqs('οδος'), [greek.seq], 'a final sigma is a sigma')
    t.strictSame(await seqs('Οδός'), [], 'accents are kept')
    t.strictSame(await seqs('𞤢𞤣𞤤𞤢𞤥'), [adlam.seq], 'Adlam, lowercased')
    t.strictSame(await seqs('𞤆𞤵𞤤𞤢𞤪'), [adlam.seq])
    t.strictSame(await seqs('हिन्दी'), [hindi.seq], 'combining marks are part of a word')
  })

  t.test('searchMessages ranks by the message alone, whatever the other conversations hold', async (t) => {
    const storage = await open(t)
    const search = searcher(t, storage)
    if (search === undefined) return
    const record = await seed(storage)
    const other = await seed(storage, ['bob'])
    // A word in most messages of the database, so an index ranking across conversations weighs it at nothing.
    for (let i = 0; i < 20; i++) await say(storage, other.id, `common words everywhere ${i} common`)
    await filler(storage, record.id)
    const both = await say(storage, record.id, 'common rare')
    const often = await say(storage, record.id, 'rare rare rare')
    await filler(storage, record.id)
    const ids = async () => (await search(record.id, { q: 'rare common', limit: 10 })).items.map((m) => m.id)
    t.strictSame(await ids(), [both.id, often.id], 'more of the words first, however rare the other word is elsewhere')
    for (let i = 0; i < 12; i++) await say(storage, other.id, `rare rare ${i}`)
    t.strictSame(await ids(), [both.id, often.id], 'the same after the other conversation changed')
  })

  t.test('searchMessages pages with no repeat and no skip while an AI answer of the walk completes', async (t) => {
    const storage = await open(t)
    const search = searcher(t, storage)
    if (search === undefined) return
    for (const completed of ['travel travel travel travel', 'travel', 'travel travel']) {
      const record = await seed(storage)
      await filler(storage, record.id, 2)
      for (let i = 0; i < 6; i++) await say(storage, record.id, i % 2 === 0 ? `travel travel plan ${i}` : `travel plan ${i}`)
      const { message: answer } = await storage.appendMessage(record.id,
        draft(ai, { kind: 'ai', content: '', parts: [], status: 'streaming', replyTo: 3 }))
      await filler(storage, record.id, 2)
      const all = (await search(record.id, { q: 'travel', limit: 100 })).items.map((m) => m.id)
      t.equal(all.length, 6)
      const seen: string[] = []
      let cursor: string | undefined
      for (let pages = 0; ; pages++) {
        const page = await search(record.id, { q: 'travel', limit: 2, cursor })
        seen.push(...page.items.map((m) => m.id))
        if (page.nextCursor === null || pages > 10) break
        cursor = page.nextCursor
        if (pages === 0) await storage.updateMessage(record.id, answer.id, { content: completed, status: 'complete' })
      }
      t.equal(new Set(seen).size, seen.length, `${completed}: no message twice`)
      t.strictSame(seen.filter((id) => id !== answer.id), all, `${completed}: every match of the walk's start, in order`)
    }
  })

  t.test('searchMessages refuses a cursor it did not give with CHAT_ERR_BAD_REQUEST', async (t) => {
    const storage = await open(t)
    const search = searcher(t, storage)
    if (search === undefined) return
    const record = await seed(storage)
    await say(storage, record.id, 'word')
    for (const cursor of ['garbage', '!!', 'eyJhIjoxfQ', '-1']) {
      await t.rejects(search(record.id, { q: 'word', limit: 10, cursor }), { code: 'CHAT_ERR_BAD_REQUEST' })
    }
  })

  t.test('reads return copies and writes keep copies', async (t) => {
    const storage = await open(t)
    const input = conversation({ metadata: { tags: ['a'] } })
    const members = [participant('alice', 'owner')]
    await storage.createConversation(input, members)
    const snapshot = structuredClone(input)
    input.title = 'changed'
    ;(input.metadata as { tags: string[] }).tags.push('b')
    members[0].name = 'changed'
    t.strictSame(await storage.getConversation(input.id), snapshot, 'the record passed in was copied')
    t.strictSame(await storage.getParticipants(input.id), [participant('alice', 'owner')])

    const mess = draft(alice, { parts: [{ n: 1 }], metadata: { k: [1] }, clientMessageId: 'c1' })
    const { message } = await storage.appendMessage(input.id, mess)
    const kept = structuredClone(message)
    ;(mess.parts as Array<{ n: number }>)[0].n = 2
    mess.sender.name = 'changed'
    t.strictSame((await storage.getMessages(input.id, { limit: 1 }))[0], kept, 'the draft passed in was copied')

    const mutate = (m: Message | null | undefined) => {
      if (m == null) return
      m.content = 'changed'
      m.sender.name = 'changed'
      ;(m.parts as unknown[]).push('x')
      ;(m.metadata as { k: number[] }).k.push(2)
    }
    mutate(message)
    mutate((await storage.getMessages(input.id, { limit: 1 }))[0])
    mutate(await storage.findMessageByClientId(input.id, 'alice', 'c1'))
    mutate((await storage.appendMessage(input.id, mess)).message)
    mutate(await storage.updateMessage(input.id, message.id, { status: 'complete' }))
    t.strictSame((await storage.getMessages(input.id, { limit: 1 }))[0], { ...kept, status: 'complete' }, 'messages read are copies')
    const answer = [{ n: 3 }]
    const updated0 = await storage.updateMessage(input.id, message.id, { parts: answer }, { parts: JSON.stringify(answer) })
    answer[0].n = 4
    ;(updated0?.parts as unknown[]).push('x')
    t.strictSame((await storage.getMessages(input.id, { limit: 1 }))[0], { ...kept, status: 'complete', parts: [{ n: 3 }] }, 'the parts of an update were copied')

    const read = await storage.getConversation(input.id) as ConversationRecord
    read.title = 'changed'
    ;(read.metadata as { tags: string[] }).tags.push('c')
    const listed = (await storage.listConversations({ limit: 1 })).items[0]
    listed.lastSeq = 99
    ;(listed.metadata as { tags: string[] }).tags.push('d')
    const updated = await storage.updateConversation(input.id, { title: 'New' }) as ConversationRecord
    ;(updated.metadata as { tags: string[] }).tags.push('e')
    ;(await storage.getParticipants(input.id))[0].name = 'changed'
    t.match(await storage.getConversation(input.id), { title: 'New', lastSeq: 1, metadata: { tags: ['a'] } }, 'conversations read are copies')
    t.strictSame((await storage.getConversation(input.id))?.metadata, { tags: ['a'] })
    t.strictSame(await storage.getParticipants(input.id), [participant('alice', 'owner')], 'participants read are copies')

    const entry: AuditEntry = { id: newId(), at: at(1), actor: 'alice', action: 'x', details: { list: [1] } }
    await storage.appendAudit(entry)
    ;(entry.details as { list: number[] }).list.push(2)
    const [listedEntry] = await storage.listAudit({ limit: 1 })
    ;(listedEntry.details as { list: number[] }).list.push(3)
    t.strictSame(await storage.listAudit({ limit: 1 }), [{ ...entry, details: { list: [1] } }], 'audit entries are copies')
  })

  t.test('appendAudit and listAudit: newest first, limit and before', async (t) => {
    const storage = await open(t)
    t.strictSame(await storage.listAudit({ limit: 10 }), [])
    const entries: AuditEntry[] = [
      { id: newId(), at: at(1), actor: 'alice', action: 'conversation.create', target: 'c1' },
      { id: newId(), at: at(2), actor: 'admin', action: 'conversation.close', target: 'c1', details: { reason: 'spam', n: [1] } },
      { id: newId(), at: at(3), actor: 'bob', action: 'login' },
      { id: newId(), at: at(4), actor: 'alice', action: 'participant.add', details: {} },
      { id: newId(), at: at(5), actor: 'admin', action: 'conversation.delete', target: 'c2' }
    ]
    for (const e of entries) await storage.appendAudit(e)
    const newest = [...entries].reverse()

    t.strictSame(await storage.listAudit({ limit: 10 }), newest, 'all, newest first, optional fields absent')
    t.strictSame(await storage.listAudit({ limit: 2 }), newest.slice(0, 2))
    t.strictSame(await storage.listAudit({ limit: 2, before: newest[1].id }), newest.slice(2, 4), 'before is exclusive')
    t.strictSame(await storage.listAudit({ limit: 10, before: newest[3].id }), newest.slice(4))
    t.strictSame(await storage.listAudit({ limit: 10, before: entries[0].id }), [], 'nothing before the oldest')
  })
}

const alice: Sender = { id: 'alice', name: 'Alice', type: 'human' }
const bob: Sender = { id: 'bob', name: 'Bob', type: 'human' }
const carol: Sender = { id: 'carol', name: 'Carol', type: 'human' }
const ai: Sender = { id: 'ai', name: 'Assistant', type: 'ai' }

/** A fixed, distinct timestamp per n. */
function at (n: number): string {
  return new Date(Date.UTC(2020, 0, 1, 0, 0, n)).toISOString()
}

function conversation (over: Partial<ConversationRecord> = {}): ConversationRecord {
  return { id: newId(), title: 'Test', createdBy: 'alice', createdAt: at(0), updatedAt: at(0), lastSeq: 0, ...over }
}

function participant (id: string, role: ParticipantRecord['role'] = 'member'): ParticipantRecord {
  return { id, name: id.toUpperCase(), type: 'human', role, joinedAt: at(0) }
}

function draft (sender: Sender = alice, over: Partial<MessageDraft> = {}): MessageDraft {
  return { id: newId(), kind: 'text', sender: { ...sender }, content: 'hi', createdAt: at(1), ...over }
}

function range (from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}

function sortById<T extends { id: string }> (items: T[]): T[] {
  return [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/** Follows nextCursor to the end; the ids of each page. */
async function pages (storage: ChatStorage, query: { userId?: string, limit: number }): Promise<string[][]> {
  const out: string[][] = []
  let cursor: string | undefined
  for (;;) {
    const page = await storage.listConversations({ ...query, cursor })
    out.push(page.items.map((c) => c.id))
    if (page.nextCursor === null) return out
    if (out.length > 100) throw new Error('listConversations does not end')
    cursor = page.nextCursor
  }
}
