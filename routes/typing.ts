import type { FastifyInstance } from 'fastify'
import type { ChatServices } from '../lib/services.ts'
import { ConversationParams, errorReplies, noContent } from '../lib/schemas/rest.ts'
import type { TypeBoxTypeProvider } from '../lib/schemas/type-provider.ts'

/** POST /conversations/:id/typing: the socket's `typing` frame over REST (for the event-stream transport). */
export default async function typingRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.post('/conversations/:id/typing', {
    schema: {
      tags: ['messages'],
      operationId: 'typing',
      summary: 'Say the user is typing',
      description: 'As the socket\'s `typing` frame: the other participants\' sockets and streams get `typing`.',
      params: ConversationParams,
      response: {
        204: noContent('Told'),
        ...errorReplies({
          400: true,
          401: true,
          404: 'NOT_FOUND: no such conversation, or the user is not in it',
          429: 'RATE_LIMITED: over the typing budget (rateLimit.typing)'
        })
      }
    }
  }, async (request, reply) => {
    await services.manager.typing(services.auth.user(request), request.params.id)
    return await reply.code(204).send()
  })
}
