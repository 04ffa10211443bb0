import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import { newId } from '../ids.ts'
import type { Fanout, FanoutEvent, FanoutHandlers } from './types.ts'

export interface RedisFanoutOptions {
  /** `redis://host:port/db`; or give `client`. */
  url?: string
  /** The host's ioredis client (e.g. from @fastify/redis): used to publish, duplicated to subscribe; never closed by us. */
  client?: Redis
  /** The pub/sub channel all instances of one deployment share. */
  channel?: string
}

interface Envelope { i: string, e: FanoutEvent }

/**
 * Redis pub/sub between instances. Every event goes to one channel, tagged with this instance's id so its
 * own echo is skipped. While the link is down nothing is queued (a late event is worse than none: storage has
 * every message, and the channels read it back on `resync`); publishing resumes when it is back.
 */
export function createRedisFanout (opts: RedisFanoutOptions, log: FastifyBaseLogger): Fanout {
  const channel = opts.channel ?? 'fastify-nlweb-chat'
  const me = newId()
  const owned = opts.client === undefined
  const pub: Redis = opts.client ?? new Redis(opts.url ?? 'redis://127.0.0.1:6379', { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 1 })
  const sub: Redis = pub.duplicate({ lazyConnect: true })
  let connected = false
  let wasDown = false
  let warned = false

  function onError (err: Error): void {
    // ioredis reports every failed reconnect; one line per outage is enough.
    if (warned) return
    warned = true
    log.warn({ err }, 'chat fan-out: Redis unreachable, delivering from storage until it is back')
  }

  return {
    name: 'redis',
    get connected () { return connected },

    async start (handlers: FanoutHandlers) {
      pub.on('error', onError)
      sub.on('error', onError)
      sub.on('message', (_channel: string, text: string) => {
        let envelope: Envelope
        try {
          envelope = JSON.parse(text) as Envelope
        } catch {
          return
        }
        if (envelope.i !== me) handlers.event(envelope.e)
      })
      sub.on('ready', () => {
        connected = true
        warned = false
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

    publish (event) {
      if (!connected || pub.status !== 'ready') return
      pub.publish(channel, JSON.stringify({ i: me, e: event })).catch(onError)
    },

    async close () {
      sub.disconnect()
      if (owned) pub.disconnect()
    }
  }
}
