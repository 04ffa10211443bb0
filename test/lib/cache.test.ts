import t from 'tap'
import { createConversationCache, type CachedConversation } from '../../lib/cache.ts'
import type { ChatStorage } from '../../lib/index.ts'
import type { Message } from '../../lib/schemas/entities.ts'
import { createMemoryStorage } from '../../lib/storage/memory.ts'
import { createConversation, startApp } from '../helpers/app.ts'

/** A memory storage that counts the calls made through it; `inner` reads without counting. */
function countingStorage (): { storage: ChatStorage, inner: ChatStorage, calls: Record<string, number>, reset: () => void, reads: () => number } {
  const inner = createMemoryStorage()
  const calls: Record<string, number> = {}
  const storage = { ...inner } as Record<string, unknown>
  for (const [name, value] of Object.entries(inner)) {
    if (typeof value !== 'function') continue
    storage[name] = async (...args: unknown[]) => {
      calls[name] = (calls[name] ?? 0) + 1
      return await (value as (...a: unknown[]) => Promise<unknown>).apply(inner, args)
    }
  }
  return {
    storage: storage as unknown as ChatStorage,
    inner,
    calls,
    reset () { for (const key of Object.keys(calls)) delete calls[key] },
    reads: () => (calls.getConversation ?? 0) + (calls.getParticipants ?? 0) + (calls.getMessages ?? 0)
  }
}

const READS = ['getConversation', 'getParticipants', 'getMessages'] as const

t.test('a cached conversation is read from memory: GET, messages in the window, join and send touch no storage read', async (t) => {
  const counting = countingStorage()
  const ta = await startApp(t, { storage: counting.storage })
  const alice = await ta.token('alice')
  const conv = await createConversation(ta, 'alice', ['bob'])
  const socket = await ta.connect('alice')
  const bob = await ta.connect('bob')
  counting.reset()

  const got = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: alice })
  t.equal(got.status, 200)
  t.same(got.body.participants.map((p: any) => p.id), ['alice', 'bob'])

  const all = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: alice })
  t.same(all.body.items.map((m: any) => m.seq), [1, 2])
  const after = await ta.request('GET', `/chat/conversations/${conv.id}/messages?after=1`, { token: alice })
  t.same(after.body.items.map((m: any) => m.seq), [2])
  const before = await ta.request('GET', `/chat/conversations/${conv.id}/messages?before=2`, { token: alice })
  t.same(before.body.items.map((m: any) => m.seq), [1])

  const joined = await socket.call({ type: 'join', conversationId: conv.id })
  t.same(joined.messages.map((m: any) => m.seq), [1, 2])
  const replay = await socket.call({ type: 'join', conversationId: conv.id, since: 1 })
  t.same(replay.messages.map((m: any) => m.seq), [2])

  // bob never joined: his send subscribes him and checks membership, from the cache.
  const ack = await bob.call({ type: 'send', conversationId: conv.id, clientMessageId: 'b1', content: 'hi' })
  t.match(ack, { type: 'ack', seq: 3 })
  await socket.next((f) => f.type === 'message' && f.message.seq === 3)
  const sent = await ta.request('POST', `/chat/conversations/${conv.id}/messages`, { token: alice, body: { clientMessageId: 'a1', content: 'hello' } })
  t.equal(sent.status, 201)
  await socket.next((f) => f.type === 'message' && f.message.seq === 4)
  const latest = await ta.request('GET', `/chat/conversations/${conv.id}/messages?after=2`, { token: alice })
  t.same(latest.body.items.map((m: any) => m.content), ['hi', 'hello'], 'new messages are in the window')

  for (const name of READS) t.equal(counting.calls[name] ?? 0, 0, `no ${name}`)
  t.equal(counting.calls.appendMessage, 2, 'the two sends were stored')
})

