import t from 'tap'
import { createConversation, startApp } from '../helpers/app.ts'

t.test('1+1: the AI answers every human message with a streamed answer', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  t.same(conv.participants.map((p: any) => [p.id, p.type]), [['alice', 'human'], ['assistant', 'ai']])
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q1', content: 'pasta recipes' })
  const start = await alice.next((f) => f.type === 'stream.start')
  t.match(start.message, { kind: 'ai', status: 'streaming', content: '', replyTo: ack.seq, seq: ack.seq + 1, sender: { id: 'assistant', type: 'ai' } })
  const end = await alice.next((f) => f.type === 'stream.end')
  const chunks = alice.all('stream.chunk')
  t.ok(chunks.length >= 3)
  t.same(chunks.map((c) => c.index), chunks.map((_, i) => i))
  t.same(end.message.parts, chunks.map((c) => c.part))
  t.equal(end.message.status, 'complete')
  t.ok(end.message.content.length > 0)
  const stored = await ta.request('GET', `/chat/conversations/${conv.id}/messages?after=${ack.seq}`, { token: await ta.token('alice') })
  t.same(stored.body.items[0], end.message)
})
