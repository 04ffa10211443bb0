import type {} from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import type { ChatServices } from '../lib/services.ts'
import { errorReplies, noContent } from '../lib/schemas/rest.ts'

/** GET /ws: the host's auth already ran (no user, no upgrade); the socket becomes a ChatConnection. */
export default async function wsRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  fastify.get('/ws', {
    websocket: true,
    schema: {
      tags: ['websocket'],
      operationId: 'connect',
      summary: 'Open the chat WebSocket',
      description: 'Upgrades to a WebSocket (send `Connection: Upgrade`, `Upgrade: websocket`). One socket serves ' +
        'any number of conversations; every frame is one JSON text frame, the first one `ready`. The frames, ' +
        'errors and close codes are in docs/protocol.md ("WebSocket"). The upgrade request passes the host\'s ' +
        'auth hook like any other chat route: no user, no upgrade.',
      response: {
        101: noContent('Switching Protocols: the socket is open; frames follow docs/protocol.md'),
        ...errorReplies({ 401: 'No user: the host\'s auth hook refused the upgrade, or left no user (UNAUTHORIZED)' })
      }
    }
  }, (socket, request) => {
    services.connect(socket, services.auth.user(request), request.ip)
  })
}
