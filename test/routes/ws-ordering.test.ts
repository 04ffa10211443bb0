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
