import t from 'tap'
import { createConversation, startApp } from '../helpers/app.ts'

t.test('the subscription a send makes does not spend the join budget', async (t) => {
  const ta = await startApp(t, { rateLimit: { max: 0, joins: { max: 2, windowMs: 60_000 } } })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  for (let i = 0; i < 4; i++) {
    await alice.call({ type: 'leave', conversationId: conv.id })
    const reply = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: `m${i}`, content: `m${i}` })
    t.equal(reply.type, 'ack', `send ${i} after a leave is stored`)
  }
  await alice.call({ type: 'join', conversationId: conv.id })
  await alice.call({ type: 'join', conversationId: conv.id })
  t.match(await alice.call({ type: 'join', conversationId: conv.id }), { type: 'error', code: 'RATE_LIMITED', retryAfterMs: Number }, 'join frames are counted')
})
