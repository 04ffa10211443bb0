import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import { newId } from '../ids.ts'
import type { Fanout, FanoutEvent, FanoutHandlers, RedisFanoutOptions } from './types.ts'

export type { RedisFanoutOptions }

interface Envelope { i: string, e: FanoutEvent }

/**
 * The rate limiter's token bucket (lib/rate-limit.ts, GCRA) in one step on Redis, on Redis's clock so that
 * instances agree: KEYS[1] holds the next "theoretical arrival time" in ms; ARGV = interval, window (ms).
 */
const GCRA_TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + interval
if nxt - now > window then return math.ceil(nxt - now - window) end
redis.call('SET', KEYS[1], string.format('%.3f', nxt), 'PX', math.ceil(window))
return 0`
const GCRA_REFUND = `
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat then redis.call('SET', KEYS[1], string.format('%.3f', tat - tonumber(ARGV[1])), 'KEEPTTL') end
return 0`

/** Events kept while the publishing link is down; past this the oldest go (storage still has every message). */
const MAX_QUEUED = 10_000
/** ...and at most this many bytes of them. */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024
/**
 * A command Redis has not answered by then has failed (a stalled link, not a refused one): limits fall back to
 * counting locally, presence to what it knows. Set on the clients the fan-out opens; calls on a host's client
 * are raced against it.
 */
const COMMAND_TIMEOUT_MS = 1000

async function within<T> (work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      work,
      new Promise<never>((resolve, reject) => { timer = setTimeout(() => { reject(new Error('Redis did not answer in time')) }, COMMAND_TIMEOUT_MS) })
    ])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Redis pub/sub between instances. Every event goes to one channel, tagged with this instance's id so its
 * own echo is skipped. While this instance cannot publish, its events wait in order (bounded) and go out when
 * the link is back: a late message is still delivered in seq order, since each instance's sequencer drops what
 * it has and fills gaps from storage. While it cannot receive, its channels read storage (`connected` false),
 * and `resync` catches up when the link is back.
 */
export function createRedisFanout (opts: RedisFanoutOptions, log: FastifyBaseLogger): Fanout {
  const channel = opts.channel ?? 'fastify-nlweb-chat'
  const me = newId()
  const owned = opts.client === undefined
  const pub: Redis = (opts.client as Redis | undefined) ?? new Redis(opts.url ?? 'redis://127.0.0.1:6379', { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 1, commandTimeout: COMMAND_TIMEOUT_MS })
  const sub: Redis = pub.duplicate({ lazyConnect: true })
  let connected = false
  const waiting: Array<() => void> = []
  const queued: string[] = []
  let queuedBytes = 0
  let wasDown = false
  let warned = false
  let closed = false

  function onError (err: Error): void {
    // ioredis reports every failed reconnect; one line per outage is enough.
    if (warned) return
    warned = true
    log.warn({ err }, 'chat fan-out: Redis unreachable, delivering from storage until it is back')
  }

  return {
    name: 'redis',
    shared: true,
    redis: pub,
    get connected () { return connected },

    async start (handlers: FanoutHandlers) {
      pub.on('error', onError)
      pub.on('ready', () => {
        // In order, before anything published after this point.
        queuedBytes = 0
        for (const text of queued.splice(0)) pub.publish(channel, text).catch(onError)
      })
      sub.on('error', onError)
      sub.on('message', (_channel: string, text: string) => {
        let envelope: Envelope
        try {
          envelope = JSON.parse(text) as Envelope
        } catch {
          return
        }
        if (envelope.i !== me && !closed) handlers.event(envelope.e)
      })
      sub.on('ready', () => {
        connected = true
        warned = false
        for (const resolve of waiting.splice(0)) resolve()
        if (wasDown) {
          wasDown = false
          log.info('chat fan-out: Redis is back')
          handlers.resync()
        }
      })
      sub.on('close', () => {
        if (connected) wasDown = true
        connected = false
      })
      if (owned) await pub.connect()
      await sub.connect()
      await sub.subscribe(channel)
      connected = true
    },

    async whenConnected () {
      if (connected) return
      await new Promise<void>((resolve) => { waiting.push(resolve) })
    },

    counter: {
      async take (key, rate) {
        if (pub.status !== 'ready') throw new Error('Redis is not connected')
        const wait = await within(pub.eval(GCRA_TAKE, 1, `${channel}:rate:${key}`, rate.windowMs / rate.max, rate.windowMs))
        return Number(wait)
      },
      refund (key, rate) {
        if (pub.status === 'ready') pub.eval(GCRA_REFUND, 1, `${channel}:rate:${key}`, rate.windowMs / rate.max).catch(onError)
      }
    },

    instances: {
      async beat (instance, users, ttlMs) {
        if (pub.status !== 'ready') throw new Error('Redis is not connected')
        await within(pub.multi().set(`${channel}:instance:${instance}`, JSON.stringify(users), 'PX', ttlMs).sadd(`${channel}:instances`, instance).exec())
      },
      async alive () {
        if (pub.status !== 'ready') throw new Error('Redis is not connected')
        const ids = await within(pub.smembers(`${channel}:instances`))
        const alive = new Map<string, string[]>()
        if (ids.length === 0) return alive
        const records = await within(pub.mget(ids.map((id) => `${channel}:instance:${id}`)))
        const expired: string[] = []
        ids.forEach((id, i) => {
          const record = records[i]
          if (record === null || record === undefined) expired.push(id)
          else alive.set(id, JSON.parse(record) as string[])
        })
        if (expired.length > 0) pub.srem(`${channel}:instances`, ...expired).catch(onError)
        return alive
      },
      async remove (instance) {
        if (pub.status !== 'ready') return
        await within(pub.multi().del(`${channel}:instance:${instance}`).srem(`${channel}:instances`, instance).exec())
      }
    },

    publish (event) {
      if (closed) return
      const text = JSON.stringify({ i: me, e: event })
      if (pub.status === 'ready' && queued.length === 0) {
        pub.publish(channel, text).catch(onError)
        return
      }
      // Frames outside the sequence (typing, stream chunks) are stale by the time the link is back: not kept.
      // Messages and changes are, in order and bounded; one dropped is a gap storage fills.
      if (event.type === 'frame') return
      while (queued.length > 0 && (queued.length >= MAX_QUEUED || queuedBytes + text.length > MAX_QUEUED_BYTES)) {
        queuedBytes -= (queued.shift() as string).length
      }
      queued.push(text)
      queuedBytes += text.length
    },

    async close () {
      closed = true
      connected = false
      sub.disconnect()
      if (owned) pub.disconnect()
    }
  }
}
