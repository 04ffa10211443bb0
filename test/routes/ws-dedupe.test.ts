import t from 'tap'
import { createConversation, startApp } from '../helpers/app.ts'

t.test('a repeated send makes one message and returns the same ack, also after a reconnect', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })

  const send = { type: 'send', conversationId: conv.id, clientMessageId: 'same-1', content: 'hello' }
  const first = await alice.call(send)
  t.equal(first.type, 'ack')
  const again = await alice.call(send)
  t.match(again, { type: 'ack', messageId: first.messageId, seq: first.seq, clientMessageId: 'same-1' })

  // Two identical sends at once
  const both = await Promise.all([alice.call({ ...send, clientMessageId: 'race' }), alice.call({ ...send, clientMessageId: 'race' })])
  t.equal(both[0].messageId, both[1].messageId, 'racing repeats get one message')

  alice.close()
  const back = await ta.connect('alice')
  const afterReconnect = await back.call(send)
  t.match(afterReconnect, { type: 'ack', messageId: first.messageId, seq: first.seq })

  // Over REST too: the same key answers with the same message.
  const rest = await ta.request('POST', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice'), body: { clientMessageId: 'same-1', content: 'hello' } })
  t.equal(rest.status, 201)
  t.equal(rest.body.id, first.messageId)
  t.equal(rest.headers['idempotent-replayed'], 'true')

  const list = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice') })
  const texts = list.body.items.filter((m: any) => m.kind === 'text')
  t.equal(texts.length, 2, 'two distinct clientMessageIds, two messages')
  t.equal(alice.all('message').filter((f) => f.message.clientMessageId === 'same-1').length, 1, 'the repeat was not broadcast')
})

t.test('the same clientMessageId from another user is another message', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice = await ta.connect('alice')
  const bob = await ta.connect('bob')
  const a = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'k', content: 'from alice' })
  const b = await bob.call({ type: 'send', conversationId: conv.id, clientMessageId: 'k', content: 'from bob' })
  t.not(a.messageId, b.messageId)
  t.equal(b.seq, a.seq + 1)
})
