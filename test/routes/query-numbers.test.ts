import t from 'tap'
import { createConversation, startApp } from '../helpers/app.ts'

t.test('a query number that is not finite is a BAD_REQUEST, not a 500 or an unbounded page', async (t) => {
  const ta = await startApp(t)
  const token = await ta.token('alice')
  for (const q of ['1e309', '-1e309']) {
    t.match(await ta.request('GET', `/chat/conversations?limit=${q}`, { token }), { status: 400, body: { code: 'BAD_REQUEST', message: /finite/ } }, q)
  }
  const conv = await createConversation(ta, 'alice')
  t.match(await ta.request('GET', `/chat/conversations/${conv.id}/messages?after=1e309`, { token }), { status: 400, body: { code: 'BAD_REQUEST' } })
})
