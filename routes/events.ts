import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { EVENT_STREAM_HEADERS } from '../lib/event-stream.ts'
import type { ChatServices } from '../lib/services.ts'
import { errorReplies } from '../lib/schemas/rest.ts'
import type { TypeBoxTypeProvider } from '../lib/schemas/type-provider.ts'

const EventsQuery = Type.Object({
  conversationId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'The conversation to carry; without it, the stream carries `ready` and the user\'s notices only' })),
  since: Type.Optional(Type.Integer({ minimum: 0, description: 'As `join`\'s `since`: every message with seq > since, then live (`Last-Event-ID` wins over it)' }))
})

const EventsHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'The id of the last event seen (a seq): the stream resumes after it' }))
})

/** GET /events: the socket's frames as server-sent events, for one conversation (docs/protocol.md, extension 25). */
export default async function eventRoutes (fastify: FastifyInstance, { services }: { services: ChatServices }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get('/events', {
    schema: {
      tags: ['websocket'],
      operationId: 'events',
      summary: 'Open an event stream (the fallback when WebSockets are blocked)',
      description: 'A `text/event-stream` with the socket\'s frames, one JSON frame per `data:` line: `ready`, then ' +
        '(with `conversationId`) `joined` and that conversation\'s live frames, as a socket joined with `since`. ' +
        'Events that carry a message have `id: <seq>`; a client resumes with `Last-Event-ID`. A comment line every ' +
        '`heartbeatMs`; `event: close` with the close code before the server ends it. Send, typing and cancel go ' +
        'over REST. See docs/protocol.md, extension 25.',
      querystring: EventsQuery,
      headers: EventsHeaders,
      response: {
        200: {
          description: 'The stream of events',
          content: { 'text/event-stream': { schema: { type: 'string' } } }
        },
        ...errorReplies({
          400: true,
          401: true,
          404: 'NOT_FOUND: no such conversation, or the user is not in it',
          429: 'RATE_LIMITED: over the join budget (rateLimit.joins); `retry-after` says when to come back'
        })
      }
    }
  }, async (request, reply) => {
    const last = request.headers['last-event-id']
    const { conversationId, since } = request.query
    const stream = await services.events.open(reply.raw, services.auth.user(request), {
      conversationId,
      since: last === undefined ? since : Number(last)
    }, request.ip)
    return await reply.code(200).headers(EVENT_STREAM_HEADERS).send(stream.body)
  })
}
