import t from 'tap'
import { CHAT_ERR_UNAVAILABLE } from '../../lib/errors.ts'
import { createMemoryStorage } from '../../lib/storage/memory.ts'
import type { ChatStorage } from '../../lib/storage/types.ts'
import { createConversation, startApp, type Frame, type TestApp, type TestClient } from '../helpers/app.ts'

/** Writes every frame at once (no wait between them), each with ref `r<i>`. */
function burst (client: TestClient, frames: Frame[]): void {
  frames.forEach((f, i) => { client.send({ ...f, ref: `r${i}` }) })
}

/** Waits for the reply of every frame of a burst, then returns the replies in the order they arrived. */
async function replies (client: TestClient, count: number): Promise<Frame[]> {
  await client.waitFor((f) => f.ref === `r${count - 1}`, 20_000)
  return client.frames.filter((f) => typeof f.ref === 'string' && /^r\d+$/.test(f.ref))
}

const send = (conversationId: string, clientMessageId: string): Frame =>
  ({ type: 'send', conversationId, clientMessageId, content: `text ${clientMessageId}` })

/** The conversation's text messages, read page by page over REST. */
async function stored (ta: TestApp, user: string, conversationId: string): Promise<Frame[]> {
  const all: Frame[] = []
  for (let after = 0; ;) {
    const res = await ta.request('GET', `/chat/conversations/${conversationId}/messages?after=${after}&limit=200`, { token: await ta.token(user) })
    const items = res.body.items as Frame[]
    if (items.length === 0) return all.filter((m) => m.kind === 'text')
    all.push(...items)
    after = items[items.length - 1].seq
  }
}

/** The message budget is not what these tests are about. */
const unlimited = { rateLimit: { max: 0 } }

t.test('500 sends written in one go: acks in frame order, seqs in frame order, each message stored and delivered once, after its ack', async (t) => {
  const ta = await startApp(t, unlimited)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice = await ta.connect('alice')
  const joined = await alice.call({ type: 'join', conversationId: conv.id })
  const frames = Array.from({ length: 500 }, (_, i) => send(conv.id, `m${i}`))
  burst(alice, frames)
  const got = await replies(alice, frames.length)
  t.strictSame(got.map((f) => f.ref), frames.map((_, i) => `r${i}`), 'one reply per frame, in frame order')
  t.ok(got.every((f) => f.type === 'ack'), 'every one acked')
  t.strictSame(got.map((f) => f.seq), frames.map((_, i) => joined.lastSeq + 1 + i), 'seqs follow the frames, no gap')

  const messages = await stored(ta, 'alice', conv.id)
  t.strictSame(messages.map((m) => m.clientMessageId), frames.map((f) => f.clientMessageId), 'each stored once, in frame order')
  await alice.waitFor((f) => f.type === 'message' && f.message.clientMessageId === 'm499')
  const order = alice.frames.filter((f) => f.type === 'ack' || f.type === 'message').map((f) => `${f.type}:${f.type === 'ack' ? f.clientMessageId : f.message.clientMessageId}`)
  for (let i = 0; i < frames.length; i++) {
    const ack = order.indexOf(`ack:m${i}`)
    const message = order.indexOf(`message:m${i}`)
    if (ack < 0 || message < ack || order.lastIndexOf(`message:m${i}`) !== message) t.fail(`m${i}: one message, after its ack (at ${ack} and ${message})`)
  }
})

t.test('repeats inside one burst (right behind their first and far from it) make no second message and get the first ack', async (t) => {
  const ta = await startApp(t, unlimited)
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })
  // m0..m199, with m0 again right after it, m5 again right after it, and m3 again at the end.
  const ids = Array.from({ length: 200 }, (_, i) => `m${i}`)
  ids.splice(1, 0, 'm0')
  ids.splice(7, 0, 'm5')
  ids.push('m3')
  burst(alice, ids.map((id) => send(conv.id, id)))
  const got = await replies(alice, ids.length)
  t.strictSame(got.map((f) => f.ref), ids.map((_, i) => `r${i}`), 'replies in frame order')
  const first = new Map<string, Frame>()
  for (const ack of got) {
    const known = first.get(ack.clientMessageId)
    if (known === undefined) first.set(ack.clientMessageId, ack)
    else t.match(ack, { type: 'ack', messageId: known.messageId, seq: known.seq }, `the repeat of ${String(ack.clientMessageId)} gets the first ack`)
  }
  const messages = await stored(ta, 'alice', conv.id)
  t.equal(messages.length, 200, 'one message per clientMessageId')
  t.equal(new Set(messages.map((m) => m.clientMessageId)).size, 200)
})

