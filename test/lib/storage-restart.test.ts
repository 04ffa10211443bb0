import { join } from 'node:path'
import t from 'tap'
import { createConversation, startApp } from '../helpers/app.ts'

t.test('with SQLite, a restart keeps history, seq and dedupe', async (t) => {
  const filename = join(t.testdir(), 'nested', 'chat.db')
  const first = await startApp(t, { storage: { type: 'sqlite', filename } })
  t.equal((await first.app.chat.health()).storage.name, 'sqlite')
  const conv = await createConversation(first, 'alice', ['bob'])
  const alice = await first.connect('alice')
  const acks = []
  for (let i = 0; i < 3; i++) acks.push(await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: `m${i}`, content: `m${i}` }))
  alice.close()
  await first.app.close()

  const second = await startApp(t, { storage: { type: 'sqlite', filename } })
  const bob = await second.connect('bob')
  const joined = await bob.call({ type: 'join', conversationId: conv.id, since: conv.lastSeq })
  t.same(joined.messages.map((m: any) => m.content), ['m0', 'm1', 'm2'])
  t.equal(joined.recovered, true)
  const again = await bob.call({ type: 'send', conversationId: conv.id, clientMessageId: 'after', content: 'after restart' })
  t.equal(again.seq, acks[2].seq + 1, 'seq continues')
  const alice2 = await second.connect('alice')
  const repeat = await alice2.call({ type: 'send', conversationId: conv.id, clientMessageId: 'm1', content: 'm1' })
  t.equal(repeat.messageId, acks[1].messageId, 'dedupe survives the restart')
  const mine = await second.request('GET', '/chat/conversations', { token: await second.token('bob') })
  t.same(mine.body.items.map((c: any) => c.id), [conv.id])
})
