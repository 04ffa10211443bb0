import t from 'tap'
import { createConversation, startApp, TestClient } from '../helpers/app.ts'

t.test('a non-member gets 404 on every conversation route', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const mallory = await ta.token('mallory')
  const id = conv.id
  const routes: Array<[string, string, unknown?]> = [
    ['GET', `/chat/conversations/${id}`],
    ['DELETE', `/chat/conversations/${id}`],
    ['GET', `/chat/conversations/${id}/messages`],
    ['POST', `/chat/conversations/${id}/messages`, { clientMessageId: 'x', content: 'hi' }],
    ['POST', `/chat/conversations/${id}/participants`, { userId: 'mallory' }],
    ['DELETE', `/chat/conversations/${id}/participants/bob`],
    ['DELETE', `/chat/conversations/${id}/participants/mallory`]
  ]
  for (const [method, url, body] of routes) {
    const res = await ta.request(method, url, { token: mallory, body })
    t.equal(res.status, 404, `${method} ${url}`)
    t.equal(res.body.code, 'NOT_FOUND')
  }
  // Unknown ids look the same as other people's.
  const unknown = await ta.request('GET', '/chat/conversations/does-not-exist', { token: mallory })
  t.same(unknown.body, (await ta.request('GET', `/chat/conversations/${id}`, { token: mallory })).body)
  // Nothing changed
  const check = await ta.request('GET', `/chat/conversations/${id}`, { token: await ta.token('alice') })
  t.equal(check.body.lastSeq, conv.lastSeq)
  t.same(check.body.participants.map((p: any) => p.id), ['alice', 'bob'])
  const list = await ta.request('GET', '/chat/conversations', { token: mallory })
  t.same(list.body.items, [], 'not in the list either')
})

t.test('a non-member gets NOT_FOUND on join, send, typing and cancel', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const mallory = await ta.connect('mallory')
  for (const frame of [
    { type: 'join', conversationId: conv.id },
    { type: 'join', conversationId: conv.id, since: 0 },
    { type: 'send', conversationId: conv.id, clientMessageId: 'x', content: 'hi' },
    { type: 'typing', conversationId: conv.id },
    { type: 'cancel', conversationId: conv.id, messageId: 'm' }
  ]) {
    const reply = await mallory.call(frame)
    t.match(reply, { type: 'error', code: 'NOT_FOUND', status: 404 }, frame.type)
  }
  const alice = await ta.connect('alice')
  const joined = await alice.call({ type: 'join', conversationId: conv.id })
  t.equal(joined.lastSeq, conv.lastSeq, 'nothing was stored')
  t.equal(alice.all('typing').length, 0, 'no typing leaked')
})

t.test('no token: 401 on REST and no upgrade on the socket', async (t) => {
  const ta = await startApp(t)
  for (const [method, url] of [['GET', '/chat/conversations'], ['POST', '/chat/conversations'], ['GET', '/chat/conversations/x/messages'], ['GET', '/chat/admin/audit']]) {
    const res = await ta.request(method, url, {})
    t.equal(res.status, 401, `${method} ${url}`)
  }
  const bad = await ta.request('GET', '/chat/conversations', { token: 'not-a-jwt' })
  t.equal(bad.status, 401)

  const anonymous = new TestClient(ta.wsUrl)
  const refused = await new Promise<number>((resolve) => {
    anonymous.ws.on('unexpected-response', (req, res) => { resolve(res.statusCode ?? 0) })
    anonymous.ws.on('open', () => { resolve(101) })
  })
  t.equal(refused, 401)
  const wrong = new TestClient(`${ta.wsUrl}?access_token=forged`)
  const refused2 = await new Promise<number>((resolve) => {
    wrong.ws.on('unexpected-response', (req, res) => { resolve(res.statusCode ?? 0) })
    wrong.ws.on('open', () => { resolve(101) })
  })
  t.equal(refused2, 401)
})

t.test('a token in the authorization header also opens the socket', async (t) => {
  const ta = await startApp(t)
  const WebSocket = (await import('ws')).default
  const ws = new WebSocket(ta.wsUrl, { headers: { authorization: `Bearer ${await ta.token('carol')}` } })
  t.teardown(() => { ws.terminate() })
  const first = await new Promise<any>((resolve) => ws.once('message', (d) => { resolve(JSON.parse(d.toString())) }))
  t.match(first, { type: 'ready', userId: 'carol' })
})
