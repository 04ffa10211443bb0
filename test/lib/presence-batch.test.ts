import { randomUUID } from 'node:crypto'
import { test } from 'tap'
import WebSocket from 'ws'
import { ChatClient, type PresenceFrame } from '../../lib/client/index.ts'
import { Roster } from '../../lib/client/roster.ts'
import type { Participant } from '../../lib/schemas/entities.ts'
import type { JoinedFrame } from '../../lib/schemas/server-frames.ts'
import { createConversation, startApp, type Frame, type TestApp, type TestClient } from '../helpers/app.ts'

/**
 * Presence in big conversations (docs/protocol.md extension 26): above `limits.presenceBatchAbove`
 * participants, changes go out coalesced, one `presence` frame per `limits.presenceIntervalMs`; at or below
 * it, one `participant` frame per change, as always. Counted on real sockets.
 */

const users = (n: number, prefix = 'u'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** A socket's view of who is online: its `joined` (list flags, then `online`), then every `presence` frame in order. */
function onlineSeenBy (client: TestClient, conversationId: string): Set<string> {
  const online = new Set<string>()
  for (const f of client.frames) {
    if (f.conversationId !== conversationId) continue
    if (f.type === 'joined') {
      online.clear()
      for (const p of f.conversation.participants) if (p.online === true) online.add(p.id)
      for (const id of f.online ?? []) online.add(id)
    } else if (f.type === 'presence') {
      for (const id of f.offline) online.delete(id)
      for (const id of f.online) online.add(id)
    } else if (f.type === 'participant' && (f.event === 'online' || f.event === 'offline')) {
      if (f.event === 'online') online.add(f.participant.id)
      else online.delete(f.participant.id)
    }
  }
  return online
}

const same = (a: Set<string>, b: string[]): boolean => a.size === b.length && b.every((id) => a.has(id))

/** Waits until the socket's view of who is online is exactly `expected`; fails after `ms`. */
async function untilOnline (client: TestClient, conversationId: string, expected: string[], ms = 10_000): Promise<void> {
  await client.waitFor(() => same(onlineSeenBy(client, conversationId), expected), ms).catch(() => {
    throw new Error(`online never became ${expected.length} users; it is ${JSON.stringify([...onlineSeenBy(client, conversationId)].sort())}`)
  })
}

/** Connects every user and sends all their `join` frames at once; resolves with the clients once all have `joined`. */
async function storm (ta: TestApp, conversationId: string, ids: string[]): Promise<TestClient[]> {
  const clients = await Promise.all(ids.map(async (id) => await ta.connect(id)))
  for (const c of clients) c.send({ type: 'join', conversationId })
  await Promise.all(clients.map(async (c) => await c.waitFor((f) => f.type === 'joined', 20_000)))
  return clients
}

const presenceFrames = (c: TestClient): Frame[] => c.all('presence')
const perEventPresence = (c: TestClient): Frame[] => c.all('participant').filter((f) => f.event === 'online' || f.event === 'offline')

test('a storm of joins into a big conversation: coalesced presence frames, O(joins) of them, with the right final state', async (t) => {
  const N = 60
  const INTERVAL = 1000
  const ta = await startApp(t, { limits: { maxParticipants: 200, presenceBatchAbove: 10, presenceIntervalMs: INTERVAL }, rateLimit: { max: 0 } })
  const ids = users(N)
  const conv = await createConversation(ta, ids[0], ids.slice(1))
  const started = Date.now()
  const clients = await storm(ta, conv.id, ids)
  for (const c of clients) await untilOnline(c, conv.id, ids)
  const elapsed = Date.now() - started

  const total = clients.reduce((sum, c) => sum + presenceFrames(c).length, 0)
  // Per event, the joins alone are N(N-1)/2 frames (1770 here); coalesced, each socket gets at most one frame
  // per interval, plus the one its join fell into.
  const bound = N * (Math.ceil(elapsed / INTERVAL) + 1)
  t.ok(total <= bound, `${total} presence frames in ${elapsed} ms, at most ${bound}`)
  t.ok(bound < N * (N - 1) / 2, `the bound (${bound}) is below what one frame per join and socket takes (${N * (N - 1) / 2})`)
  t.same(clients.map((c) => perEventPresence(c).length), clients.map(() => 0), 'no per-event online/offline frame in a big conversation')
  for (const f of clients[0].all('presence')) {
    t.same(Object.keys(f).sort(), ['conversationId', 'offline', 'online', 'type'])
    t.equal(new Set([...f.online, ...f.offline]).size, f.online.length + f.offline.length, 'each user once, in their last state')
  }

  // Half leave at once: the rest see them go, again coalesced.
  const leaving = clients.slice(N / 2)
  const staying = clients.slice(0, N / 2)
  const before = staying.map((c) => presenceFrames(c).length)
  const leftAt = Date.now()
  for (const c of leaving) c.close()
  for (const c of staying) await untilOnline(c, conv.id, ids.slice(0, N / 2))
  const leaveBound = Math.ceil((Date.now() - leftAt) / INTERVAL) + 1
  staying.forEach((c, i) => {
    const got = presenceFrames(c).length - before[i]
    if (got > leaveBound) t.fail(`${ids[i]} got ${got} presence frames for ${N / 2} leaves, at most ${leaveBound}`)
  })
  t.pass(`${N / 2} leaves: at most ${leaveBound} presence frames a socket`)
})

test('joined in a big conversation: the first presenceBatchAbove participants, participantCount and the ids online', async (t) => {
  const ta = await startApp(t, { limits: { maxParticipants: 50, presenceBatchAbove: 5, presenceIntervalMs: 50 } })
  const ids = users(12, 'j')
  const conv = await createConversation(ta, ids[0], ids.slice(1))
  const [a, b] = await storm(ta, conv.id, ids.slice(0, 2))
  await untilOnline(a, conv.id, ids.slice(0, 2))
  // Once a batch went out, the next `joined` is built anew (between two, joiners share one, at most an interval old).
  await a.waitFor((f) => f.type === 'presence')
  const c = await ta.connect(ids[2])
  const joined = await c.call({ type: 'join', conversationId: conv.id })
  t.equal(joined.type, 'joined')
  t.equal(joined.participantCount, 12)
  t.same(joined.conversation.participants.map((p: Frame) => p.id), ids.slice(0, 5), 'the first 5, in the order they joined (the owner first)')
  t.same([...joined.online].sort(), ids.slice(0, 3).sort(), 'every participant online, itself included')
  t.same(joined.conversation.participants.map((p: Frame) => p.online), [true, true, true, false, false])
  const full = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token(ids[0]) })
  t.equal(full.body.participants.length, 12, 'everyone over REST')
  // The joiner's own presence reaches the others in a `presence` frame.
  await untilOnline(b, conv.id, ids.slice(0, 3))
  t.ok(b.all('presence').some((f) => f.online.includes(ids[2])))
})

