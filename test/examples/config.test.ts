import t from 'tap'
import { buildApp } from '../../examples/app.ts'
import { loadConfig } from '../../examples/config.ts'

t.test('CHAT_RATE_LIMIT=n limits messages; CHAT_RATE_LIMIT=0 turns every per-user limit off', async (t) => {
  const some = await buildApp({ config: loadConfig({ CHAT_RATE_LIMIT: '5' }) })
  t.teardown(async () => { await some.close() })
  await some.ready()
  t.match(some.chat.options.rateLimit, { max: 5, conversations: { max: 600 }, rest: { max: 1000 } }, 'only the message budget changes')

  const off = await buildApp({ config: loadConfig({ CHAT_RATE_LIMIT: '0' }) })
  t.teardown(async () => { await off.close() })
  await off.ready()
  const r = off.chat.options.rateLimit
  t.same([r.max, r.conversations.max, r.participants.max, r.typing.max, r.joins.max, r.rest.max], [0, 0, 0, 0, 0, 0])
  const login = await off.inject({ method: 'POST', url: '/auth/dev-login', payload: { userId: 'alice' } })
  const token = login.json().token as string
  for (let i = 0; i < 700; i++) {
    const res = await off.inject({ method: 'POST', url: '/chat/conversations', headers: { authorization: `Bearer ${token}` }, payload: { title: `c${i}` } })
    if (res.statusCode !== 201) t.fail(`create ${i}: ${res.statusCode}`)
  }
  const res = await off.inject({ method: 'GET', url: '/chat/conversations', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.headers['x-ratelimit-limit'], undefined, 'no x-ratelimit headers when the REST limit is off')
})
