import t from 'tap'
import { createConversation, startApp, type TestApp } from '../helpers/app.ts'

const ROUTES: Array<[string, string, unknown?]> = [
  ['GET', '/chat/admin/conversations'],
  ['GET', '/chat/admin/connections'],
  ['POST', '/chat/admin/conversations/CONV/close'],
  ['DELETE', '/chat/admin/conversations/CONV'],
  ['POST', '/chat/admin/users/bob/disconnect'],
  ['GET', '/chat/admin/audit']
]

async function asAdmin (ta: TestApp, method: string, url: string): Promise<{ status: number, body: any, headers: Record<string, unknown> }> {
  return await ta.request(method, url, { token: await ta.token('root', { admin: true }) })
}

t.test('admin routes: 401 without a token, 403 for a user without the admin role, and nothing happens', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const bob = await ta.connect('bob')
  const owner = await ta.token('alice')
  for (const [method, template] of ROUTES) {
    const url = template.replace('CONV', conv.id)
    const anonymous = await ta.request(method, url)
    t.equal(anonymous.status, 401, `${method} ${url} without a token`)
    const member = await ta.request(method, url, { token: owner })
    t.equal(member.status, 403, `${method} ${url} as the conversation's owner`)
    t.match(member.body, { statusCode: 403, code: 'FORBIDDEN', error: 'Forbidden', message: /admin/ })
  }
  // A bad id is still 403 for a non-admin: the role is checked before anything else.
  t.equal((await ta.request('POST', '/chat/admin/conversations/%20/close', { token: owner })).status, 403)

  const view = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: owner })
  t.equal(view.status, 200, 'not deleted')
  t.notOk(view.body.closedAt, 'not closed')
  t.match(await bob.call({ type: 'ping' }), { type: 'pong' }, 'bob still connected')
  const audit = (await asAdmin(ta, 'GET', '/chat/admin/audit')).body.items as any[]
  t.same(audit.filter((e) => !e.action.startsWith('auth.') && !e.action.startsWith('admin.')), [], 'no admin action audited')
  // The refusals are security events: who, what, on what, from where (one per actor and action in a window).
  t.match(audit.find((e) => e.action === 'admin.forbidden'), { actor: 'alice', target: /^(GET|POST|DELETE) \/chat\/admin\//, details: { ip: '127.0.0.1' } })
  t.match(audit.find((e) => e.action === 'auth.unauthorized'), { actor: 'anonymous', target: /\/chat\/admin\//, details: { ip: '127.0.0.1' } })
})

t.test('admin lists every conversation with stats, paged', async (t) => {
  const ta = await startApp(t)
  const first = await createConversation(ta, 'alice', ['bob'], { title: 'first' })
  const second = await createConversation(ta, 'carol', [], { title: 'second' })
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: first.id })
  await alice.call({ type: 'send', conversationId: first.id, clientMessageId: 'x', content: 'hi' })

  const res = await asAdmin(ta, 'GET', '/chat/admin/conversations')
  t.equal(res.status, 200)
  t.equal(res.body.nextCursor, null)
  t.same(res.body.items.map((c: any) => c.id), [second.id, first.id], 'everyone\'s, newest first, though root takes part in none')
  t.match(res.body.items[1], {
    title: 'first',
    participants: [{ id: 'alice', online: true }, { id: 'bob', online: false }],
    stats: { messages: 3, participants: 2, online: 1, subscribers: 1 }
  })
  t.match(res.body.items[0], { title: 'second', stats: { messages: 1, participants: 1, online: 0, subscribers: 0 } })

  const page1 = await asAdmin(ta, 'GET', '/chat/admin/conversations?limit=1')
  t.same(page1.body.items.map((c: any) => c.id), [second.id])
  t.equal(typeof page1.body.nextCursor, 'string')
  const page2 = await asAdmin(ta, 'GET', `/chat/admin/conversations?limit=1&cursor=${encodeURIComponent(page1.body.nextCursor)}`)
  t.same(page2.body.items.map((c: any) => c.id), [first.id])
  t.equal(page2.body.nextCursor, null)
})

t.test('admin lists live connections', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const empty = await asAdmin(ta, 'GET', '/chat/admin/connections')
  t.same(empty.body, { items: [], total: 0 })

  const alice = await ta.connect('alice')
  const ready = alice.all('ready')[0]
  await alice.call({ type: 'join', conversationId: conv.id })
  await ta.connect('bob')
  const res = await asAdmin(ta, 'GET', '/chat/admin/connections')
  t.equal(res.status, 200)
  t.equal(res.body.total, 2)
  const mine = res.body.items.find((c: any) => c.userId === 'alice')
  t.match(mine, { id: String, userId: 'alice', openedAt: String, conversations: [conv.id] })
  if (ready.connectionId !== undefined) t.equal(mine.id, ready.connectionId, 'the id the socket was told in `ready`')
  t.match(res.body.items.find((c: any) => c.userId === 'bob'), { conversations: [] })
})

