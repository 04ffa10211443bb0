import type { FastifyInstance } from 'fastify'
import { CLOSE_POLICY } from '../lib/connection.ts'
import type { ChatServices } from '../lib/services.ts'
import {
  AdminConversationList, AuditList, AuditQuery, ConnectionList, Conversation, ConversationParams, DisconnectReply,
  ListConversationsQuery, UserParams, errorReplies, noContent, response
} from '../lib/schemas/rest.ts'
import type { TypeBoxTypeProvider } from '../lib/schemas/type-provider.ts'

const tags = ['admin']
// Every admin route: 401 without a user, 403 without the admin role (checked before anything else).
const DENIED = errorReplies({ 401: true, 403: 'FORBIDDEN: the user lacks the admin role' })
const NOT_FOUND = 'NOT_FOUND: no such conversation'

/** /admin/*: only for users with the admin role (403 for anyone else). Every action is audited. */
export default async function adminRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const { manager, auth, storage, connections, channels } = services
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.addHook('onRequest', auth.requireAdmin)

  app.get('/conversations', {
    schema: {
      tags,
      operationId: 'adminListConversations',
      summary: 'List every conversation, with stats',
      description: 'Newest first, paged with `cursor`.',
      querystring: ListConversationsQuery,
      response: {
        200: response(AdminConversationList, 'One page of all conversations'),
        ...errorReplies({ 400: true }),
        ...DENIED
      }
    }
  }, async (request) => {
    const page = await manager.list(undefined, { limit: request.query.limit ?? 50, cursor: request.query.cursor })
    return {
      items: page.items.map((c) => ({
        ...c,
        stats: {
          messages: c.lastSeq,
          participants: c.participants.length,
          online: c.participants.filter((p) => p.online).length,
          subscribers: channels.peek(c.id)?.subscribers.size ?? 0
        }
      })),
      nextCursor: page.nextCursor
    }
  })

  app.get('/connections', {
    schema: {
      tags,
      operationId: 'adminListConnections',
      summary: 'List the open sockets of this process',
      response: { 200: response(ConnectionList, 'Every open socket'), ...DENIED }
    }
  }, async () => ({ items: connections.list(), total: connections.size }))

  app.post('/conversations/:id/close', {
    schema: {
      tags,
      operationId: 'adminCloseConversation',
      summary: 'Close a conversation',
      description: 'Sets `closedAt`. After that, sends are refused with FORBIDDEN; reading still works.',
      params: ConversationParams,
      response: {
        200: response(Conversation, 'The closed conversation'),
        ...errorReplies({ 400: true, 404: NOT_FOUND }),
        ...DENIED
      }
    }
  }, async (request) => {
    return await manager.close(auth.user(request), request.params.id)
  })

  app.delete('/conversations/:id', {
    schema: {
      tags,
      operationId: 'adminDeleteConversation',
      summary: 'Delete any conversation',
      description: 'Removes it with its messages; joined sockets get `left`.',
      params: ConversationParams,
      response: {
        204: noContent('Deleted'),
        ...errorReplies({ 400: true, 404: NOT_FOUND }),
        ...DENIED
      }
    }
  }, async (request, reply) => {
    await manager.delete(auth.user(request), request.params.id)
    return await reply.code(204).send()
  })

  app.post('/users/:userId/disconnect', {
    schema: {
      tags,
      operationId: 'adminDisconnectUser',
      summary: 'Close every socket of a user',
      description: 'With close code 1008 (policy). A user with no socket is not an error: `closed` is 0.',
      params: UserParams,
      response: {
        200: response(DisconnectReply, 'How many sockets were closed'),
        ...errorReplies({ 400: true }),
        ...DENIED
      }
    }
  }, async (request) => {
    const closed = connections.disconnectUser(request.params.userId, CLOSE_POLICY, 'disconnected by an admin')
    await manager.audit(auth.user(request), 'user.disconnect', request.params.userId, { sockets: closed })
    return { userId: request.params.userId, closed }
  })

  app.get('/audit', {
    schema: {
      tags,
      operationId: 'adminAudit',
      summary: 'Read the audit log',
      description: 'Admin actions, deletions by owners and removals of others, newest first; page with `before`.',
      querystring: AuditQuery,
      response: {
        200: response(AuditList, 'One page of the audit log'),
        ...errorReplies({ 400: true }),
        ...DENIED
      }
    }
  }, async (request) => {
    return { items: await storage.listAudit({ limit: request.query.limit ?? 100, before: request.query.before }) }
  })
}