test('a conversation at the threshold keeps one participant frame per change, sent at once', async (t) => {
  const ta = await startApp(t, { limits: { presenceBatchAbove: 4 } })
  const ids = users(4, 's')
  const conv = await createConversation(ta, ids[0], ids.slice(1))
  const first = await ta.connect(ids[0])
  const joinedFirst = await first.call({ type: 'join', conversationId: conv.id })
  t.equal(joinedFirst.participantCount, undefined, 'no participantCount in a small conversation')
  t.equal(joinedFirst.online, undefined)
  t.equal(joinedFirst.conversation.participants.length, 4, 'the whole list')
  const others: TestClient[] = []
  for (const id of ids.slice(1)) {
    const c = await ta.connect(id)
    others.push(c)
    await c.call({ type: 'join', conversationId: conv.id })
    const f = await first.next((f) => f.type === 'participant')
    t.match(f, { type: 'participant', conversationId: conv.id, event: 'online', participant: { id, name: id, type: 'human', role: 'member', online: true } })
    t.same(Object.keys(f).sort(), ['conversationId', 'event', 'participant', 'type'])
  }
  others[0].send({ type: 'leave', conversationId: conv.id })
  const off = await first.next((f) => f.type === 'participant')
  t.match(off, { event: 'offline', participant: { id: ids[1] } })
  t.same(first.all('presence'), [], 'no presence frame')
  t.same(first.all('participant').filter((f) => f.participant.id === ids[0]), [], 'never told of itself')
})

