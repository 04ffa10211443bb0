import t from 'tap'
import { createConversation, startApp, type TestClient } from '../helpers/app.ts'

const USERS = 10
const SENDS = 100

t.test('10 users x 100 concurrent sends: distinct seqs 1..N, no gap, identical order on every socket', async (t) => {
  const ta = await startApp(t)
  const users = Array.from({ length: USERS }, (_, i) => `user${i}`)
  const conv = await createConversation(ta, users[0], users.slice(1))
  const firstSeq = conv.lastSeq + 1 // membership messages come first

  const clients: TestClient[] = await Promise.all(users.map(async (u) => await ta.connect(u)))
  await Promise.all(clients.map(async (c) => await c.call({ type: 'join', conversationId: conv.id })))

  // Every user fires all its sends at once, all users together.
  for (const [i, c] of clients.entries()) {
    for (let n = 0; n < SENDS; n++) {
      c.send({ type: 'send', conversationId: conv.id, clientMessageId: `u${i}-m${n}`, content: `message ${n} from ${i}` })
    }
  }
  const total = USERS * SENDS
  const lastSeq = firstSeq + total - 1
  await Promise.all(clients.map(async (c) => await c.waitFor((f) => f.type === 'message' && f.message.seq === lastSeq, 30_000)))

  const acks = clients.flatMap((c) => c.all('ack'))
  t.equal(acks.length, total, 'every send acknowledged once')
  const seqs = acks.map((a) => a.seq).sort((a, b) => a - b)
  t.equal(new Set(seqs).size, total, 'every ack has a distinct seq')
  t.same(seqs, Array.from({ length: total }, (_, i) => firstSeq + i), 'seqs are contiguous')

  const orders = clients.map((c) => c.all('message').map((f) => `${f.message.seq}:${f.message.id}`))
  for (const [i, order] of orders.entries()) {
    t.equal(order.length, total, `socket ${i} saw every message`)
    t.same(order, orders[0], `socket ${i} saw the same order`)
  }
  const delivered = clients[0].all('message').map((f) => f.message.seq)
  t.same(delivered, Array.from({ length: total }, (_, i) => firstSeq + i), 'delivered in strictly increasing seq')

  // Per sender, the order it sent is the order of its seqs (frames of one socket are handled in order).
  for (const [i, c] of clients.entries()) {
    const mine = c.all('ack').map((a) => Number(a.clientMessageId.split('-m')[1]))
    t.same(mine, Array.from({ length: SENDS }, (_, n) => n), `user ${i} acks follow its send order`)
  }

  const stored = await ta.request('GET', `/chat/conversations/${conv.id}/messages?after=${firstSeq - 1}&limit=500`, { token: await ta.token(users[0]) })
  t.equal(stored.body.items[0].seq, firstSeq)
  const check = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token(users[0]) })
  t.equal(check.body.lastSeq, lastSeq, 'storage lastSeq matches')
})

t.test('a big conversation (80 sockets): bursts of sends and typing reach every socket in one order, the acks in each sender\'s order', async (t) => {
  // Above 64 subscribers a message's first frame of the tick leaves each socket at once and the frames after
  // it in the same tick are corked (lib/ws-frames.ts, wideFanout): the mix must not reorder anything.
  const ta = await startApp(t, { limits: { maxParticipants: 200 }, rateLimit: { max: 0 } })
  const users = Array.from({ length: 80 }, (_, i) => `big${i}`)
  const conv = await createConversation(ta, users[0], users.slice(1))
  const firstSeq = conv.lastSeq + 1
  const clients: TestClient[] = await Promise.all(users.map(async (u) => await ta.connect(u)))
  await Promise.all(clients.map(async (c) => await c.call({ type: 'join', conversationId: conv.id })))

  const senders = clients.slice(0, 4)
  const PER = 30
  for (let n = 0; n < PER; n++) {
    for (const [i, c] of senders.entries()) {
      c.send({ type: 'send', conversationId: conv.id, clientMessageId: `s${i}-m${n}`, content: `m${n} from ${i}` })
      if (n % 10 === 0) c.send({ type: 'typing', conversationId: conv.id })
    }
  }
  const total = senders.length * PER
  const lastSeq = firstSeq + total - 1
  await Promise.all(clients.map(async (c) => await c.waitFor((f) => f.type === 'message' && f.message.seq === lastSeq, 30_000)))

  const expected = Array.from({ length: total }, (_, i) => firstSeq + i)
  for (const [i, c] of clients.entries()) {
    t.same(c.all('message').map((f) => f.message.seq), expected, `socket ${i}: every message once, in seq order`)
  }
  for (const [i, c] of senders.entries()) {
    t.same(c.all('ack').map((a) => a.clientMessageId), Array.from({ length: PER }, (_, n) => `s${i}-m${n}`), `sender ${i}: acks in send order`)
  }
  t.ok(clients[79].all('typing').length > 0, 'typing frames fan out too')
})