t.test('writes reach storage: a read straight from storage sees them', async (t) => {
  const counting = countingStorage()
  const ta = await startApp(t, { storage: counting.storage })
  const alice = await ta.token('alice')
  const root = await ta.token('root', { admin: true })
  const conv = await createConversation(ta, 'alice', ['bob'], { title: 'stored', metadata: { topic: 'x' } })
  t.equal(counting.calls.createConversation, 1)
  t.equal(counting.calls.appendMessage, 2, 'one system message per participant')
  t.match(await counting.inner.getConversation(conv.id), { id: conv.id, title: 'stored', metadata: { topic: 'x' }, lastSeq: 2 })
  counting.reset()

  const sent = await ta.request('POST', `/chat/conversations/${conv.id}/messages`, { token: alice, body: { clientMessageId: 'c1', content: 'kept' } })
  t.equal(counting.calls.appendMessage, 1)
  const stored = await counting.inner.getMessages(conv.id, { after: 2, limit: 10 })
  t.match(stored, [{ id: sent.body.id, seq: 3, content: 'kept', clientMessageId: 'c1' }])

  const added = await ta.request('POST', `/chat/conversations/${conv.id}/participants`, { token: alice, body: { userId: 'carol' } })
  t.equal(added.status, 201)
  t.equal(counting.calls.addParticipant, 1)
  t.same((await counting.inner.getParticipants(conv.id)).map((p) => p.id).sort(), ['alice', 'bob', 'carol'])

  const removed = await ta.request('DELETE', `/chat/conversations/${conv.id}/participants/bob`, { token: alice })
  t.equal(removed.status, 204)
  t.equal(counting.calls.removeParticipant, 1)
  t.same((await counting.inner.getParticipants(conv.id)).map((p) => p.id).sort(), ['alice', 'carol'])
  t.match(await counting.inner.getMessages(conv.id, { after: 3, limit: 10 }), [
    { seq: 4, kind: 'system', metadata: { event: 'participant.joined', participant: { id: 'carol' } } },
    { seq: 5, kind: 'system', metadata: { event: 'participant.left', participant: { id: 'bob' } } }
  ], 'membership messages are stored too')

  const closed = await ta.request('POST', `/chat/admin/conversations/${conv.id}/close`, { token: root })
  t.equal(closed.status, 200)
  t.equal(counting.calls.updateConversation, 1)
  t.ok((await counting.inner.getConversation(conv.id))?.closedAt, 'closedAt is stored')
  t.equal(counting.calls.appendAudit, 2, 'the removal and the close were audited')

  const deleted = await ta.request('DELETE', `/chat/conversations/${conv.id}`, { token: alice })
  t.equal(deleted.status, 204)
  t.equal(counting.calls.deleteConversation, 1)
  t.equal(await counting.inner.getConversation(conv.id), null)
  for (const name of READS) t.equal(counting.calls[name] ?? 0, 0, `no ${name}: every write above went through the cached entry`)
  t.equal((await ta.request('GET', `/chat/conversations/${conv.id}`, { token: alice })).status, 404, 'gone from the cache too')
  t.equal(counting.calls.getConversation, 1, 'the GET after the delete missed the cache and asked storage')
})

t.test('after the LRU evicts a conversation, one read loads it again and later reads hit', async (t) => {
  const counting = countingStorage()
  const ta = await startApp(t, { storage: counting.storage, cache: { max: 1 } })
  const alice = await ta.token('alice')
  const first = await createConversation(ta, 'alice', ['bob'])
  await ta.request('POST', `/chat/conversations/${first.id}/messages`, { token: alice, body: { clientMessageId: 'm1', content: 'one' } })
  const second = await createConversation(ta, 'alice', ['carol'])
  t.equal((await ta.app.chat.health()).conversations, 1, 'one conversation held')
  counting.reset()
  t.equal((await ta.request('GET', `/chat/conversations/${second.id}`, { token: alice })).status, 200)
  t.same({ ...counting.calls }, {}, 'the second one is held: no storage read')

  const got = await ta.request('GET', `/chat/conversations/${first.id}`, { token: alice })
  t.equal(got.status, 200)
  t.match(got.body, { id: first.id, lastSeq: 3, participants: [{ id: 'alice', role: 'owner' }, { id: 'bob' }] })
  t.same({ ...counting.calls }, { getConversation: 1, getParticipants: 1, getMessages: 1 }, 'the first one was evicted: one load')

  const again = await ta.request('GET', `/chat/conversations/${first.id}`, { token: alice })
  t.same(again.body, got.body)
  const messages = await ta.request('GET', `/chat/conversations/${first.id}/messages`, { token: alice })
  t.same(messages.body.items.map((m: any) => m.seq), [1, 2, 3])
  t.equal(messages.body.items[2].content, 'one')
  const socket = await ta.connect('alice')
  const joined = await socket.call({ type: 'join', conversationId: first.id })
  t.equal(joined.lastSeq, 3)
  t.same({ ...counting.calls }, { getConversation: 1, getParticipants: 1, getMessages: 1 }, 'then hits')

  // The second was evicted in turn; reading it loads it once.
  counting.reset()
  await ta.request('GET', `/chat/conversations/${second.id}`, { token: alice })
  await ta.request('GET', `/chat/conversations/${second.id}`, { token: alice })
  t.same({ ...counting.calls }, { getConversation: 1, getParticipants: 1, getMessages: 1 })
})

