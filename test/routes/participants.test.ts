import t from 'tap'
import { createConversation, startApp, type TestApp, joinAll } from '../helpers/app.ts'

async function add (ta: TestApp, as: string, conversationId: string, body: Record<string, unknown>): Promise<{ status: number, body: any, headers: Record<string, unknown> }> {
  return await ta.request('POST', `/chat/conversations/${conversationId}/participants`, { token: await ta.token(as), body })
}

async function remove (ta: TestApp, as: string, conversationId: string, userId: string, opts: { admin?: boolean } = {}): Promise<{ status: number, body: any }> {
  return await ta.request('DELETE', `/chat/conversations/${conversationId}/participants/${userId}`, { token: await ta.token(as, opts) })
}

async function ids (ta: TestApp, as: string, conversationId: string): Promise<string[]> {
  const res = await ta.request('GET', `/chat/conversations/${conversationId}`, { token: await ta.token(as) })
  return res.body.participants.map((p: any) => p.id)
}

t.test('adding a participant: 201 Participant; 409 when already in; any member may add', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const carol = await add(ta, 'alice', conv.id, { userId: 'carol', name: 'Carol C.' })
  t.equal(carol.status, 201)
  t.same(Object.keys(carol.body).sort(), ['id', 'joinedAt', 'name', 'online', 'role', 'type'])
  t.match(carol.body, { id: 'carol', name: 'Carol C.', type: 'human', role: 'member', online: false, joinedAt: String })

  const dave = await add(ta, 'bob', conv.id, { userId: 'dave' })
  t.equal(dave.status, 201, 'a member who is not the owner')
  t.equal(dave.body.name, 'dave', 'the name defaults to the id')

  const again = await add(ta, 'alice', conv.id, { userId: 'carol' })
  t.equal(again.status, 409)
  t.match(again.body, { statusCode: 409, code: 'CONFLICT', error: 'Conflict', message: String })
  t.equal((await add(ta, 'alice', conv.id, { userId: 'alice' })).status, 409, 'the owner is already in')

  t.same(await ids(ta, 'carol', conv.id), ['alice', 'bob', 'carol', 'dave'], 'the added participant can read it')
})

t.test('adding someone who is online shows them online', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  await ta.connect('erin')
  const res = await add(ta, 'alice', conv.id, { userId: 'erin' })
  t.equal(res.body.online, true)
})

t.test('adding: 429 PARTICIPANT_LIMIT when full; 404 for a non-member; 400 for a bad body', async (t) => {
  const ta = await startApp(t, { limits: { maxParticipants: 2 } })
  const conv = await createConversation(ta, 'alice', ['bob'])
  const full = await add(ta, 'alice', conv.id, { userId: 'carol' })
  t.equal(full.status, 429)
  t.match(full.body, { statusCode: 429, code: 'PARTICIPANT_LIMIT', error: 'Too Many Requests', message: /2/ })
  t.same(await ids(ta, 'alice', conv.id), ['alice', 'bob'])

  // A place frees up when someone leaves.
  t.equal((await remove(ta, 'bob', conv.id, 'bob')).status, 204)
  t.equal((await add(ta, 'alice', conv.id, { userId: 'carol' })).status, 201)

  const stranger = await add(ta, 'mallory', conv.id, { userId: 'mallory' })
  t.equal(stranger.status, 404)
  t.equal(stranger.body.code, 'NOT_FOUND')
  t.equal((await add(ta, 'alice', 'no-such-conversation', { userId: 'x' })).status, 404)

  for (const [name, body] of [['no userId', {}], ['empty userId', { userId: '' }], ['empty name', { userId: 'x', name: '' }], ['a number for a name', { userId: 'x', name: { first: 'x' } }]] as Array<[string, Record<string, unknown>]>) {
    const res = await add(ta, 'alice', conv.id, body)
    t.equal(res.status, 400, name)
    t.match(res.body, { statusCode: 400, code: 'BAD_REQUEST' }, name)
  }
})

