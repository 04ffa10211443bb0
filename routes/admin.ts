import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { CLOSE_POLICY } from '../lib/connection.ts'
import type { ChatServices } from '../lib/services.ts'
import { ConversationParams, ListConversationsQuery, type ConversationParams as Params, type ListConversationsQuery as ListQuery } from '../lib/schemas/rest.ts'

const UserParams = Type.Object({ userId: Type.String({ minLength: 1, maxLength: 128 }) })
const AuditQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  before: Type.Optional(Type.String({ maxLength: 128 }))
})

/** /admin/*: only for users with the admin role (403 for anyone else). Every action is audited. */
export default async function adminRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const { manager, auth, storage, connections, channels } = services
  fastify.addHook('onRequest', auth.requireAdmin)

  fastify.get<{ Querystring: ListQuery }>('/conversations', { schema: { querystring: ListConversationsQuery } }, async (request) => {
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

  fastify.get('/connections', async () => ({ items: connections.list(), total: connections.size }))

  fastify.post<{ Params: Params }>('/conversations/:id/close', { schema: { params: ConversationParams } }, async (request) => {
    return await manager.close(auth.user(request), request.params.id)
  })

  fastify.delete<{ Params: Params }>('/conversations/:id', { schema: { params: ConversationParams } }, async (request, reply) => {
    await manager.delete(auth.user(request), request.params.id)
    return await reply.code(204).send()
  })

  fastify.post<{ Params: Static<typeof UserParams> }>('/users/:userId/disconnect', { schema: { params: UserParams } }, async (request) => {
    const closed = connections.disconnectUser(request.params.userId, CLOSE_POLICY, 'disconnected by an admin')
    await manager.audit(auth.user(request), 'user.disconnect', request.params.userId, { sockets: closed })
    return { userId: request.params.userId, closed }
  })

  fastify.get<{ Querystring: Static<typeof AuditQuery> }>('/audit', { schema: { querystring: AuditQuery } }, async (request) => {
    return { items: await storage.listAudit({ limit: request.query.limit ?? 100, before: request.query.before }) }
  })
}