t.test('concurrent reads of an evicted conversation share one load', async (t) => {
  const counting = countingStorage()
  const ta = await startApp(t, { storage: counting.storage, cache: { max: 1 } })
  const alice = await ta.token('alice')
  const first = await createConversation(ta, 'alice')
  await createConversation(ta, 'alice')
  counting.reset()
  const replies = await Promise.all([1, 2, 3, 4].map(async () => await ta.request('GET', `/chat/conversations/${first.id}`, { token: alice })))
  t.same(replies.map((r) => r.status), [200, 200, 200, 200])
  t.equal(counting.calls.getConversation, 1)
})

t.test('an unknown id costs one read each time and is not cached', async (t) => {
  const counting = countingStorage()
  const ta = await startApp(t, { storage: counting.storage })
  const alice = await ta.token('alice')
  t.equal((await ta.request('GET', '/chat/conversations/nope', { token: alice })).status, 404)
  t.equal((await ta.request('GET', '/chat/conversations/nope', { token: alice })).status, 404)
  t.equal(counting.calls.getConversation, 2)
  t.equal((await ta.app.chat.health()).conversations, 0)
})

// --- window(): which ranges the cached recent messages can answer alone ---

function message (conversationId: string, seq: number): Message {
  return {
    id: `m${seq}`,
    conversationId,
    seq,
    kind: 'text',
    sender: { id: 'alice', name: 'alice', type: 'human' },
    content: `#${seq}`,
    createdAt: new Date(Date.UTC(2024, 0, 1, 0, 0, seq)).toISOString()
  }
}

function entry (id: string, seqs: number[], lastSeq = seqs.at(-1) ?? 0): CachedConversation {
  const now = new Date(Date.UTC(2024, 0, 1)).toISOString()
  return {
    record: { id, title: '', createdBy: 'alice', createdAt: now, updatedAt: now, lastSeq },
    participants: new Map(),
    recent: seqs.map((s) => message(id, s))
  }
}

const seqsOf = (list: Message[] | undefined): number[] | undefined => list?.map((m) => m.seq)

t.test('window() answers only ranges with nothing missing before the window', async (t) => {
  const cache = createConversationCache(createMemoryStorage(), { max: 10, messages: 6 })

  const full = entry('c', [1, 2, 3, 4])
  t.same(seqsOf(cache.window(full, 0, 5)), [1, 2, 3, 4], 'the window starts at seq 1: everything is covered')
  t.same(seqsOf(cache.window(full, 1, 4)), [2, 3], 'after < seq < before, both exclusive')
  t.same(seqsOf(cache.window(full, 0, 100)), [1, 2, 3, 4], 'before above lastSeq is fine')
  t.same(seqsOf(cache.window(full, 4, 5)), [], 'nothing newer')
  t.same(seqsOf(cache.window(full, 10, 20)), [], 'after past the end')

  const tail = entry('c', [5, 6, 7, 8, 9, 10])
  t.same(seqsOf(cache.window(tail, 4, 11)), [5, 6, 7, 8, 9, 10], 'starts right at the window')
  t.same(seqsOf(cache.window(tail, 6, 9)), [7, 8])
  t.same(seqsOf(cache.window(tail, 3, 11)), undefined, 'seq 4 is not in memory')
  t.same(seqsOf(cache.window(tail, 0, 11)), undefined)
  t.same(seqsOf(cache.window(tail, 0, 3)), undefined, 'a range wholly before the window')

  const empty = entry('c', [])
  t.same(seqsOf(cache.window(empty, 0, 1)), [], 'a conversation with no messages')
  const notLoaded = entry('c', [], 5)
  t.same(seqsOf(cache.window(notLoaded, 5, 6)), [], 'nothing after the last seq')
  t.same(seqsOf(cache.window(notLoaded, 2, 6)), undefined, 'messages exist but none are in memory')
})

