import type { FastifyInstance } from 'fastify'
import type { ChatServices } from '../lib/services.ts'
import {
  ConversationParams, CreateConversationBody, ListConversationsQuery,
  type ConversationParams as Params, type CreateConversationBody as CreateBody, type ListConversationsQuery as ListQuery
} from '../lib/schemas/rest.ts'

export default async function conversationRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const { manager, auth } = services

  fastify.post<{ Body: CreateBody }>('/conversations', { schema: { body: CreateConversationBody } }, async (request, reply) => {
    const conversation = await manager.create(auth.user(request), request.body)
    return await reply.code(201).send(conversation)
  })

  fastify.get<{ Querystring: ListQuery }>('/conversations', { schema: { querystring: ListConversationsQuery } }, async (request) => {
    return await manager.list(auth.user(request), { limit: request.query.limit ?? 50, cursor: request.query.cursor })
  })

  fastify.get<{ Params: Params }>('/conversations/:id', { schema: { params: ConversationParams } }, async (request) => {
    return await manager.get(auth.user(request), request.params.id)
  })

  fastify.delete<{ Params: Params }>('/conversations/:id', { schema: { params: ConversationParams } }, async (request, reply) => {
    await manager.delete(auth.user(request), request.params.id)
    return await reply.code(204).send()
  })
}
