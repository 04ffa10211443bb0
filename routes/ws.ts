import type {} from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import { type IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import type { ChatServices } from '../lib/services.ts'
import { errorReplies, noContent } from '../lib/schemas/rest.ts'

/**
 * GET /ws: the host's auth already ran (no user, no upgrade); the socket becomes a ChatConnection.
 * `ownWebsocket`: the chat registered @fastify/websocket itself (with its errorHandler), so the socket's errors
 * may go to the ChatConnection alone (see release()).
 */
export default async function wsRoutes (fastify: FastifyInstance, { services, ownWebsocket }: { services: ChatServices, ownWebsocket: boolean }): Promise<void> {
  // The upgrade's 101 response and `ready` leave in one write, so a connect costs the server one send and the
  // client one wake-up, not two: `ws` writes the response just after its 'headers' event, then runs the handler
  // below (which writes `ready`) in the same tick; the TCP stream is corked from that event to the end of the tick.
  // Only this route's upgrades (a host's own WebSocket routes on the same server are left as they are), and only
  // on a network socket (TCP, or TLS over it): `injectWS` reads the first chunk it gets as the response alone,
  // and would lose `ready` after it.
  const upgrades = new WeakSet<IncomingMessage>()
  fastify.websocketServer.on('headers', (_headers: string[], req: IncomingMessage) => {
    const tcp = req.socket
    if (!upgrades.delete(req) || !(tcp instanceof Socket)) return
    tcp.cork()
    process.nextTick(() => { tcp.uncork() })
  })

  fastify.get('/ws', {
    websocket: true,
    onRequest: (request, _reply, done) => {
      upgrades.add(request.raw)
      done()
    },
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
    const upgradeListener = ownWebsocket ? socket.listeners('error').at(-1) : undefined
    services.connect(socket, services.auth.user(request), request.ip)
    release(socket, upgradeListener)
  })
}

/**
 * Lets the upgrade's request and reply go once the socket is a ChatConnection: left as they are, every open
 * socket keeps them (their headers, the URL with its token, Fastify's and Node's objects: about 3 KB) until it
 * closes. Two things hold them: the TCP stream (the one `ws` runs on: none for a socket of `injectWS`) still
 * points at the response Node made for the upgrade, and @fastify/websocket's 'error' listener is a closure over
 * both. That listener is let go only when the chat registered @fastify/websocket itself (`upgradeListener`
 * given): the ChatConnection's own 'error' listener handles errors as the chat's errorHandler (lib/index.ts)
 * does; a host's own registration keeps its listener, so the host's errorHandler still sees the chat's sockets.
 */
function release (socket: WebSocket, upgradeListener: Function | undefined): void {
  const tcp = (socket as unknown as { _socket?: { _httpMessage?: unknown } })._socket
  if (tcp !== undefined && tcp !== null && tcp._httpMessage instanceof ServerResponse) tcp._httpMessage.detachSocket(tcp as never)
  if (upgradeListener !== undefined && socket.listenerCount('error') > 1) socket.removeListener('error', upgradeListener as (err: Error) => void)
}