t.test('a store that fails in the middle fails only its own frame; the others are acked in frame order, no gap', async (t) => {
  const memory = createMemoryStorage()
  let calls = 0
  let release: (() => void) | undefined
  const storage: ChatStorage = {
    ...memory,
    async appendMessage (id, draft, reply) {
      calls++
      if (release !== undefined && calls >= 4) release() // the failure comes back after later stores are done
      if (draft.clientMessageId !== 'm10') return await memory.appendMessage(id, draft, reply)
      calls = 0
      await new Promise<void>((resolve) => { release = resolve })
      throw new CHAT_ERR_UNAVAILABLE('Storage unavailable: test')
    }
  }
  const ta = await startApp(t, { storage, ...unlimited })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  const joined = await alice.call({ type: 'join', conversationId: conv.id })
  const frames = Array.from({ length: 30 }, (_, i) => send(conv.id, `m${i}`))
  burst(alice, frames)
  const got = await replies(alice, frames.length)
  t.strictSame(got.map((f) => f.ref), frames.map((_, i) => `r${i}`), 'replies in frame order')
  t.match(got[10], { type: 'error', code: 'UNAVAILABLE' }, 'the failed one gets an error')
  const acks = got.filter((_, i) => i !== 10)
  t.ok(acks.every((f) => f.type === 'ack'), 'every other one acked')
  t.strictSame(acks.map((f) => f.seq), acks.map((_, i) => joined.lastSeq + 1 + i), 'seqs in frame order, no gap')
  const messages = await stored(ta, 'alice', conv.id)
  t.notOk(messages.some((m) => m.clientMessageId === 'm10'), 'the failed one is not stored')
  t.equal(messages.length, 29)
})

t.test('a join or leave between sends waits for the sends before it and goes before those after it', async (t) => {
  const ta = await startApp(t, unlimited)
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  const joined = await alice.call({ type: 'join', conversationId: conv.id })
  const frames: Frame[] = [
    ...Array.from({ length: 50 }, (_, i) => send(conv.id, `a${i}`)),
    { type: 'join', conversationId: conv.id, since: joined.lastSeq },
    ...Array.from({ length: 50 }, (_, i) => send(conv.id, `b${i}`)),
    { type: 'leave', conversationId: conv.id },
    ...Array.from({ length: 20 }, (_, i) => send(conv.id, `c${i}`))
  ]
  burst(alice, frames)
  const got = await replies(alice, frames.length)
  t.strictSame(got.map((f) => f.ref), frames.map((_, i) => `r${i}`), 'replies in frame order')
  t.strictSame(got.map((f) => f.type), frames.map((f) => ({ send: 'ack', join: 'joined', leave: 'left' })[f.type as string]))
  const rejoined = got[50]
  t.strictSame(rejoined.messages.map((m: Frame) => m.clientMessageId), Array.from({ length: 50 }, (_, i) => `a${i}`),
    'the join lists every send before it and none after it')
  t.equal(rejoined.lastSeq, joined.lastSeq + 50)
  t.strictSame(got.filter((f) => f.type === 'ack').map((f) => f.seq), Array.from({ length: 120 }, (_, i) => joined.lastSeq + 1 + i))
})

t.test('two sockets of one user sending into one conversation at once: each acked in its frame order, everyone sees 1..n with no gap', async (t) => {
  const ta = await startApp(t, unlimited)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const one = await ta.connect('alice')
  const two = await ta.connect('alice')
  const bob = await ta.connect('bob')
  const joined = await bob.call({ type: 'join', conversationId: conv.id })
  await one.call({ type: 'join', conversationId: conv.id })
  await two.call({ type: 'join', conversationId: conv.id })
  const a = Array.from({ length: 200 }, (_, i) => send(conv.id, `one-${i}`))
  const b = Array.from({ length: 200 }, (_, i) => send(conv.id, `two-${i}`))
  burst(one, a)
  burst(two, b)
  const [gotA, gotB] = await Promise.all([replies(one, a.length), replies(two, b.length)])
  for (const [name, got, frames] of [['one', gotA, a], ['two', gotB, b]] as const) {
    t.strictSame(got.map((f) => f.clientMessageId), frames.map((f) => f.clientMessageId), `socket ${name}: acks in frame order`)
    t.ok(got.every((f, i) => f.type === 'ack' && (i === 0 || f.seq > got[i - 1].seq)), `socket ${name}: seqs in frame order`)
  }
  const last = joined.lastSeq + 400
  for (const [name, client] of [['bob', bob], ['one', one], ['two', two]] as const) {
    await client.waitFor((f) => f.type === 'message' && f.message.seq === last)
    const seqs = client.all('message').map((f) => f.message.seq)
    t.strictSame(seqs, Array.from({ length: 400 }, (_, i) => joined.lastSeq + 1 + i), `${name} sees every message once, in seq order`)
  }
  t.equal((await stored(ta, 'alice', conv.id)).length, 400)
})
