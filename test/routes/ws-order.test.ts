import t from 'tap'
import { createConversation, startApp, type Frame, type TestClient, type TestApp } from '../helpers/app.ts'

/**
 * lib/connection.ts `receive`/`loop`: one socket's replies come in the order of its frames, refusals included.
 * Every burst below is sent in one tick, so the server reads it in one chunk and queues it all before handling any.
 */

const MAX_QUEUED = 4

/** A frame of the burst: what goes on the wire, and the ref its reply must carry (null: none can be echoed). */
interface Planned { data: string | Buffer, ref: string | null, kind: 'send' | 'binary' | 'junk' | 'ping' | 'bad' }

function send (conversationId: string, i: number): Planned {
  const ref = `s${i}`
  return { data: JSON.stringify({ type: 'send', conversationId, clientMessageId: `c${i}`, content: `m${i}`, ref }), ref, kind: 'send' }
}

/** Sends every frame in one write (the client's TCP socket corked meanwhile), so the server reads them together. */
function burst (client: TestClient, frames: Planned[]): void {
  const raw = (client.ws as unknown as { _socket: { cork: () => void, uncork: () => void } })._socket
  raw.cork()
  for (const f of frames) client.ws.send(f.data, { binary: typeof f.data !== 'string' })
  raw.uncork()
}

const replies = (client: TestClient): Frame[] => client.frames.filter((f) => f.type === 'ack' || f.type === 'error')

async function stored (ta: TestApp, conversationId: string): Promise<string[]> {
  const res = await ta.request('GET', `/chat/conversations/${conversationId}/messages?limit=200`, { token: await ta.token('alice') })
  return (res.body.items as any[]).filter((m) => m.kind === 'text').map((m) => m.clientMessageId)
}

t.test('a burst of sends, binary, invalid JSON and sends past the queue limit is answered in frame order', async (t) => {
  const ta = await startApp(t, { limits: { maxQueuedFrames: MAX_QUEUED } })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })

  const plan: Planned[] = [
    send(conv.id, 1),
    { data: Buffer.from([1, 2, 3]), ref: null, kind: 'binary' },
    send(conv.id, 2),
    { data: '{not json', ref: null, kind: 'junk' },
    { data: JSON.stringify({ type: 'send', ref: 'bad1' }), ref: 'bad1', kind: 'bad' },
    ...Array.from({ length: 10 }, (_, i) => send(conv.id, 3 + i))
  ]
  burst(alice, plan)
  // One reply per frame (pings aside): wait for the last one.
  await alice.waitFor(() => replies(alice).length >= plan.length)
  const got = replies(alice)
  t.equal(got.length, plan.length, 'exactly one reply per frame')
  t.same(got.map((f) => f.ref ?? null), plan.map((p) => p.ref), 'replies carry the refs in frame order')

  // What each frame got: the first ones are handled, the rest of the burst past the queue limit is refused.
  const byKind = plan.map((p, i) => [p.kind, got[i].type === 'ack' ? 'ack' : got[i].code])
  t.same(byKind.slice(0, 5), [['send', 'ack'], ['binary', 'BAD_FRAME'], ['send', 'ack'], ['junk', 'BAD_FRAME'], ['bad', 'BAD_FRAME']],
    'the frames that fit in the queue get their own answer')
  const full = got.filter((f) => f.code === 'QUEUE_FULL')
  t.ok(full.length >= 5, `the frames past maxQueuedFrames are refused (${full.length} QUEUE_FULL)`)
  for (const f of full) {
    t.equal(f.status, 429)
    t.ok(typeof f.retryAfterMs === 'number' && f.retryAfterMs > 0, `QUEUE_FULL carries retryAfterMs (${f.retryAfterMs})`)
  }

  // Nothing refused was stored; everything acked was, in ack order.
  const acked = got.filter((f) => f.type === 'ack')
  t.same(await stored(ta, conv.id), acked.map((f) => f.clientMessageId), 'storage holds exactly the acked sends')
  t.same(acked.map((f) => f.seq), [...acked.map((f) => f.seq)].sort((a, b) => a - b), 'acks in seq order')

  // The socket is still usable once the queue has drained.
  t.match(await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'after', content: 'later' }), { type: 'ack' })
})

t.test('a ping behind a full queue is answered before the queued sends are acked', async (t) => {
  const ta = await startApp(t, { limits: { maxQueuedFrames: MAX_QUEUED } })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })

  const sends = Array.from({ length: 8 }, (_, i) => send(conv.id, i))
  burst(alice, [...sends, { data: JSON.stringify({ type: 'ping', ref: 'p' }), ref: 'p', kind: 'ping' }])
  await alice.waitFor(() => replies(alice).length >= sends.length)
  const order = alice.frames.filter((f) => f.type === 'ack' || f.type === 'error' || f.type === 'pong').map((f) => f.ref)
  const pong = order.indexOf('p')
  t.ok(pong >= 0, 'the ping is answered')
  t.ok(replies(alice).some((f) => f.code === 'QUEUE_FULL'), 'the queue was full when the ping arrived')
  // The first send may be in the store already when the ping is read; every send queued behind it waits.
  t.ok(pong <= 1, `pong is among the first replies (at ${pong} of ${order.join(',')})`)
  const acks = alice.all('ack').map((f) => f.ref)
  t.ok(acks.length >= 2, 'sends were queued behind the ping')
  t.ok(acks.slice(1).every((ref) => order.indexOf(ref) > pong), 'every queued send is acked after the pong')
})

t.test('a client that keeps sending into a full queue is closed with 1008 and nothing refused is stored', async (t) => {
  const ta = await startApp(t, { limits: { maxQueuedFrames: MAX_QUEUED } })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })

  // One frame being handled, MAX_QUEUED waiting, 256 refusals waiting: the next frame closes the socket.
  const sends = Array.from({ length: MAX_QUEUED + 256 + 20 }, (_, i) => send(conv.id, i))
  burst(alice, sends)
  const closed = await alice.closedWithin()
  t.equal(closed.code, 1008, 'closed for policy')
  t.ok(replies(alice).every((f) => f.type === 'ack' || f.code === 'QUEUE_FULL'), 'only acks and QUEUE_FULL before the close')

  // The whole burst was read at once: the socket closed before any refusal could be written. Only the frame
  // being handled and those queued could be stored (the first may be stored unacked, cut off by the close:
  // a retry with its clientMessageId gets its ack); none of the refused ones was.
  const kept = await stored(ta, conv.id)
  const fit = sends.slice(0, MAX_QUEUED + 1).map((_, i) => `c${i}`)
  t.same(kept.filter((id) => !fit.includes(id)), [], `no refused frame was stored (stored: ${kept.join(',')})`)
  for (const ack of alice.all('ack')) t.ok(kept.includes(ack.clientMessageId), `acked ${ack.clientMessageId as string} is stored`)

  // The user can come back.
  const again = await ta.connect('alice')
  t.match(await again.call({ type: 'ping' }), { type: 'pong' })
})
