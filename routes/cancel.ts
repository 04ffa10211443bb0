import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { ChatServices } from '../lib/services.ts'
import { errorReplies, noContent } from '../lib/schemas/rest.ts'
import type { TypeBoxTypeProvider } from '../lib/schemas/type-provider.ts'

const CancelParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, description: 'Conversation id' }),
  messageId: Type.String({ minLength: 1, maxLength: 128, description: 'The id of the AI answer' })
})

/** POST /conversations/:id/messages/:messageId/cancel: the socket's `cancel` frame over REST. */
export default async function cancelRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.post('/conversations/:id/messages/:messageId/cancel', {
    schema: {
      tags: ['messages'],
      operationId: 'cancelAnswer',
      summary: 'Stop an AI answer',
      description: 'As the socket\'s `cancel` frame: the answer ends with `stream.end`, status `cancelled`.',
      params: CancelParams,
      response: {
        204: noContent('Cancelled'),
        ...errorReplies({
          400: true,
          401: true,
          404: 'NOT_FOUND: no such conversation, the user is not in it, or no such answer is running'
        })
      }
    }
  }, async (request, reply) => {
    await services.manager.cancel(services.auth.user(request), request.params.id, request.params.messageId)
    return await reply.code(204).send()
  })
}