t.test('removing: self 204, the owner removes a member 204, a member removing another 403, unknown 404', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob', 'carol', 'dave'])

  const byMember = await remove(ta, 'bob', conv.id, 'carol')
  t.equal(byMember.status, 403)
  t.match(byMember.body, { statusCode: 403, code: 'FORBIDDEN', error: 'Forbidden', message: String })
  const ownerByMember = await remove(ta, 'bob', conv.id, 'alice')
  t.equal(ownerByMember.status, 403, 'nor the owner')

  const self = await remove(ta, 'bob', conv.id, 'bob')
  t.equal(self.status, 204)
  t.equal(self.body, '')
  t.same(await ids(ta, 'alice', conv.id), ['alice', 'carol', 'dave'])
  t.equal((await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token('bob') })).status, 404, 'bob no longer sees it')

  t.equal((await remove(ta, 'alice', conv.id, 'carol')).status, 204, 'the owner removes a member')
  const unknown = await remove(ta, 'alice', conv.id, 'zed')
  t.equal(unknown.status, 404)
  t.match(unknown.body, { code: 'NOT_FOUND', message: /Participant/ })
  t.equal((await remove(ta, 'alice', conv.id, 'carol')).status, 404, 'already removed')
  t.equal((await remove(ta, 'mallory', conv.id, 'dave')).status, 404, 'a non-member cannot probe')

  t.equal((await remove(ta, 'root', conv.id, 'dave', { admin: true })).status, 204, 'an admin who is not a participant')
  t.same(await ids(ta, 'alice', conv.id), ['alice'])
})

t.test('membership changes are stored as system messages with participant.joined / participant.left', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  await add(ta, 'alice', conv.id, { userId: 'carol', name: 'Carol' })
  await remove(ta, 'bob', conv.id, 'bob')
  await remove(ta, 'alice', conv.id, 'carol')

  const res = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice') })
  t.same(res.body.items.map((m: any) => m.seq), [1, 2, 3, 4, 5], 'each change has its own seq, no gaps')
  t.same(res.body.items.map((m: any) => [m.kind, m.sender, m.metadata.event, m.metadata.participant]), [
    ['system', { id: 'system', name: 'system', type: 'system' }, 'participant.joined', { id: 'alice', name: 'alice', type: 'human' }],
    ['system', { id: 'system', name: 'system', type: 'system' }, 'participant.joined', { id: 'bob', name: 'bob', type: 'human' }],
    ['system', { id: 'system', name: 'system', type: 'system' }, 'participant.joined', { id: 'carol', name: 'Carol', type: 'human' }],
    ['system', { id: 'system', name: 'system', type: 'system' }, 'participant.left', { id: 'bob', name: 'bob', type: 'human' }],
    ['system', { id: 'system', name: 'system', type: 'system' }, 'participant.left', { id: 'carol', name: 'Carol', type: 'human' }]
  ])
  t.same(res.body.items.slice(2).map((m: any) => m.content), ['Carol joined', 'bob left', 'Carol left'])
  t.equal((await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token('alice') })).body.lastSeq, 5)
})

t.test('joined sockets get the system `message` and a `participant` frame when someone is added or removed', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const [alice, bob] = await joinAll(ta, conv.id, ['alice', 'bob'])

  const added = await add(ta, 'alice', conv.id, { userId: 'carol' })
  for (const [name, socket] of [['alice', alice], ['bob', bob]] as const) {
    const message = await socket.next((f) => f.type === 'message')
    t.match(message, { conversationId: conv.id, message: { seq: 3, kind: 'system', metadata: { event: 'participant.joined', participant: { id: 'carol' } } } }, `${name}: message`)
    const participant = await socket.next((f) => f.type === 'participant' && f.event === 'joined')
    t.same(participant, { type: 'participant', conversationId: conv.id, event: 'joined', participant: added.body }, `${name}: participant joined`)
    t.ok(socket.frames.indexOf(message) < socket.frames.indexOf(participant), `${name}: the stored message comes first`)
  }

  t.equal((await remove(ta, 'alice', conv.id, 'carol')).status, 204)
  for (const [name, socket] of [['alice', alice], ['bob', bob]] as const) {
    t.match(await socket.next((f) => f.type === 'message'), { message: { seq: 4, metadata: { event: 'participant.left', participant: { id: 'carol' } } } }, `${name}: message`)
    t.match(await socket.next((f) => f.type === 'participant' && f.event === 'left'), { conversationId: conv.id, event: 'left', participant: { id: 'carol', role: 'member' } }, `${name}: participant left`)
  }
})

