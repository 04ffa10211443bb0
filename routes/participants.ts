import type { FastifyInstance } from 'fastify'
import type { ChatServices } from '../lib/services.ts'
import {
  AddParticipantBody, ConversationParams, ParticipantParams,
  type AddParticipantBody as AddBody, type ConversationParams as Params, type ParticipantParams as PParams
} from '../lib/schemas/rest.ts'

export default async function participantRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const { manager, auth } = services

  fastify.post<{ Params: Params, Body: AddBody }>('/conversations/:id/participants', {
    schema: { params: ConversationParams, body: AddParticipantBody }
  }, async (request, reply) => {
    const participant = await manager.addParticipant(auth.user(request), request.params.id, request.body)
    return await reply.code(201).send(participant)
  })

  fastify.delete<{ Params: PParams }>('/conversations/:id/participants/:userId', {
    schema: { params: ParticipantParams }
  }, async (request, reply) => {
    await manager.removeParticipant(auth.user(request), request.params.id, request.params.userId)
    return await reply.code(204).send()
  })
}
