import t from 'tap'
import { startApp } from '../helpers/app.ts'

async function auditLog (ta: Awaited<ReturnType<typeof startApp>>): Promise<any[]> {
  const res = await ta.request('GET', '/chat/admin/audit?limit=500', { token: await ta.token('root', { admin: true }) })
  return res.body.items
}

t.test('401s from many addresses write at most 20 audit rows per window; the rest are counted', async (t) => {
  const ta = await startApp(t)
  for (let i = 0; i < 60; i++) {
    const res = await ta.app.inject({ method: 'GET', url: '/chat/conversations', remoteAddress: `10.0.${i >> 8}.${i & 255}` })
    t.equal(res.statusCode, 401)
  }
  const rows = (await auditLog(ta)).filter((e) => e.action === 'auth.unauthorized')
  t.equal(rows.length, 20, 'capped per action per window')
  t.same(new Set(rows.map((e) => e.details.ip)).size, 20, 'each from its own address')
})

t.test('one address looping on 401s writes one row per window', async (t) => {
  const ta = await startApp(t)
  for (let i = 0; i < 10; i++) await ta.app.inject({ method: 'GET', url: '/chat/conversations', remoteAddress: '10.9.9.9' })
  const rows = (await auditLog(ta)).filter((e) => e.action === 'auth.unauthorized')
  t.equal(rows.length, 1)
  t.match(rows[0], { actor: 'anonymous', target: 'GET /chat/conversations', details: { ip: '10.9.9.9' } })
})
