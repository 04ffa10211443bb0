import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import t, { type Test } from 'tap'
import { createRedisFanout } from '../../lib/fanout/redis.ts'
import type { Fanout } from '../../lib/fanout/types.ts'
import { createRateLimiter, type RateLimiter, type SharedCounter } from '../../lib/rate-limit.ts'
import { startProxy } from '../helpers/proxy.ts'

/** lib/rate-limit.ts: a token bucket (GCRA) per key, counted locally or in Redis (the fan-out's counter). */

const log = { warn () {}, info () {}, error () {}, debug () {}, trace () {}, fatal () {}, child () { return log } } as unknown as FastifyBaseLogger
const RATE = { max: 10, windowMs: 1000 }
const INTERVAL = RATE.windowMs / RATE.max

/** A Redis fan-out (started, so its counter is connected) on a channel of this test's own. */
async function redisCounter (t: Test, channel: string, url = 'redis://127.0.0.1:6379'): Promise<{ fanout: Fanout, counter: SharedCounter }> {
  const fanout = createRedisFanout({ url, channel }, log)
  await fanout.start({ event () {}, resync () {} })
  t.teardown(async () => { await fanout.close() })
  return { fanout, counter: fanout.counter as SharedCounter }
}

async function takeMany (limiter: RateLimiter, key: string, n: number): Promise<number[]> {
  const waits: number[] = []
  for (let i = 0; i < n; i++) waits.push(await limiter.take(key))
  return waits
}

/** Polls the limiter until it lets one through (a refused take spends nothing); fails after `ms`. */
async function untilAllowed (limiter: RateLimiter, key: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const wait = await limiter.take(key)
    if (wait === 0) return
    if (Date.now() > deadline) throw new Error(`still refused after ${ms} ms (wait ${wait})`)
    await delay(Math.min(wait, 20))
  }
}

/** The behaviours every limiter keeps, local or shared. */
function bucketBehaviour (t: Test, make: (t: Test) => Promise<RateLimiter>): void {
  t.test('a burst of exactly max passes; the next is refused with a wait of about one interval', async (t) => {
    const limiter = await make(t)
    t.same(await takeMany(limiter, 'alice', RATE.max), Array(RATE.max).fill(0), 'max at once')
    const wait = await limiter.take('alice')
    t.ok(wait > 0 && wait <= INTERVAL, `max+1 waits about windowMs/max (${wait} ms, interval ${INTERVAL})`)
    t.equal(await limiter.take('bob'), 0, 'another key has its own bucket')
  })

  t.test('refund gives exactly one action back', async (t) => {
    const limiter = await make(t)
    await takeMany(limiter, 'alice', RATE.max)
    t.ok(await limiter.take('alice') > 0, 'spent')
    limiter.refund('alice')
    await untilAllowed(limiter, 'alice', INTERVAL / 2) // well before the bucket refills by itself
    t.ok(await limiter.take('alice') > 0, 'one only')
  })

  t.test('no window edge lets a second full budget through: after a burst, one action per interval', async (t) => {
    const limiter = await make(t)
    const start = Date.now()
    t.same(await takeMany(limiter, 'alice', RATE.max), Array(RATE.max).fill(0))
    // Hammer it across where a fixed window would have restarted, taking whenever it allows.
    const allowed: number[] = []
    const until = start + RATE.windowMs + 4 * INTERVAL
    while (Date.now() < until) {
      const wait = await limiter.take('alice')
      if (wait === 0) allowed.push(Date.now())
      else await delay(Math.min(wait, 5))
    }
    const elapsed = Date.now() - start
    // The bucket refills at max per windowMs: in any span of d ms after the burst, at most d/interval + 1 pass.
    t.ok(allowed.length <= Math.ceil(elapsed / INTERVAL) + 1, `${allowed.length} passed in the ${elapsed} ms after the burst`)
    t.ok(allowed.length >= Math.floor((elapsed - 50) / INTERVAL) - 1, 'and it does refill (no lock-out)')
    const inFirstWindow = allowed.filter((at) => at < start + RATE.windowMs).length
    t.ok(RATE.max + inFirstWindow <= 2 * RATE.max - 1, `within the first window: ${RATE.max} + ${inFirstWindow}, never 2×max`)
    // Where a fixed window restarts (start + windowMs), at most one passes in half an interval, never a burst.
    const edge = start + RATE.windowMs
    for (const at of allowed) {
      const near = allowed.filter((x) => x >= at && x < at + INTERVAL / 2).length
      t.ok(near <= 1, `at most one per half interval (at +${at - start} ms: ${near})`)
    }
    t.ok(allowed.filter((at) => at >= edge && at < edge + INTERVAL).length <= 1, 'no burst at the window edge')
  })
}

