import type {} from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import type { ChatServices } from '../lib/services.ts'

/** GET /ws: the host's auth already ran (no user, no upgrade); the socket becomes a ChatConnection. */
export default async function wsRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  fastify.get('/ws', { websocket: true }, (socket, request) => {
    services.connect(socket, services.auth.user(request))
  })
}
