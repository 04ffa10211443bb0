import type { FastifyInstance } from 'fastify'
import type { ChatServices } from '../lib/services.ts'
import {
  ConversationParams, ListMessagesQuery, PostMessageBody,
  type ConversationParams as Params, type ListMessagesQuery as ListQuery, type PostMessageBody as PostBody
} from '../lib/schemas/rest.ts'

export default async function messageRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const { manager, auth } = services

  fastify.get<{ Params: Params, Querystring: ListQuery }>('/conversations/:id/messages', {
    schema: { params: ConversationParams, querystring: ListMessagesQuery }
  }, async (request) => {
    const { after, before, limit } = request.query
    return { items: await manager.messages(auth.user(request), request.params.id, { after, before, limit: limit ?? 50 }) }
  })

  // Same dedupe as the socket's `send`: a repeat answers with the first message.
  // Room for the largest allowed content however JSON escapes it (\uXXXX is 6 bytes a byte), plus metadata.
  const bodyLimit = Math.max(1024 * 1024, services.options.limits.maxMessageBytes * 6 + 64 * 1024)
  fastify.post<{ Params: Params, Body: PostBody }>('/conversations/:id/messages', {
    bodyLimit,
    schema: { params: ConversationParams, body: PostMessageBody }
  }, async (request, reply) => {
    const { message, created } = await manager.send(auth.user(request), { ...request.body, conversationId: request.params.id })
    if (!created) reply.header('idempotent-replayed', 'true')
    return await reply.code(201).send(message)
  })
}