t.test('local limiter', async (t) => {
  bucketBehaviour(t, async () => createRateLimiter(RATE))
  t.test('max 0 turns the limit off', async (t) => {
    const limiter = createRateLimiter({ max: 0, windowMs: 1000 })
    t.same(await takeMany(limiter, 'alice', 1000), Array(1000).fill(0))
  })
})

t.test('shared limiter on Redis', async (t) => {
  bucketBehaviour(t, async (t) => createRateLimiter(RATE, (await redisCounter(t, `test-${randomUUID()}`)).counter, 'rl'))

  t.test('two limiters on the same Redis share one bucket: instances agree', async (t) => {
    const channel = `test-${randomUUID()}`
    const a = createRateLimiter(RATE, (await redisCounter(t, channel)).counter, 'send')
    const b = createRateLimiter(RATE, (await redisCounter(t, channel)).counter, 'send')
    t.same(await takeMany(a, 'alice', RATE.max / 2), Array(RATE.max / 2).fill(0))
    t.same(await takeMany(b, 'alice', RATE.max / 2), Array(RATE.max / 2).fill(0))
    t.ok(await a.take('alice') > 0, 'the bucket both filled is empty on one')
    t.ok(await b.take('alice') > 0, 'and on the other')
    // A refund on one instance is seen by the other.
    a.refund('alice')
    await untilAllowed(b, 'alice', INTERVAL / 2)
    t.ok(await a.take('alice') > 0, 'the refunded action was spent once')
    // Different names (actions) are different buckets.
    const typing = createRateLimiter(RATE, (await redisCounter(t, channel)).counter, 'typing')
    t.equal(await typing.take('alice'), 0, 'another action has its own bucket')
  })

  t.test('Redis unreachable: the limiter counts locally and never throws', async (t) => {
    const proxy = await startProxy(6379)
    t.teardown(async () => { await proxy.close() })
    const { fanout, counter } = await redisCounter(t, `test-${randomUUID()}`, `redis://127.0.0.1:${proxy.port}`)
    const limiter = createRateLimiter(RATE, counter, 'send')
    t.equal(await limiter.take('alice'), 0, 'counted in Redis while it is there')
    proxy.pause()
    proxy.cut()
    const redis = fanout.redis as { status: string }
    // Wait for the client to notice (a condition, polled): its commands fail from then on.
    const deadline = Date.now() + 3000
    while (redis.status === 'ready' && Date.now() < deadline) await delay(5)
    t.not(redis.status, 'ready', 'the Redis client saw the link go')
    const waits = await takeMany(limiter, 'alice', RATE.max + 1)
    t.same(waits.slice(0, RATE.max), Array(RATE.max).fill(0), 'a full local bucket')
    t.ok(waits[RATE.max] > 0, 'the local bucket limits too')
    limiter.refund('alice') // does not throw either
    proxy.resume()
  })

  t.test('a Redis that was never reachable: local counting from the start', async (t) => {
    // A fan-out whose link never came up (nothing listens on the port; not started).
    const fanout = createRedisFanout({ url: 'redis://127.0.0.1:1', channel: `test-${randomUUID()}` }, log)
    t.teardown(async () => { await fanout.close() })
    const limiter = createRateLimiter(RATE, fanout.counter, 'send')
    const waits = await takeMany(limiter, 'alice', RATE.max + 1)
    t.same(waits.slice(0, RATE.max), Array(RATE.max).fill(0))
    t.ok(waits[RATE.max] > 0)
  })
})
