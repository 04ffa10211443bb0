import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import t, { type Test } from 'tap'
import { createRedisFanout } from '../../lib/fanout/redis.ts'
import type { Fanout } from '../../lib/fanout/index.ts'
import { createPresence, type Presence, type PresenceEvent } from '../../lib/presence.ts'
import { startProxy } from '../helpers/proxy.ts'

const log = { warn () {}, info () {}, error () {}, debug () {} } as unknown as FastifyBaseLogger
const TTL = 600

interface Node { fanout: Fanout, presence: Presence, users: Set<string>, gone: string[][], close: () => Promise<void> }

/** One instance's presence on a Redis fan-out (through `port`, e.g. a proxy), with these users online locally. */
async function node (t: Test, channel: string, users: string[], port = 6379): Promise<Node> {
  const fanout = createRedisFanout({ url: `redis://127.0.0.1:${port}`, channel }, log)
  const local = new Set(users)
  const gone: string[][] = []
  const presence = createPresence({
    fanout,
    isLocal: (id) => local.has(id),
    localUsers: () => local,
    ttlMs: TTL,
    onGone: (ids) => { gone.push(ids) }
  })
  await fanout.start({ event: (e) => { presence.receive(e as PresenceEvent) }, resync () {} })
  await presence.start()
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await presence.close()
    await fanout.close()
  }
  t.teardown(close)
  return { fanout, presence, users: local, gone, close }
}

/** Resolves once `check` holds; the conditions here change with the TTL, so they are polled. */
async function until (check: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !check();) {
    if (Date.now() > end) throw new Error('condition not reached')
    await new Promise<void>((resolve) => { setTimeout(resolve, 25) })
  }
}

t.test('an instance started later knows who is online elsewhere, from the instance directory', async (t) => {
  const channel = `presence-${randomUUID()}`
  await node(t, channel, ['alice'])
  const b = await node(t, channel, ['bob'])
  t.ok(b.presence.isOnline('alice'), 'alice, online on A, is online for B as soon as B has started')
  t.notOk(b.presence.isOnline('carol'))
})

t.test('an instance cut off from Redis stops renewing its key: its users go offline for the others within the TTL', async (t) => {
  const channel = `presence-${randomUUID()}`
  const proxy = await startProxy(6379)
  t.teardown(() => { proxy.close() })
  const a = await node(t, channel, ['alice'])
  const dying = await node(t, channel, ['carol'], proxy.port)
  await until(() => a.presence.isOnline('carol'))
  const cutAt = Date.now()
  proxy.pause()
  proxy.cut()
  await until(() => a.gone.length > 0)
  t.same(a.gone, [['carol']], 'carol is offline for A')
  t.notOk(a.presence.isOnline('carol'))
  t.ok(Date.now() - cutAt < 3 * TTL, `noticed in ${Date.now() - cutAt} ms`)
  t.same(dying.gone, [], 'the cut-off instance declares nobody dead while it cannot read the directory')
  t.ok(dying.presence.isOnline('alice'), 'and still counts alice online')
})

t.test('a closing instance leaves the directory at once', async (t) => {
  const channel = `presence-${randomUUID()}`
  const a = await node(t, channel, ['alice'])
  const b = await node(t, channel, ['bob'])
  await until(() => a.presence.isOnline('bob'))
  await b.close()
  const alive = await a.fanout.instances?.alive()
  t.equal(alive?.size, 1, 'only A is listed')
})
