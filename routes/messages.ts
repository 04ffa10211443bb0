import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { ChatServices } from '../lib/services.ts'
import {
  ConversationParams, ListMessagesQuery, Message, MessageList, PostMessageBody, errorReplies, response
} from '../lib/schemas/rest.ts'
import type { TypeBoxTypeProvider } from '../lib/schemas/type-provider.ts'

const tags = ['messages']
const NOT_FOUND = 'NOT_FOUND: no such conversation, or the user is not in it'

export default async function messageRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const { manager, auth } = services
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.get('/conversations/:id/messages', {
    schema: {
      tags,
      operationId: 'listMessages',
      summary: 'Read a conversation\'s messages',
      description: 'In ascending seq. Without `after`, the newest `limit` (before `before`, when given). ' +
        'Clients page back with `before` = the lowest seq they hold, or catch up with `after` = the highest. ' +
        'Extension: with `q`, a search of the whole history instead: the messages holding any of its words, best ' +
        'match first (then newest first), `limit` a page, with `nextCursor` to pass back as `cursor`.',
      params: ConversationParams,
      querystring: ListMessagesQuery,
      response: {
        200: response(MessageList, 'The messages in the range, or with `q` a page of matches and its `nextCursor`'),
        ...errorReplies({
          400: 'BAD_REQUEST: a bad query, a blank `q`, `q` with `after` or `before`, `cursor` without `q` or not one a search gave',
          401: true,
          404: NOT_FOUND,
          501: 'NOT_IMPLEMENTED: `q` on a storage that cannot search'
        })
      }
    }
  }, async (request) => {
    return await manager.history(auth.user(request), request.params.id, { ...request.query, limit: request.query.limit ?? 50 })
  })

  // Same dedupe as the socket's `send`: a repeat answers with the first message.
  // Room for the largest allowed content however JSON escapes it (\uXXXX is 6 bytes a byte), plus metadata.
  const bodyLimit = Math.max(1024 * 1024, services.options.limits.maxMessageBytes * 6 + 64 * 1024)
  app.post('/conversations/:id/messages', {
    bodyLimit,
    schema: {
      tags,
      operationId: 'postMessage',
      summary: 'Send a message',
      description: 'Stored with the next seq, then delivered to every socket joined to the conversation (as the ' +
        'socket\'s `send`). A repeated `clientMessageId` from the same user stores nothing and returns the first ' +
        'message, also when the user is over the rate limit.',
      params: ConversationParams,
      body: PostMessageBody,
      response: {
        201: response(Message, 'The stored message (or the first one, for a repeat)', {
          'idempotent-replayed': Type.Literal('true', { description: 'Set when this was a repeat and nothing was stored' })
        }),
        ...errorReplies({
          400: 'BAD_REQUEST: a bad body, blank content or metadata nested too deep',
          401: true,
          403: 'FORBIDDEN: the conversation is closed',
          404: NOT_FOUND,
          413: true,
          429: 'RATE_LIMITED: the user sent more than rateLimit.max messages in the window; `retry-after` says when to come back'
        })
      }
    }
  }, async (request, reply) => {
    const { message, created } = await manager.send(auth.user(request), { ...request.body, conversationId: request.params.id })
    if (!created) reply.header('idempotent-replayed', 'true')
    return await reply.code(201).send(message)
  })
}
