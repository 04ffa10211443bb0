import type { FastifyBaseLogger } from 'fastify'
import type { HealthReply } from './schemas/rest.ts'
import type { ChatServices } from './services.ts'

/** A storage ping slower than this makes the process `degraded`. */
export const DEGRADED_MS = 500
/** A storage ping that has not answered by then counts as failed: `unavailable`. */
export const DEADLINE_MS = 2000

async function pingWithin (ping: () => Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      ping(),
      new Promise<never>((resolve, reject) => { timer = setTimeout(() => { reject(new Error(`storage ping took over ${ms} ms`)) }, ms) })
    ])
  } finally {
    clearTimeout(timer)
  }
}

interface Probe { pending: boolean, result: Promise<{ ok: boolean, latencyMs: number }> }
const probes = new WeakMap<object, Probe>()

/**
 * One storage ping (a real write, for SQLite) serves every health request that arrives while it runs: a public
 * /health polled hard by many clients at once costs one probe at a time, not one per request.
 */
async function probe (storage: ChatServices['storage'], log: FastifyBaseLogger): Promise<{ ok: boolean, latencyMs: number }> {
  const last = probes.get(storage)
  // A probe in flight is shared by the requests that arrive meanwhile; the next one probes again, so a failure
  // or a recovery shows at once.
  if (last?.pending === true) return await last.result
  const started = performance.now()
  const entry: Probe = { pending: true, result: Promise.resolve({ ok: false, latencyMs: 0 }) }
  entry.result = (async () => {
    let ok = true
    try {
      await pingWithin(async () => { await storage.ping() }, DEADLINE_MS)
    } catch (err) {
      ok = false
      log.warn({ err }, 'chat storage ping failed')
    }
    entry.pending = false
    return { ok, latencyMs: Math.round((performance.now() - started) * 100) / 100 }
  })()
  probes.set(storage, entry)
  return await entry.result
}

/**
 * The health of this process, as GET /health reports it and `app.chat.health()` returns it: the storage's
 * answer to a ping within DEADLINE_MS, the link to the other instances, and what this process holds.
 * `unavailable` when the storage did not answer; `degraded` when it was slow or the fan-out link is down.
 */
export async function checkHealth (
  services: Pick<ChatServices, 'storage' | 'fanout' | 'connections' | 'cache' | 'channels'>,
  log: FastifyBaseLogger
): Promise<HealthReply> {
  const { storage, fanout } = services
  const { ok, latencyMs } = await probe(storage, log)
  const linked = fanout.connected
  return {
    status: !ok ? 'unavailable' : latencyMs > DEGRADED_MS || !linked ? 'degraded' : 'ok',
    storage: { name: storage.name, status: ok ? 'ok' : 'unavailable', latencyMs },
    fanout: { name: fanout.name, status: linked ? 'ok' : 'unavailable' },
    connections: services.connections.size,
    conversations: services.cache.size,
    liveConversations: services.channels.size
  }
}