t.test('putMessage keeps the window contiguous and bounded, and updates in place', async (t) => {
  const cache = createConversationCache(createMemoryStorage(), { max: 10, messages: 3 })
  const e = entry('c', [1, 2])
  cache.set('c', e)

  cache.putMessage(message('c', 3))
  t.same(seqsOf(e.recent), [1, 2, 3])
  t.equal(e.record.lastSeq, 3)
  cache.putMessage(message('c', 4))
  t.same(seqsOf(e.recent), [2, 3, 4], 'at most `messages` kept')
  t.same(seqsOf(cache.window(e, 1, 5)), [2, 3, 4])
  t.same(seqsOf(cache.window(e, 0, 5)), undefined, 'seq 1 dropped out')

  const updated = { ...message('c', 3), id: 'm3', content: 'edited' }
  cache.putMessage(updated)
  t.equal(e.recent[1].content, 'edited', 'an update replaces the message with the same id')
  t.same(seqsOf(e.recent), [2, 3, 4])
  cache.putMessage({ ...message('c', 3), id: 'other', content: 'not me' })
  t.equal(e.recent[1].content, 'edited', 'a different id at that seq is ignored')

  cache.putMessage(message('c', 6))
  t.same(seqsOf(e.recent), [6], 'a jump starts the window over')
  t.equal(e.record.lastSeq, 6)
  t.same(seqsOf(cache.window(e, 4, 7)), undefined, 'seq 5 is missing, so the window does not answer')
  t.same(seqsOf(cache.window(e, 5, 7)), [6])

  cache.putMessage(message('elsewhere', 1))
  t.equal(cache.peek('elsewhere'), undefined, 'messages of uncached conversations are ignored')
})

t.test('get() loads from storage once and returns null for an unknown id', async (t) => {
  const counting = countingStorage()
  const cache = createConversationCache(counting.storage, { max: 2, messages: 2 })
  const now = new Date().toISOString()
  await counting.inner.createConversation({ id: 'c1', title: 't', createdBy: 'alice', createdAt: now, updatedAt: now, lastSeq: 0 },
    [{ id: 'alice', name: 'alice', type: 'human', role: 'owner', joinedAt: now }])
  for (let i = 1; i <= 5; i++) {
    await counting.inner.appendMessage('c1', { id: `m${i}`, kind: 'text', sender: { id: 'alice', name: 'alice', type: 'human' }, content: String(i), createdAt: now })
  }

  const [a, b] = await Promise.all([cache.get('c1'), cache.get('c1')])
  t.equal(a, b, 'the same entry')
  t.equal(counting.calls.getConversation, 1)
  t.same(seqsOf(a?.recent), [4, 5], 'the newest `messages` are loaded')
  t.equal(a?.record.lastSeq, 5)
  t.same(seqsOf(cache.window(a as CachedConversation, 3, 6)), [4, 5])
  t.same(seqsOf(cache.window(a as CachedConversation, 0, 6)), undefined)
  t.equal(await cache.get('missing'), null)
  t.equal(cache.size, 1)

  cache.delete('c1')
  t.equal(cache.peek('c1'), undefined)
  await cache.get('c1')
  t.equal(counting.calls.getConversation, 3, 'loaded again after delete (plus the missing one)')
})
