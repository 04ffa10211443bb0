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
/** For exact counts: an interval (1 s) far longer than a burst of takes lasts, even on a loaded machine. */
const SLOW = { max: 10, windowMs: 10_000 }
const SLOW_INTERVAL = SLOW.windowMs / SLOW.max

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
function bucketBehaviour (t: Test, make: (t: Test, rate: typeof RATE) => Promise<RateLimiter>): void {
  t.test('a burst of exactly max passes; the next is refused with a wait of about one interval', async (t) => {
    const limiter = await make(t, SLOW)
    t.same(await takeMany(limiter, 'alice', SLOW.max), Array(SLOW.max).fill(0), 'max at once')
    const wait = await limiter.take('alice')
    t.ok(wait > SLOW_INTERVAL / 2 && wait <= SLOW_INTERVAL, `max+1 waits about windowMs/max (${wait} ms, interval ${SLOW_INTERVAL})`)
    t.equal(await limiter.take('bob'), 0, 'another key has its own bucket')
  })

  t.test('refund gives exactly one action back', async (t) => {
    const limiter = await make(t, SLOW)
    await takeMany(limiter, 'alice', SLOW.max)
    t.ok(await limiter.take('alice') > 0, 'spent')
    limiter.refund('alice')
    await untilAllowed(limiter, 'alice', SLOW_INTERVAL / 2) // well before the bucket refills by itself
    t.ok(await limiter.take('alice') > 0, 'one only')
  })

  t.test('no window edge lets a second budget through: after a burst, the budget comes back one interval at a time', async (t) => {
    const limiter = await make(t, RATE)
    // Spend the budget just before a clock-aligned window boundary, where a fixed-window counter (as this limiter
    // was before) would hand out a fresh budget: the clock is polled up to that point.
    while (Date.now() % RATE.windowMs < RATE.windowMs - 60) await delay(5)
    const start = Date.now()
    t.same(await takeMany(limiter, 'alice', RATE.max), Array(RATE.max).fill(0))
    const allowed: number[] = Array(RATE.max).fill(start)
    // Hammer it across the boundary and a whole window on, taking whenever it allows.
    const until = start + RATE.windowMs + 4 * INTERVAL
    while (Date.now() < until) {
      const wait = await limiter.take('alice')
      if (wait === 0) allowed.push(Date.now())
      else await delay(Math.min(wait, 5))
    }
    // The bucket holds max and refills one per interval: by any time T, at most max + (T - start) / interval
    // actions have passed (+1 for rounding to the millisecond). A stalled event loop only makes T later.
    const over = allowed.map((at, i) => ({ k: i + 1, at: at - start })).filter(({ k, at }) => k > RATE.max + Math.floor(at / INTERVAL) + 1)
    t.same(over, [], 'never ahead of the refill rate')
    const acrossEdge = allowed.filter((at) => at < start + 200).length
    t.ok(acrossEdge <= RATE.max + 2, `across the window boundary: ${acrossEdge} within 200 ms, not 2×max`)
    const elapsed = Date.now() - start
    t.ok(allowed.length >= RATE.max + Math.floor((elapsed - 50) / INTERVAL) - 1, `and it does refill (${allowed.length} in ${elapsed} ms)`)
  })
}

t.test('local limiter', async (t) => {
  bucketBehaviour(t, async (_t, rate) => createRateLimiter(rate))
  t.test('max 0 turns the limit off', async (t) => {
    const limiter = createRateLimiter({ max: 0, windowMs: 1000 })
    t.same(await takeMany(limiter, 'alice', 1000), Array(1000).fill(0))
  })
})

t.test('shared limiter on Redis', async (t) => {
  bucketBehaviour(t, async (t, rate) => createRateLimiter(rate, (await redisCounter(t, `test-${randomUUID()}`)).counter, 'rl'))

  t.test('two limiters on the same Redis share one bucket: instances agree', async (t) => {
    const channel = `test-${randomUUID()}`
    const a = createRateLimiter(SLOW, (await redisCounter(t, channel)).counter, 'send')
    const b = createRateLimiter(SLOW, (await redisCounter(t, channel)).counter, 'send')
    t.same(await takeMany(a, 'alice', SLOW.max / 2), Array(SLOW.max / 2).fill(0))
    t.same(await takeMany(b, 'alice', SLOW.max / 2), Array(SLOW.max / 2).fill(0))
    t.ok(await a.take('alice') > 0, 'the bucket both filled is empty on one')
    t.ok(await b.take('alice') > 0, 'and on the other')
    // A refund on one instance is seen by the other.
    a.refund('alice')
    await untilAllowed(b, 'alice', SLOW_INTERVAL / 2)
    t.ok(await a.take('alice') > 0, 'the refunded action was spent once')
    // Different names (actions) are different buckets.
    const typing = createRateLimiter(SLOW, (await redisCounter(t, channel)).counter, 'typing')
    t.equal(await typing.take('alice'), 0, 'another action has its own bucket')
  })

  t.test('Redis unreachable: the limiter counts locally and never throws', async (t) => {
    const proxy = await startProxy(6379)
    t.teardown(async () => { await proxy.close() })
    const { fanout, counter } = await redisCounter(t, `test-${randomUUID()}`, `redis://127.0.0.1:${proxy.port}`)
    const limiter = createRateLimiter(SLOW, counter, 'send')
    t.equal(await limiter.take('alice'), 0, 'counted in Redis while it is there')
    proxy.pause()
    proxy.cut()
    const redis = fanout.redis as { status: string }
    // Wait for the client to notice (a condition, polled): its commands fail from then on.
    const deadline = Date.now() + 3000
    while (redis.status === 'ready' && Date.now() < deadline) await delay(5)
    t.not(redis.status, 'ready', 'the Redis client saw the link go')
    const waits = await takeMany(limiter, 'alice', SLOW.max + 1)
    t.same(waits.slice(0, SLOW.max), Array(SLOW.max).fill(0), 'a full local bucket')
    t.ok(waits[SLOW.max] > 0, 'the local bucket limits too')
    limiter.refund('alice') // does not throw either
    proxy.resume()
  })

  t.test('a Redis that was never reachable: local counting from the start', async (t) => {
    // A fan-out whose link never came up (nothing listens on the port; not started).
    const fanout = createRedisFanout({ url: 'redis://127.0.0.1:1', channel: `test-${randomUUID()}` }, log)
    t.teardown(async () => { await fanout.close() })
    const limiter = createRateLimiter(SLOW, fanout.counter, 'send')
    const waits = await takeMany(limiter, 'alice', SLOW.max + 1)
    t.same(waits.slice(0, SLOW.max), Array(SLOW.max).fill(0))
    t.ok(waits[SLOW.max] > 0)
  })
})
