import type { FastifyInstance } from 'fastify'
import type { ChatServices } from '../lib/services.ts'
import {
  Conversation, ConversationList, ConversationParams, CreateConversationBody, ListConversationsQuery,
  errorReplies, noContent, response
} from '../lib/schemas/rest.ts'
import type { TypeBoxTypeProvider } from '../lib/schemas/type-provider.ts'

const tags = ['conversations']
const NOT_FOUND = 'NOT_FOUND: no such conversation, or the user is not in it'

export default async function conversationRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const { manager, auth } = services
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.post('/conversations', {
    schema: {
      tags,
      operationId: 'createConversation',
      summary: 'Create a conversation',
      description: 'The caller becomes its owner. Each participant\'s joining is stored as a `system` message ' +
        '(seq 1, 2, ...); listed users who are online are told on their sockets.',
      body: CreateConversationBody,
      response: {
        201: response(Conversation, 'The conversation, the creator listed first as owner'),
        ...errorReplies({
          400: 'BAD_REQUEST: a bad body, a title over limits.maxTitleLength, or `ai: true` with no AI participant configured',
          401: true,
          413: true,
          429: 'PARTICIPANT_LIMIT: more participants than limits.maxParticipants'
        })
      }
    }
  }, async (request, reply) => {
    const conversation = await manager.create(auth.user(request), request.body)
    return await reply.code(201).send(conversation)
  })

  app.get('/conversations', {
    schema: {
      tags,
      operationId: 'listConversations',
      summary: 'List the caller\'s conversations',
      description: 'Newest first, paged with `cursor`.',
      querystring: ListConversationsQuery,
      response: {
        200: response(ConversationList, 'One page of the conversations the caller takes part in'),
        ...errorReplies({ 400: true, 401: true })
      }
    }
  }, async (request) => {
    return await manager.list(auth.user(request), { limit: request.query.limit ?? 50, cursor: request.query.cursor })
  })

  app.get('/conversations/:id', {
    schema: {
      tags,
      operationId: 'getConversation',
      summary: 'Get a conversation',
      params: ConversationParams,
      response: {
        200: response(Conversation, 'The conversation with its participants'),
        ...errorReplies({ 400: true, 401: true, 404: NOT_FOUND })
      }
    }
  }, async (request) => {
    return await manager.get(auth.user(request), request.params.id)
  })

  app.delete('/conversations/:id', {
    schema: {
      tags,
      operationId: 'deleteConversation',
      summary: 'Delete a conversation',
      description: 'Its owner or an admin only. Removes its messages too; joined sockets get `left`.',
      params: ConversationParams,
      response: {
        204: noContent('Deleted'),
        ...errorReplies({ 400: true, 401: true, 403: 'FORBIDDEN: the caller is neither its owner nor an admin', 404: NOT_FOUND })
      }
    }
  }, async (request, reply) => {
    await manager.delete(auth.user(request), request.params.id)
    return await reply.code(204).send()
  })
}
