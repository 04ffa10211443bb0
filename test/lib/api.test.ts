import t from 'tap'
import type { ChatUser } from '../../lib/index.ts'
import { startApp } from '../helpers/app.ts'

/**
 * `app.chat`, the host's programmatic API: each verb acts as a user would over REST, through the same rules,
 * and what it does reaches real sockets and REST readers.
 */

const alice: ChatUser = { id: 'alice', name: 'Alice', roles: [] }
const bob: ChatUser = { id: 'bob', name: 'Bob', roles: [] }

/** The same value as it would cross the wire (no undefined fields). */
const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

t.test('the decorator holds the verbs and the options, nothing internal', async (t) => {
  const ta = await startApp(t)
  t.same(Object.keys(ta.app.chat).sort(), [
    'addParticipant', 'createConversation', 'deleteConversation', 'disconnect', 'getConversation', 'health',
    'listConversations', 'listMessages', 'options', 'postMessage', 'removeParticipant', 'searchMessages'
  ])
})

t.test('a message posted through the API is acked once, reaches a joined socket and is listed by REST', async (t) => {
  const ta = await startApp(t)
  const chat = ta.app.chat
  const bobSocket = await ta.connect('bob')
  const conversation = await chat.createConversation(alice, { title: 'From a job', participants: ['bob'] })
  t.match(conversation, { title: 'From a job', createdBy: 'alice', participants: [{ id: 'alice', role: 'owner' }, { id: 'bob', online: true }] })
  const told = await bobSocket.waitFor((f) => f.type === 'participant' && f.conversationId === conversation.id)
  t.match(told, { event: 'joined', participant: { id: 'bob' } }, 'bob\'s open socket is told he was added')
  t.match(await bobSocket.call({ type: 'join', conversationId: conversation.id }), { type: 'joined', lastSeq: conversation.lastSeq })

  const posted = await chat.postMessage(alice, conversation.id, { clientMessageId: 'job-1', content: 'hello from a job', metadata: { source: 'cron' } })
  t.equal(posted.created, true)
  t.match(posted.message, { seq: conversation.lastSeq + 1, kind: 'text', content: 'hello from a job', sender: { id: 'alice', name: 'Alice' }, metadata: { source: 'cron' } })
  const delivered = await bobSocket.waitFor((f) => f.type === 'message' && f.message.id === posted.message.id)
  t.same(delivered.message, wire(posted.message), 'bob\'s socket got the stored message')

  const listed = await ta.request('GET', `/chat/conversations/${conversation.id}/messages`, { token: await ta.token('bob') })
  t.same(listed.body.items.at(-1), wire(posted.message), 'REST lists it')
  t.same(wire(await chat.listMessages(bob, conversation.id)), listed.body, 'listMessages answers what REST does')
  t.same((await chat.listMessages(bob, conversation.id, { after: conversation.lastSeq })).items.map((m) => m.id), [posted.message.id])

  // Dedupe is one rule for the API, REST and the socket.
  const again = await chat.postMessage(alice, conversation.id, { clientMessageId: 'job-1', content: 'hello from a job' })
  t.same({ created: again.created, id: again.message.id }, { created: false, id: posted.message.id }, 'a repeat stores nothing')
  const overRest = await ta.request('POST', `/chat/conversations/${conversation.id}/messages`, { token: await ta.token('alice'), body: { clientMessageId: 'job-1', content: 'hello from a job' } })
  t.equal(overRest.headers['idempotent-replayed'], 'true')
  t.equal(overRest.body.id, posted.message.id)
  await bobSocket.call({ type: 'ping' }) // anything sent before the pong has arrived
  t.equal(bobSocket.all('message').filter((f) => f.message.kind === 'text').length, 1, 'delivered once')
})