t.test('a removed user\'s socket gets `left`, then nothing more, and NOT_FOUND on send', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const [alice, bob] = await joinAll(ta, conv.id, ['alice', 'bob'])

  t.equal((await remove(ta, 'alice', conv.id, 'bob')).status, 204)
  t.match(await bob.next((f) => f.type === 'message'), { message: { metadata: { event: 'participant.left', participant: { id: 'bob' } } } }, 'bob sees his own removal in the log')
  t.same(await bob.next((f) => f.type === 'left'), { type: 'left', conversationId: conv.id })
  t.match(await alice.next((f) => f.type === 'participant' && f.event === 'left'), { event: 'left', participant: { id: 'bob' } })

  const after = bob.frames.length
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'a1', content: 'bob is gone' })
  t.match(ack, { type: 'ack' })
  await alice.next((f) => f.type === 'message' && f.message.seq === ack.seq)
  const send = await bob.call({ type: 'send', conversationId: conv.id, clientMessageId: 'b1', content: 'let me back' })
  t.match(send, { type: 'error', code: 'NOT_FOUND', status: 404 })
  const join = await bob.call({ type: 'join', conversationId: conv.id })
  t.match(join, { type: 'error', code: 'NOT_FOUND' })
  t.same(bob.frames.slice(after).map((f) => f.type), ['error', 'error'], 'nothing of the conversation reached bob after `left`')

  // Added back, bob joins again and sees what he missed.
  await add(ta, 'alice', conv.id, { userId: 'bob' })
  const rejoined = await bob.call({ type: 'join', conversationId: conv.id, since: 3 })
  t.match(rejoined, { type: 'joined', recovered: true })
  t.same(rejoined.messages.map((m: any) => m.content), ['bob is gone', 'bob joined'])
})

t.test('a user removing themselves gets `left` on each of their sockets', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const [phone, laptop] = await joinAll(ta, conv.id, ['bob', 'bob'])
  t.equal((await remove(ta, 'bob', conv.id, 'bob')).status, 204)
  t.match(await phone.next((f) => f.type === 'left'), { conversationId: conv.id })
  t.match(await laptop.next((f) => f.type === 'left'), { conversationId: conv.id })
})

t.test('the `offline` frame after a user\'s last socket closes says online: false', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const [alice, bob] = await joinAll(ta, conv.id, ['alice', 'bob'])
  await alice.next((f) => f.type === 'participant' && f.event === 'online' && f.participant.id === 'bob')
  bob.close()
  const offline = await alice.next((f) => f.type === 'participant' && f.event === 'offline')
  t.match(offline, { conversationId: conv.id, participant: { id: 'bob' } })
  t.equal(offline.participant.online, false)
  const view = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token('alice') })
  t.equal(view.body.participants.find((p: any) => p.id === 'bob').online, false, 'the REST view agrees')
})

t.test('a 429 PARTICIPANT_LIMIT over REST carries retry-after, like every 429', async (t) => {
  const ta = await startApp(t, { limits: { maxParticipants: 2 } })
  const conv = await createConversation(ta, 'alice', ['bob'])
  const full = await add(ta, 'alice', conv.id, { userId: 'carol' })
  t.equal(full.status, 429)
  t.ok(full.headers['retry-after'] !== undefined, 'retry-after is set')
})

t.test('a user added to a conversation hears of it on every open socket, joined or not', async (t) => {
  const ta = await startApp(t)
  const bob = await ta.connect('bob')
  const conv = await createConversation(ta, 'alice', ['bob'])
  t.match(await bob.next((f) => f.type === 'participant'), { conversationId: conv.id, event: 'joined', participant: { id: 'bob', role: 'member' } })
  const other = await createConversation(ta, 'alice')
  const carol = await ta.connect('carol')
  const added = await ta.request('POST', `/chat/conversations/${other.id}/participants`, { token: await ta.token('alice'), body: { userId: 'carol', name: 'Carol' } })
  t.equal(added.status, 201)
  t.match(await carol.next((f) => f.type === 'participant'), { conversationId: other.id, event: 'joined', participant: { id: 'carol', name: 'Carol' } })
  t.equal(bob.all('participant').filter((f) => f.conversationId === other.id).length, 0, 'nobody else is told')
})
