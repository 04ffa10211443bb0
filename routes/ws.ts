import type {} from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ServerResponse } from 'node:http'
import type { WebSocket } from 'ws'
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
    // @fastify/websocket's own 'error' listener, added just before this handler runs (see release()).
    const upgradeListener = socket.listeners('error').at(-1)
    services.connect(socket, services.auth.user(request), request.ip)
    release(socket, request, upgradeListener)
  })
}

/**
 * Lets the upgrade's request and reply go once the socket is a ChatConnection: left as they are, every open
 * socket keeps them (their headers, the URL with its token, Fastify's and Node's objects: about 3 KB) until it
 * closes. Two things hold them: the TCP socket still points at the response Node made for the upgrade, and
 * @fastify/websocket's 'error' listener is a closure over both. The ChatConnection has its own 'error' listener,
 * which handles errors as the chat's websocket errorHandler (lib/index.ts) does.
 */
function release (socket: WebSocket, request: FastifyRequest, upgradeListener: Function | undefined): void {
  const tcp = request.raw.socket as (typeof request.raw.socket & { _httpMessage?: unknown }) | null
  if (tcp !== null && tcp._httpMessage instanceof ServerResponse) tcp._httpMessage.detachSocket(tcp)
  if (upgradeListener !== undefined && socket.listenerCount('error') > 1) socket.removeListener('error', upgradeListener as (err: Error) => void)
}
