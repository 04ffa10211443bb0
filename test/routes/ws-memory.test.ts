import type { IncomingMessage } from 'node:http'
import { setImmediate as turn } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { startApp } from '../helpers/app.ts'

/**
 * What an open socket keeps in memory: ten thousand idle sockets on one process each hold only what the socket
 * needs, not the upgrade's request and reply (headers, the URL with its token, Fastify's and Node's objects).
 */

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

async function collect (): Promise<void> {
  gc()
  await turn()
  gc()
}

t.test('an open socket does not keep its upgrade request and reply alive', async (t) => {
  const ta = await startApp(t)
  const upgrades: Array<WeakRef<IncomingMessage>> = []
  ta.app.server.on('upgrade', (req: IncomingMessage) => { upgrades.push(new WeakRef(req)) })
  const alice = await ta.connect('alice')
  const bob = await ta.connect('bob')
  t.equal(upgrades.length, 2, 'two upgrades seen')
  // The host's JWT plugin pools its last few callbacks (with the request they served): other requests take
  // their place, so that only sockets could still hold the upgrades' requests.
  const admin = await ta.token('root', { admin: true })
  const open = async (): Promise<string[]> => (await ta.request('GET', '/chat/admin/connections', { token: admin })).body.items.map((c: { userId: string }) => c.userId)
  for (let i = 0; i < 3; i++) await Promise.all([open(), open(), open(), open()])
  await collect()
  t.same(upgrades.map((ref) => ref.deref() === undefined), [true, true], 'both requests collected while their sockets are open')
  // The sockets work as before, the heartbeat's pong included.
  t.match(await alice.call({ type: 'ping' }), { type: 'pong' })
  t.match(await bob.call({ type: 'ping' }), { type: 'pong' })
  const pong = new Promise<void>((resolve) => { alice.ws.once('pong', () => { resolve() }) })
  alice.ws.ping()
  await pong
  // Closing still reaches the server: alice's socket leaves the registry, bob's stays.
  t.same((await open()).sort(), ['alice', 'bob'])
  alice.close()
  await alice.closed
  const deadline = Date.now() + 2000
  while ((await open()).includes('alice')) {
    if (Date.now() > deadline) throw new Error('alice\'s socket is still registered')
    await turn()
  }
  t.same(await open(), ['bob'], 'bob\'s socket is still open')
})