t.test('admin closes a conversation: sends are then FORBIDDEN over REST and the socket; reading still works', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })

  const closed = await asAdmin(ta, 'POST', `/chat/admin/conversations/${conv.id}/close`)
  t.equal(closed.status, 200)
  t.match(closed.body, { id: conv.id, closedAt: String, participants: [{ id: 'alice' }, { id: 'bob' }] })

  const rest = await ta.request('POST', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('bob'), body: { clientMessageId: 'b', content: 'hello?' } })
  t.equal(rest.status, 403)
  t.match(rest.body, { statusCode: 403, code: 'FORBIDDEN', message: /closed/ })
  const ws = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'a', content: 'hello?' })
  t.match(ws, { type: 'error', code: 'FORBIDDEN', status: 403, message: /closed/ })

  const view = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token('alice') })
  t.equal(view.body.closedAt, closed.body.closedAt, 'participants see it closed')
  t.equal(view.body.lastSeq, 2, 'nothing was stored')
  const messages = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('bob') })
  t.equal(messages.status, 200)

  t.equal((await asAdmin(ta, 'POST', '/chat/admin/conversations/nope/close')).status, 404)
})

t.test('admin deletes a conversation: gone for its participants, joined sockets get `left`', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const bob = await ta.connect('bob')
  await bob.call({ type: 'join', conversationId: conv.id })

  const res = await asAdmin(ta, 'DELETE', `/chat/admin/conversations/${conv.id}`)
  t.equal(res.status, 204)
  t.match(await bob.next((f) => f.type === 'left'), { conversationId: conv.id })
  t.equal((await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token('alice') })).status, 404)
  t.same((await asAdmin(ta, 'GET', '/chat/admin/conversations')).body.items, [])
  t.equal((await asAdmin(ta, 'DELETE', `/chat/admin/conversations/${conv.id}`)).status, 404, 'twice')
})

t.test('admin disconnects a user: every socket of theirs closes with 1008, others stay', async (t) => {
  const ta = await startApp(t)
  const phone = await ta.connect('bob')
  const laptop = await ta.connect('bob')
  const alice = await ta.connect('alice')

  const res = await asAdmin(ta, 'POST', '/chat/admin/users/bob/disconnect')
  t.equal(res.status, 200)
  t.same(res.body, { userId: 'bob', closed: 2 })
  t.match(await phone.closed, { code: 1008 })
  t.match(await laptop.closed, { code: 1008 })
  t.match(await alice.call({ type: 'ping' }), { type: 'pong' })
  t.same((await asAdmin(ta, 'GET', '/chat/admin/connections')).body.items.map((c: any) => c.userId), ['alice'])

  const nobody = await asAdmin(ta, 'POST', '/chat/admin/users/ghost/disconnect')
  t.same(nobody.body, { userId: 'ghost', closed: 0 })
})

t.test('the audit log lists admin actions newest first, with who did what to what, paged by before', async (t) => {
  const ta = await startApp(t)
  const closeMe = await createConversation(ta, 'alice', ['bob'])
  const deleteMe = await createConversation(ta, 'alice', ['bob'])
  const bob = await ta.connect('bob')

  await asAdmin(ta, 'POST', `/chat/admin/conversations/${closeMe.id}/close`)
  await asAdmin(ta, 'DELETE', `/chat/admin/conversations/${deleteMe.id}`)
  await asAdmin(ta, 'POST', '/chat/admin/users/bob/disconnect')
  await bob.closed

  const res = await asAdmin(ta, 'GET', '/chat/admin/audit')
  t.equal(res.status, 200)
  t.match(res.body.items, [
    { action: 'user.disconnect', actor: 'root', target: 'bob', details: { sockets: 1 }, at: String, id: String },
    { action: 'conversation.delete', actor: 'root', target: deleteMe.id, details: { title: 'test' } },
    { action: 'conversation.close', actor: 'root', target: closeMe.id }
  ])
  t.equal(res.body.items.length, 3)
  const times = res.body.items.map((e: any) => e.at)
  t.same(times, [...times].sort().reverse(), 'newest first')

  const first = await asAdmin(ta, 'GET', '/chat/admin/audit?limit=1')
  t.same(first.body.items.map((e: any) => e.action), ['user.disconnect'])
  const rest = await asAdmin(ta, 'GET', `/chat/admin/audit?limit=5&before=${encodeURIComponent(first.body.items[0].id)}`)
  t.same(rest.body.items.map((e: any) => e.action), ['conversation.delete', 'conversation.close'])
  t.equal((await asAdmin(ta, 'GET', '/chat/admin/audit?limit=0')).status, 400)

  // An owner's own delete and removals by others are audited too.
  const mine = await createConversation(ta, 'alice', ['bob'])
  await ta.request('DELETE', `/chat/conversations/${mine.id}/participants/bob`, { token: await ta.token('alice') })
  await ta.request('DELETE', `/chat/conversations/${mine.id}`, { token: await ta.token('alice') })
  const latest = await asAdmin(ta, 'GET', '/chat/admin/audit?limit=2')
  t.match(latest.body.items, [
    { action: 'conversation.delete', actor: 'alice', target: mine.id },
    { action: 'participant.remove', actor: 'alice', target: mine.id, details: { userId: 'bob' } }
  ])
})
