import t from 'tap'
import { createConversation, startApp } from '../helpers/app.ts'

t.test('drop, others send 50, reconnect and join with since: exactly those 50', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const bob = await ta.connect('bob')
  const joined = await bob.call({ type: 'join', conversationId: conv.id })
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })

  const warm = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'warm', content: 'before the drop' })
  const seen = await bob.next((f) => f.type === 'message' && f.message.seq === warm.seq)
  t.equal(seen.message.seq, joined.lastSeq + 1)
  bob.close()
  await bob.closed

  const acks = []
  for (let i = 0; i < 50; i++) {
    acks.push(await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: `m${i}`, content: `m${i}` }))
  }

  const back = await ta.connect('bob')
  const resumed = await back.call({ type: 'join', conversationId: conv.id, since: warm.seq })
  t.equal(resumed.type, 'joined')
  t.equal(resumed.recovered, true)
  t.same(resumed.messages.map((m: any) => m.seq), acks.map((a) => a.seq), 'exactly the 50 missed, in order')
  t.same(resumed.messages.map((m: any) => m.content), acks.map((_, i) => `m${i}`))
  t.equal(resumed.lastSeq, acks[49].seq)

  // Live delivery continues right after the replay, with no repeat.
  const next = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'after', content: 'after' })
  const live = await back.next((f) => f.type === 'message')
  t.equal(live.message.seq, next.seq)
  t.equal(back.all('message').length, 1, 'nothing replayed twice')
})

t.test('join with since further back than the replay limit returns the newest and recovered: false', async (t) => {
  const ta = await startApp(t, { limits: { replayLimit: 5 } })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  let last = 0
  for (let i = 0; i < 12; i++) last = (await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: `m${i}`, content: `m${i}` })).seq
  const other = await ta.connect('alice')
  const joined = await other.call({ type: 'join', conversationId: conv.id, since: 1 })
  t.equal(joined.recovered, false)
  t.same(joined.messages.map((m: any) => m.seq), [last - 4, last - 3, last - 2, last - 1, last])
  // the client pages the rest over REST
  const page = await ta.request('GET', `/chat/conversations/${conv.id}/messages?after=1&before=${last - 4}`, { token: await ta.token('alice') })
  t.same(page.body.items.map((m: any) => m.seq), Array.from({ length: last - 6 }, (_, i) => i + 2))
})

t.test('join without since returns the history window', async (t) => {
  const ta = await startApp(t, { limits: { historyWindow: 3 } })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  for (let i = 0; i < 6; i++) await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: `m${i}`, content: `m${i}` })
  const joined = await alice.call({ type: 'join', conversationId: conv.id })
  t.same(joined.messages.map((m: any) => m.content), ['m3', 'm4', 'm5'])
  t.equal(joined.recovered, false)
  t.equal(joined.conversation.id, conv.id)
})
