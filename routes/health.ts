import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { DEADLINE_MS, DEGRADED_MS, checkHealth } from '../lib/health.ts'
import type { ChatServices } from '../lib/services.ts'
import { HealthReply, errorReplies, response } from '../lib/schemas/rest.ts'
import type { TypeBoxTypeProvider } from '../lib/schemas/type-provider.ts'

const tags = ['health']

/** GET /health and GET /metrics: public unless `publicHealth: false` puts them behind the host's auth. */
export default async function healthRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const { metrics } = services
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const isPublic = services.options.publicHealth
  // `security: []` says "no auth" whatever the host's security scheme is called.
  const access = isPublic ? { security: [] } : {}
  const denied = isPublic ? {} : errorReplies({ 401: true })

  app.get('/health', {
    schema: {
      tags,
      operationId: 'health',
      summary: 'Health of this process and its storage',
      description: `200 while the storage answers a ping (\`degraded\` when it took over ${DEGRADED_MS} ms), ` +
        `503 when it failed or took over ${DEADLINE_MS} ms.`,
      ...access,
      response: {
        200: response(HealthReply, 'The storage answered: `ok` or `degraded`'),
        503: response(HealthReply, 'The storage did not answer: `unavailable`'),
        ...denied
      }
    }
  }, async (request, reply) => {
    const health = await checkHealth(services, request.log)
    return await reply.code(health.storage.status === 'ok' ? 200 : 503).send(health)
  })

  app.get('/metrics', {
    schema: {
      tags,
      operationId: 'metrics',
      summary: 'Prometheus metrics',
      description: 'The plugin\'s own registry, in the Prometheus text exposition format.',
      ...access,
      response: {
        200: { description: 'Metrics', content: { 'text/plain': { schema: Type.String() } } },
        ...denied
      }
    }
  }, async (request, reply) => {
    return await reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}