test('the default threshold: a conversation of maxParticipants (100) gets per-event frames', async (t) => {
  const ta = await startApp(t)
  const ids = users(100, 'd')
  const conv = await createConversation(ta, ids[0], ids.slice(1))
  const first = await ta.connect(ids[0])
  await first.call({ type: 'join', conversationId: conv.id })
  const second = await ta.connect(ids[99])
  await second.call({ type: 'join', conversationId: conv.id })
  t.match(await first.next((f) => f.type === 'participant'), { event: 'online', participant: { id: ids[99] } })
  second.close()
  t.match(await first.next((f) => f.type === 'participant'), { event: 'offline', participant: { id: ids[99] } })
  t.same(first.all('presence'), [])
})

test('presence frames cross instances: joins on one instance reach a big conversation\'s sockets on another', async (t) => {
  t.testdir()
  const filename = `${t.testdirName}/chat.db`
  const channel = `test-${randomUUID()}`
  const opts = {
    storage: { type: 'sqlite' as const, filename },
    fanout: { type: 'redis' as const, url: 'redis://127.0.0.1:6379', channel },
    rateLimit: { max: 0 },
    limits: { maxParticipants: 100, presenceBatchAbove: 5, presenceIntervalMs: 100 }
  }
  const a = await startApp(t, opts)
  const b = await startApp(t, opts)
  const ids = users(20, 'x')
  const conv = await createConversation(a, ids[0], ids.slice(1))
  const watcher = await a.connect(ids[0])
  await watcher.call({ type: 'join', conversationId: conv.id })
  const elsewhere = await storm(b, conv.id, ids.slice(1))
  await untilOnline(watcher, conv.id, ids)
  t.ok(watcher.all('presence').length >= 1, 'told in presence frames')
  t.same(perEventPresence(watcher), [])
  for (const c of elsewhere.slice(10)) c.close()
  await untilOnline(watcher, conv.id, ids.slice(0, 11))
  t.pass('and their leaving')
})

test('the client applies presence frames: its online list is right after a storm, with participant events for those it knows', async (t) => {
  const ta = await startApp(t, { limits: { maxParticipants: 100, presenceBatchAbove: 8, presenceIntervalMs: 100 }, rateLimit: { max: 0 } })
  const ids = users(40, 'c')
  const conv = await createConversation(ta, ids[0], ids.slice(1))
  const client = new ChatClient({ url: ta.wsUrl, token: await ta.token(ids[0]), WebSocket })
  t.teardown(() => { client.close() })
  const frames: PresenceFrame[] = []
  const events: Array<{ id: string, event: string }> = []
  client.on('presence', (f) => { frames.push(f) })
  client.on('participant', (f) => { events.push({ id: f.participant.id, event: f.event }) })
  const joined = await client.join(conv.id)
  t.equal(joined.participantCount, 40)
  t.equal(client.participantCount(conv.id), 40)

  const settled = async (expected: string[]): Promise<void> => {
    const done = (): boolean => { const now = client.online(conv.id); return now.length === expected.length && expected.every((id) => now.includes(id)) }
    if (done()) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new Error(`online is ${JSON.stringify(client.online(conv.id))}`)) }, 10_000)
      const off = client.on('presence', () => { if (done()) { clearTimeout(timer); off(); resolve() } })
    })
  }
  const crowd = await storm(ta, conv.id, ids.slice(1))
  await settled(ids)
  t.ok(frames.length >= 1 && frames.length < 39, `${frames.length} presence frames for 39 joins`)
  const listed = client.participants(conv.id)
  t.same(listed.map((p) => p.id), ids.slice(0, 8), 'the records joined listed')
  t.ok(listed.every((p) => p.online), 'all online')
  t.same(events.filter((e) => e.event === 'online').map((e) => e.id).sort(), ids.slice(1, 8).sort(), 'a participant event for each known participant that came online')

  for (const c of crowd.slice(20)) c.close()
  await settled(ids.slice(0, 21))
  t.same(client.participants(conv.id).filter((p) => !p.online), [], 'the listed ones are all still online')
})