t.test('conversations and participants: the API answers what REST answers, with the same rules', async (t) => {
  const ta = await startApp(t)
  const chat = ta.app.chat
  const bobToken = await ta.token('bob')
  const conversation = await chat.createConversation(alice, { participants: ['bob'], metadata: { team: 'ops' } })
  const viaRest = await ta.request('GET', `/chat/conversations/${conversation.id}`, { token: bobToken })
  t.same(wire(await chat.getConversation(bob, conversation.id)), viaRest.body)
  const page = await chat.listConversations(bob, { limit: 10 })
  t.same(wire(page), (await ta.request('GET', '/chat/conversations?limit=10', { token: bobToken })).body)
  t.same(page.items.map((c) => c.id), [conversation.id])
  t.same((await chat.listConversations({ id: 'carol', name: 'Carol', roles: [] })).items, [], 'only the user\'s own')

  const bobSocket = await ta.connect('bob')
  await bobSocket.call({ type: 'join', conversationId: conversation.id })
  const carol = await chat.addParticipant(alice, conversation.id, { userId: 'carol', name: 'Carol' })
  t.match(carol, { id: 'carol', name: 'Carol', type: 'human', role: 'member' })
  await bobSocket.waitFor((f) => f.type === 'participant' && f.event === 'joined' && f.participant.id === 'carol')
  await bobSocket.waitFor((f) => f.type === 'message' && f.message.kind === 'system' && f.message.content === 'Carol joined')
  await t.rejects(chat.addParticipant(alice, conversation.id, { userId: 'carol' }), { code: 'CHAT_ERR_CONFLICT', statusCode: 409 })

  await t.rejects(chat.removeParticipant(bob, conversation.id, 'carol'), { code: 'CHAT_ERR_FORBIDDEN', statusCode: 403 }, 'a member may not remove another')
  await chat.removeParticipant(alice, conversation.id, 'carol')
  await bobSocket.waitFor((f) => f.type === 'message' && f.message.kind === 'system' && f.message.content === 'Carol left')
  const after = await ta.request('GET', `/chat/conversations/${conversation.id}`, { token: bobToken })
  t.same(after.body.participants.map((p: any) => p.id), ['alice', 'bob'])

  await t.rejects(chat.getConversation({ id: 'carol', name: 'Carol', roles: [] }, conversation.id), { code: 'CHAT_ERR_NOT_FOUND', statusCode: 404 })
  await t.rejects(chat.deleteConversation(bob, conversation.id), { code: 'CHAT_ERR_FORBIDDEN' }, 'only the owner or an admin deletes')
  await chat.deleteConversation(alice, conversation.id)
  await bobSocket.waitFor((f) => f.type === 'left' && f.conversationId === conversation.id)
  t.equal((await ta.request('GET', `/chat/conversations/${conversation.id}`, { token: bobToken })).status, 404)
})

t.test('bad input is CHAT_ERR_BAD_REQUEST naming what is wrong; nothing is stored', async (t) => {
  const ta = await startApp(t)
  const chat = ta.app.chat
  const conversation = await chat.createConversation(alice)
  const bad = { code: 'CHAT_ERR_BAD_REQUEST', statusCode: 400 }
  await t.rejects(chat.postMessage(alice, conversation.id, { content: 'no id' } as never), { ...bad, message: /postMessage: "clientMessageId"/ })
  await t.rejects(chat.postMessage(alice, conversation.id, { clientMessageId: 'x', content: '   ' }), bad, 'blank content, as over REST')
  await t.rejects(chat.createConversation(alice, { titel: 'typo' } as never), { ...bad, message: /createConversation: "titel"/ })
  await t.rejects(chat.listMessages(alice, conversation.id, { limit: 0 }), { ...bad, message: /listMessages: "limit"/ })
  await t.rejects(chat.getConversation(alice, ''), { ...bad, message: /"id"/ })
  await t.rejects(chat.getConversation({ id: 'alice' } as never, conversation.id), { ...bad, message: /user/ })
  await t.rejects(chat.addParticipant(alice, conversation.id, { userId: 'x'.repeat(200) }), { ...bad, message: /addParticipant: "userId"/ })
  t.same((await chat.listMessages(alice, conversation.id)).items.map((m) => m.kind), ['system'], 'only the creator\'s joining')
})

