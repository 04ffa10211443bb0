import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import { newId } from '../ids.ts'
import type { Fanout, FanoutEvent, FanoutHandlers, RedisFanoutOptions } from './types.ts'

export type { RedisFanoutOptions }


interface Envelope { i: string, e: FanoutEvent }

/** Events kept while the publishing link is down; past this the oldest go (storage still has every message). */
const MAX_QUEUED = 10_000

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
  const pub: Redis = (opts.client as Redis | undefined) ?? new Redis(opts.url ?? 'redis://127.0.0.1:6379', { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 1 })
  const sub: Redis = pub.duplicate({ lazyConnect: true })
  let connected = false
  const waiting: Array<() => void> = []
  const queued: string[] = []
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
    get connected () { return connected },

    async start (handlers: FanoutHandlers) {
      pub.on('error', onError)
      pub.on('ready', () => {
        // In order, before anything published after this point.
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
      async incr (key, windowMs) {
        if (pub.status !== 'ready') throw new Error('Redis is not connected')
        const k = `${channel}:rate:${key}`
        const replies = await pub.multi().incr(k).pexpire(k, windowMs + 1000).exec()
        const count = replies?.[0]?.[1]
        if (typeof count !== 'number') throw new Error('Redis did not count')
        return count
      },
      decr (key) {
        if (pub.status === 'ready') pub.decr(`${channel}:rate:${key}`).catch(onError)
      }
    },

    instances: {
      async beat (instance, users, ttlMs) {
        if (pub.status !== 'ready') throw new Error('Redis is not connected')
        await pub.multi().set(`${channel}:instance:${instance}`, JSON.stringify(users), 'PX', ttlMs).sadd(`${channel}:instances`, instance).exec()
      },
      async alive () {
        if (pub.status !== 'ready') throw new Error('Redis is not connected')
        const ids = await pub.smembers(`${channel}:instances`)
        const alive = new Map<string, string[]>()
        if (ids.length === 0) return alive
        const records = await pub.mget(ids.map((id) => `${channel}:instance:${id}`))
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
        await pub.multi().del(`${channel}:instance:${instance}`).srem(`${channel}:instances`, instance).exec()
      }
    },

    publish (event) {
      if (closed) return
      const text = JSON.stringify({ i: me, e: event })
      if (pub.status === 'ready' && queued.length === 0) {
        pub.publish(channel, text).catch(onError)
        return
      }
      if (queued.length >= MAX_QUEUED) queued.shift()
      queued.push(text)
    },

    async close () {
      closed = true
      connected = false
      sub.disconnect()
      if (owned) pub.disconnect()
    }
  }
}