test('a participant removed while their `online` waits in the batch is not shown online after their `left`', async (t) => {
  // A long interval: the removal lands while the batch holding the victim's `online` still waits.
  const ta = await startApp(t, { limits: { maxParticipants: 50, presenceBatchAbove: 3, presenceIntervalMs: 3000 }, rateLimit: { max: 0 } })
  const ids = users(6, 'r')
  const [owner, victim, other] = ids
  const conv = await createConversation(ta, owner, ids.slice(1))
  const watcher = await ta.connect(owner)
  await watcher.call({ type: 'join', conversationId: conv.id })
  const [gone] = await storm(ta, conv.id, [victim, other])
  const removed = await ta.request('DELETE', `/chat/conversations/${conv.id}/participants/${victim}`, { token: await ta.token(owner) })
  t.equal(removed.status, 204)
  t.match(await gone.waitFor((f) => f.type === 'left'), { type: 'left', conversationId: conv.id })
  await watcher.waitFor((f) => f.type === 'participant' && f.event === 'left' && f.participant.id === victim)
  // The batch still goes out (the others' changes), after the `left`.
  const batch = await watcher.waitFor((f) => f.type === 'presence' && f.online.includes(other), 10_000)
  const leftAt = watcher.frames.findIndex((f) => f.type === 'participant' && f.event === 'left' && f.participant.id === victim)
  t.ok(watcher.frames.indexOf(batch) > leftAt, 'the batch went out after the removal')
  const after = watcher.frames.slice(leftAt + 1).filter((f) => f.type === 'presence')
  t.same(after.filter((f) => f.online.includes(victim)), [], 'no presence frame after the `left` lists the removed user online')
  const view = onlineSeenBy(watcher, conv.id)
  t.notOk(view.has(victim), 'not online in the watcher\'s view')
})

test('the client ignores `online` for a participant a `left` removed; unknown ids of a big conversation still count', async (t) => {
  const roster = new Roster()
  const p = (id: string, online = false): Participant => ({ id, name: id, type: 'human', role: 'member', online } as unknown as Participant)
  roster.joined({ type: 'joined', conversationId: 'c1', conversation: { id: 'c1', participants: [p('a', true), p('v')] }, participantCount: 10, online: ['a'], lastSeq: 0, messages: [], recovered: true } as unknown as JoinedFrame)
  roster.participant({ type: 'participant', conversationId: 'c1', event: 'left', participant: p('v') })
  const events = roster.presence({ type: 'presence', conversationId: 'c1', online: ['v', 'x'], offline: [] })
  t.same(events, [], 'no participant event for the removed user')
  t.same(roster.online().sort(), ['a', 'x'], 'the removed user is not online; an id beyond the listed part is')
  t.same(roster.participants().map((q) => q.id), ['a'])
  // Added back: their presence counts again.
  roster.participant({ type: 'participant', conversationId: 'c1', event: 'joined', participant: p('v') })
  roster.presence({ type: 'presence', conversationId: 'c1', online: ['v'], offline: [] })
  t.ok(roster.online().includes('v'), 'online again once added back')
})

test('joiners of a big conversation share its history, and each gets it as it is when they join', async (t) => {
  const ta = await startApp(t, { limits: { maxParticipants: 50, presenceBatchAbove: 3, presenceIntervalMs: 50 } })
  const ids = users(8, 'h')
  const conv = await createConversation(ta, ids[0], ids.slice(1))
  const [a, b] = await storm(ta, conv.id, ids.slice(0, 2))
  const history = (c: TestClient): Frame[] => (c.all('joined').at(-1) as Frame).messages
  t.same(history(b), history(a), 'two joiners, no message between them: the same history')
  const ack = await a.call({ type: 'send', conversationId: conv.id, clientMessageId: 'h1', content: 'after the first joins' })
  const c = await ta.connect(ids[2])
  await c.call({ type: 'join', conversationId: conv.id })
  t.same(history(c).at(-1), { ...history(c).at(-1), id: ack.messageId, seq: ack.seq, content: 'after the first joins' }, 'a later joiner gets the message sent since')
  t.equal(history(c).length, history(a).length + 1)
  t.same(history(c).slice(0, -1), history(a), 'and the rest as before')
  const d = await ta.connect(ids[3])
  await d.call({ type: 'join', conversationId: conv.id })
  t.same(history(d), history(c))
  // A join with `since` reads its own range.
  const e = await ta.connect(ids[4])
  const resumed = await e.call({ type: 'join', conversationId: conv.id, since: ack.seq - 1 })
  t.same(resumed.messages.map((m: Frame) => m.seq), [ack.seq])
})
