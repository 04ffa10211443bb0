import type { FastifyInstance } from 'fastify'
import type { ChatServices } from '../lib/services.ts'

const DEGRADED_MS = 500
const DEADLINE_MS = 2000

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

/** GET /health and GET /metrics. */
export default async function healthRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const { storage, connections, cache, channels, metrics } = services

  fastify.get('/health', async (request, reply) => {
    const started = performance.now()
    let ok = true
    try {
      await pingWithin(async () => { await storage.ping() }, DEADLINE_MS)
    } catch (err) {
      ok = false
      request.log.error({ err }, 'chat storage ping failed')
    }
    const latencyMs = Math.round((performance.now() - started) * 100) / 100
    const status = !ok ? 'unavailable' : latencyMs > DEGRADED_MS ? 'degraded' : 'ok'
    return await reply.code(ok ? 200 : 503).send({
      status,
      storage: { name: storage.name, status: ok ? 'ok' : 'unavailable', latencyMs },
      connections: connections.size,
      conversations: cache.size,
      liveConversations: channels.size
    })
  })

  fastify.get('/metrics', async (request, reply) => {
    return await reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}