t.test('the rate limit counts API posts as it counts REST and socket sends; a repeat is still answered', async (t) => {
  const ta = await startApp(t, { rateLimit: { max: 2, windowMs: 60_000 } })
  const chat = ta.app.chat
  const conversation = await chat.createConversation(alice)
  await chat.postMessage(alice, conversation.id, { clientMessageId: 'm1', content: 'one' })
  const rest = await ta.request('POST', `/chat/conversations/${conversation.id}/messages`, { token: await ta.token('alice'), body: { clientMessageId: 'm2', content: 'two' } })
  t.equal(rest.status, 201)
  await t.rejects(chat.postMessage(alice, conversation.id, { clientMessageId: 'm3', content: 'three' }), { code: 'CHAT_ERR_RATE_LIMITED', statusCode: 429 })
  const repeat = await chat.postMessage(alice, conversation.id, { clientMessageId: 'm1', content: 'one' })
  t.equal(repeat.created, false)
})

t.test('disconnect closes every socket of the user on this process; the others stay', async (t) => {
  const ta = await startApp(t)
  const chat = ta.app.chat
  const phone = await ta.connect('bob')
  const laptop = await ta.connect('bob')
  const aliceSocket = await ta.connect('alice')
  t.equal((await chat.health()).connections, 3)

  t.equal(chat.disconnect('bob'), 2)
  t.same(await phone.closed, { code: 1008, reason: 'disconnected by the host' })
  t.same(await laptop.closed, { code: 1008, reason: 'disconnected by the host' })
  t.match(await aliceSocket.call({ type: 'ping' }), { type: 'pong' })
  t.equal((await chat.health()).connections, 1)
  t.equal(chat.disconnect('ghost'), 0, 'nobody to close')

  t.throws(() => chat.disconnect('alice', 1006), { code: 'CHAT_ERR_BAD_REQUEST' }, 'a code a server may not send')
  t.throws(() => chat.disconnect('alice', 4000, 'x'.repeat(124)), { code: 'CHAT_ERR_BAD_REQUEST' }, 'a reason over 123 bytes')
  t.throws(() => chat.disconnect(''), { code: 'CHAT_ERR_BAD_REQUEST' })
  t.equal(chat.disconnect('alice', 4000, 'account closed'), 1)
  t.same(await aliceSocket.closed, { code: 4000, reason: 'account closed' })
})

t.test('health() is the body of GET /health; options are the resolved options', async (t) => {
  const ta = await startApp(t, { limits: { maxMessageBytes: 1234 } })
  const chat = ta.app.chat
  const socket = await ta.connect('alice')
  const health = await chat.health()
  t.match(health, { status: 'ok', storage: { name: 'memory', status: 'ok', latencyMs: Number }, fanout: { name: 'local', status: 'ok' }, connections: 1 })
  const rest = await ta.request('GET', '/chat/health')
  t.equal(rest.status, 200)
  const timeless = (h: any): unknown => ({ ...h, storage: { ...h.storage, latencyMs: 0 } })
  t.same(timeless(rest.body), timeless(health), 'the same object, but for the ping\'s time')

  t.equal(chat.options.limits.maxMessageBytes, 1234)
  t.equal(chat.options.prefix, '/chat')
  t.equal(socket.all('ready')[0].limits.maxMessageBytes, chat.options.limits.maxMessageBytes, 'what the socket was told')
})

t.test('the API refuses to act under a reserved id, as HTTP does', async (t) => {
  const ta = await startApp(t)
  const conv = await ta.app.chat.createConversation({ id: 'alice', name: 'Alice', roles: [] }, { title: 'x', ai: true })
  for (const id of ['assistant', 'system']) {
    const user: ChatUser = { id, name: id, roles: [] }
    await t.rejects(ta.app.chat.postMessage(user, conv.id, { clientMessageId: 'm', content: 'hi' }), { code: 'CHAT_ERR_FORBIDDEN', statusCode: 403 })
    await t.rejects(ta.app.chat.createConversation(user, { title: 'y' }), { code: 'CHAT_ERR_FORBIDDEN' })
  }
  const list = await ta.app.chat.listMessages({ id: 'alice', name: 'Alice', roles: [] }, conv.id)
  t.same(list.items.filter((m) => m.kind === 'text'), [], 'nothing posted')
})
