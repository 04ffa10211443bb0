import type { FastifyInstance } from 'fastify'
import type { ChatServices } from '../lib/services.ts'
import {
  AddParticipantBody, ConversationParams, Participant, ParticipantParams, errorReplies, noContent, response
} from '../lib/schemas/rest.ts'
import type { TypeBoxTypeProvider } from '../lib/schemas/type-provider.ts'

const tags = ['participants']

export default async function participantRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const { manager, auth } = services
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.post('/conversations/:id/participants', {
    schema: {
      tags,
      operationId: 'addParticipant',
      summary: 'Add a participant',
      description: 'Any participant may add one. An AI participant\'s id adds that AI. The joining is stored as a ' +
        '`system` message; the added user\'s open sockets are told.',
      params: ConversationParams,
      body: AddParticipantBody,
      response: {
        201: response(Participant, 'The participant added'),
        ...errorReplies({
          400: true,
          401: true,
          403: 'FORBIDDEN: the conversation is closed',
          404: 'NOT_FOUND: no such conversation, or the caller is not in it',
          409: 'CONFLICT: already a participant',
          429: 'PARTICIPANT_LIMIT: the conversation already has limits.maxParticipants'
        })
      }
    }
  }, async (request, reply) => {
    const participant = await manager.addParticipant(auth.user(request), request.params.id, request.body)
    return await reply.code(201).send(participant)
  })

  app.delete('/conversations/:id/participants/:userId', {
    schema: {
      tags,
      operationId: 'removeParticipant',
      summary: 'Remove a participant',
      description: 'By the participant themself (leaving), the owner or an admin. Stored as a `system` message; ' +
        'the removed user\'s sockets joined to it get `left`.',
      params: ParticipantParams,
      response: {
        204: noContent('Removed'),
        ...errorReplies({
          400: true,
          401: true,
          403: 'FORBIDDEN: the caller is not that participant, the owner or an admin',
          404: 'NOT_FOUND: no such conversation for the caller, or no such participant in it'
        })
      }
    }
  }, async (request, reply) => {
    await manager.removeParticipant(auth.user(request), request.params.id, request.params.userId)
    return await reply.code(204).send()
  })
}
