import t from 'tap'
import WebSocket from 'ws'
import { createConversation, startApp } from '../helpers/app.ts'

t.test('a user whose id is the AI\'s cannot use the chat: REST and the upgrade are refused, nothing is created', async (t) => {
  const ta = await startApp(t)
  const token = await ta.token('assistant')
  const create = await ta.request('POST', '/chat/conversations', { token, body: { title: 'x', ai: true } })
  t.match(create, { status: 403, body: { code: 'FORBIDDEN', message: /reserved/ } })
  const list = await ta.request('GET', '/chat/conversations', { token })
  t.equal(list.status, 403)
  const ws = new WebSocket(`${ta.wsUrl}?access_token=${token}`)
  const status = await new Promise<number>((resolve) => {
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0) })
    ws.on('open', () => { resolve(101) })
  })
  t.equal(status, 403, 'no socket under the AI\'s id')
  ws.on('error', () => {})
  ws.terminate()
  const system = await ta.request('GET', '/chat/conversations', { token: await ta.token('system') })
  t.equal(system.status, 403, '"system" is reserved too')
  // The AI itself still works for everyone else.
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  t.ok(conv.participants.some((p: any) => p.id === 'assistant' && p.type === 'ai'))
})

t.test('"system" cannot be listed or added as a participant', async (t) => {
  const ta = await startApp(t)
  const token = await ta.token('alice')
  const create = await ta.request('POST', '/chat/conversations', { token, body: { title: 'x', participants: ['system'] } })
  t.match(create, { status: 400, body: { code: 'BAD_REQUEST', message: /system/ } })
  const conv = await createConversation(ta, 'alice')
  const add = await ta.request('POST', `/chat/conversations/${conv.id}/participants`, { token, body: { userId: 'system' } })
  t.match(add, { status: 400, body: { code: 'BAD_REQUEST' } })
  const view = await ta.request('GET', `/chat/conversations/${conv.id}`, { token })
  t.same(view.body.participants.map((p: any) => p.id), ['alice'], 'nobody added')
})
