import t from 'tap'
import WebSocket from 'ws'
import { createConversation, startApp, TestClient, joinAll } from '../helpers/app.ts'

t.test('ready is the first frame and announces the limits', async (t) => {
  const ta = await startApp(t)
  const client = new TestClient(`${ta.wsUrl}?access_token=${await ta.token('alice', { name: 'Alice' })}`)
  t.teardown(() => { client.close() })
  const ready = await client.next()
  t.match(ready, {
    type: 'ready',
    userId: 'alice',
    heartbeatMs: 30000,
    limits: { maxMessageBytes: 16384, maxParticipants: 100, maxFrameBytes: Number, historyWindow: 50, replayLimit: 500 }
  })
})

t.test('send → ack → message to every socket of every participant, the sender\'s included', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice1 = await ta.connect('alice')
  const alice2 = await ta.connect('alice')
  const bob = await ta.connect('bob')
  for (const c of [alice1, alice2, bob]) await c.call({ type: 'join', conversationId: conv.id })

  alice1.send({ type: 'send', ref: 's1', conversationId: conv.id, clientMessageId: 'c1', content: 'hello bob', metadata: { lang: 'en' } })
  const ack = await alice1.next((f) => f.type === 'ack' || f.type === 'message')
  t.match(ack, { type: 'ack', ref: 's1', conversationId: conv.id, clientMessageId: 'c1', messageId: String, seq: conv.lastSeq + 1 }, 'ack comes before the message')
  for (const c of [alice1, alice2, bob]) {
    const f = await c.next((f) => f.type === 'message')
    t.match(f.message, {
      id: ack.messageId,
      conversationId: conv.id,
      seq: ack.seq,
      kind: 'text',
      sender: { id: 'alice', name: 'alice', type: 'human' },
      content: 'hello bob',
      clientMessageId: 'c1',
      createdAt: String,
      metadata: { lang: 'en' }
    })
  }
})

t.test('one socket serves several conversations; leave stops delivery', async (t) => {
  const ta = await startApp(t)
  const a = await createConversation(ta, 'alice', ['bob'])
  const b = await createConversation(ta, 'alice', ['bob'])
  const bob = await ta.connect('bob')
  const alice = await ta.connect('alice')
  await bob.call({ type: 'join', conversationId: a.id })
  await bob.call({ type: 'join', conversationId: b.id })
  await alice.call({ type: 'send', conversationId: a.id, clientMessageId: '1', content: 'in a' })
  await alice.call({ type: 'send', conversationId: b.id, clientMessageId: '2', content: 'in b' })
  t.equal((await bob.next((f) => f.type === 'message')).message.content, 'in a')
  t.equal((await bob.next((f) => f.type === 'message')).message.content, 'in b')

  t.match(await bob.call({ type: 'leave', conversationId: a.id }), { type: 'left', conversationId: a.id })
  await alice.call({ type: 'send', conversationId: a.id, clientMessageId: '3', content: 'a again' })
  await alice.call({ type: 'send', conversationId: b.id, clientMessageId: '4', content: 'b again' })
  t.equal((await bob.next((f) => f.type === 'message')).message.content, 'b again', 'nothing from the left conversation')
})

t.test('typing reaches the others only; ping gets pong', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const [alice, bob] = await joinAll(ta, conv.id, ['alice', 'bob'])
  alice.send({ type: 'typing', conversationId: conv.id })
  t.match(await bob.next((f) => f.type === 'typing'), { conversationId: conv.id, participantId: 'alice' })
  t.match(await alice.call({ type: 'ping' }), { type: 'pong' })
  t.equal(alice.all('typing').length, 0, 'the typist does not hear itself')
})

t.test('presence: participant online and offline as sockets come and go', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })
  const bob = await ta.connect('bob')
  const joined = await bob.call({ type: 'join', conversationId: conv.id })
  t.same(joined.conversation.participants.map((p: any) => [p.id, p.online]), [['alice', true], ['bob', true]])
  t.match(await alice.next((f) => f.type === 'participant'), { event: 'online', participant: { id: 'bob', online: true } })
  bob.close()
  t.match(await alice.next((f) => f.type === 'participant'), { event: 'offline', participant: { id: 'bob', online: false } })
})

t.test('a socket that does not answer pings is closed with 4008', async (t) => {
  const ta = await startApp(t, { heartbeatMs: 100 })
  const ws = new WebSocket(`${ta.wsUrl}?access_token=${await ta.token('sleepy')}`, { autoPong: false })
  t.teardown(() => { ws.terminate() })
  const code = await new Promise<number>((resolve) => ws.on('close', (c) => { resolve(c) }))
  t.equal(code, 4008)
})

t.test('closing the app closes sockets with 1001 and leaves no handle', async (t) => {
  const ta = await startApp(t)
  const alice = await ta.connect('alice')
  await ta.app.close()
  const closed = await alice.closed
  t.equal(closed.code, 1001)
})

t.test('a socket that does not read is closed as a slow consumer (4029); the others go on', async (t) => {
  const ta = await startApp(t, { limits: { maxBufferedBytes: 1024, maxMessageBytes: 16384 }, rateLimit: { max: 0 } })
  const conv = await createConversation(ta, 'alice', ['bob'])
  const [alice, bob] = await joinAll(ta, conv.id, ['alice', 'bob'])
  const raw = (bob.ws as unknown as { _socket: { pause: () => void, resume: () => void } })._socket
  raw.pause() // bob stops reading: the server's buffer for him fills up
  const big = 'x'.repeat(16000)
  let sent = 0
  const open = async (): Promise<number> => (await ta.app.chat.health()).connections
  while (await open() === 2 && sent < 2000) {
    await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: `m${sent++}`, content: big })
  }
  t.equal(await open(), 1, `bob was dropped after ${sent} messages`)
  raw.resume()
  t.equal((await bob.closed).code, 4029)
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'after', content: 'still here' })
  t.equal(ack.type, 'ack', 'the sender is not affected')
})

t.test('a socket that drops in the middle of a long burst of frames harms nothing', async (t) => {
  const ta = await startApp(t)
  const client = await ta.connect('alice')
  const burst = Array.from({ length: 200 }, () => JSON.stringify({ type: 'ping' }))
  for (const f of burst) client.ws.send(f)
  await client.waitFor((f) => f.type === 'pong') // the server is working through them
  client.ws.terminate()
  await client.closed
  const other = await ta.connect('bob')
  t.match(await other.call({ type: 'ping' }), { type: 'pong' }, 'the server is still serving')
  t.equal((await ta.request('GET', '/chat/health')).status, 200)
})
