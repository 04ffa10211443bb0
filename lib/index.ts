import rateLimit from '@fastify/rate-limit'
import websocket from '@fastify/websocket'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { STATUS_CODES } from 'node:http'
import adminRoutes from '../routes/admin.ts'
import cancelRoutes from '../routes/cancel.ts'
import conversationRoutes from '../routes/conversations.ts'
import eventRoutes from '../routes/events.ts'
import healthRoutes from '../routes/health.ts'
import messageRoutes from '../routes/messages.ts'
import participantRoutes from '../routes/participants.ts'
import typingRoutes from '../routes/typing.ts'
import wsRoutes from '../routes/ws.ts'
import { createChatApi, type ChatApi } from './api.ts'
import { auditRefusals } from './audit.ts'
import { socketErrorIsFatal } from './connection.ts'
import { CHAT_ERR_BAD_REQUEST, CHAT_ERR_INVALID_OPTS, CHAT_ERR_MISSING_DECORATOR, CHAT_ERR_RATE_LIMITED, toPublicError, withRetryAfter } from './errors.ts'
import type { ChatMetrics } from './metrics.ts'
import { resolveOptions, type ChatPluginOptions, type ResolvedOptions } from './options.ts'
import { NLWebParticipant, type AskHandler } from './participants/nlweb.ts'
import type { AgentParticipant } from './participants/participant.ts'
import { createChatServices } from './services.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The chat for the host's own code: create, read and delete conversations, post and list messages, add
     * and remove participants as a given user, with the rules and delivery of REST; disconnect a user's
     * sockets; the options in force; health. See ChatApi (lib/api.ts).
     */
    chat: ChatApi
  }
}

export interface ChatOptions extends ChatPluginOptions {
  /** AI participants (see NLWebParticipant); the first one joins conversations created with `ai: true`. */
  agents?: AgentParticipant[]
}

function hostConfig (fastify: FastifyInstance, name: string): unknown {
  if (!fastify.hasDecorator(name)) return undefined
  const config = fastify.getDecorator<unknown>(name)
  return typeof config === 'object' && config !== null ? (config as Record<string, unknown>).chat : undefined
}

function hostAuth (fastify: FastifyInstance, name: string): onRequestHookHandler {
  if (!fastify.hasDecorator(name)) {
    throw new CHAT_ERR_MISSING_DECORATOR(name, 'the host\'s auth hook; name it with the "auth" option')
  }
  const hook = fastify.getDecorator<unknown>(name)
  if (typeof hook !== 'function') throw new CHAT_ERR_INVALID_OPTS(`"auth": the host decorator "${name}" is not a function`)
  return hook as onRequestHookHandler
}

/** The host's ask handler, given by reference or by the name of the decorator holding it; never altered. */
function askHandler (fastify: FastifyInstance, handler: AskHandler | string): AskHandler {
  if (typeof handler === 'function') return handler
  if (!fastify.hasDecorator(handler)) {
    throw new CHAT_ERR_MISSING_DECORATOR(handler, 'the host\'s ask handler, named by "ai.handler"')
  }
  const found = fastify.getDecorator<unknown>(handler)
  if (typeof found !== 'function') throw new CHAT_ERR_INVALID_OPTS(`"ai.handler": the host decorator "${handler}" is not a function`)
  // Called with the host instance as `this`, the way a decorator method expects.
  return (found as AskHandler).bind(fastify)
}

/**
 * Every error on a chat route is rendered as { statusCode, code, error, message[, retryAfterMs] }, with the
 * protocol's codes. The host's onError hooks (error trackers) see the error first, as on its own routes.
 */
function errorHandlerFor (metrics: ChatMetrics) {
  return function errorHandler (err: FastifyError & { retryAfterMs?: number }, request: FastifyRequest, reply: FastifyReply): void {
    const pub = toPublicError(err) // schema failures arrive as FST_ERR_VALIDATION (400)
    metrics.errors.inc({ code: pub.code, transport: 'rest' })
    // A refusal is the client's doing: counted in metrics, logged at debug so that no client can flood the log.
    if (pub.status >= 500 && pub.code !== 'UNAVAILABLE') request.log.error({ err }, 'chat request failed')
    else if (pub.status >= 500) request.log.warn({ code: pub.code, reason: pub.message }, 'chat request refused: a dependency is unavailable')
    else request.log.debug({ code: pub.code, reason: pub.message }, 'chat request rejected')
    const body: Record<string, unknown> = { statusCode: pub.status, code: pub.code, error: STATUS_CODES[pub.status] ?? 'Error', message: pub.message }
    // Every 429 and 503 says when to come back; limits that are not about time say "in a second". A
    // `retry-after` set already (the host's hook, @fastify/rate-limit) is kept.
    if (pub.status === 429 || pub.retryAfterMs !== undefined) {
      const given = Number(reply.getHeader('retry-after'))
      if (reply.hasHeader('retry-after') && Number.isFinite(given) && given >= 0) {
        body.retryAfterMs = given * 1000 // the body agrees with the header the host set
      } else {
        const ms = pub.retryAfterMs ?? 1000
        body.retryAfterMs = ms
        reply.header('retry-after', Math.max(1, Math.ceil(ms / 1000)))
      }
    }
    void reply.code(pub.status).send(body)
  }
}

/**
 * Fastify's validator turns a query number such as `1e309` into Infinity and lets it past `maximum`: no chat
 * query takes a number that is not finite.
 */
async function finiteQuery (request: FastifyRequest): Promise<void> {
  const query = request.query
  if (typeof query !== 'object' || query === null) return
  for (const [key, value] of Object.entries(query)) {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new CHAT_ERR_BAD_REQUEST(`querystring/${key} must be a finite number`)
  }
}

/** The Redis fan-out's channel, which prefixes every key the chat keeps in Redis. */
function redisChannel (options: ResolvedOptions): string {
  const fanout = options.fanout
  const channel = typeof fanout === 'object' && 'channel' in fanout ? fanout.channel : undefined
  return typeof channel === 'string' ? channel : 'fastify-nlweb-chat'
}

async function chat (fastify: FastifyInstance, opts: ChatOptions): Promise<void> {
  const { agents: given = [], ...rest } = opts
  const agents = [...given]
  const options = resolveOptions(rest, hostConfig(fastify, rest.config ?? 'config'))
  const authenticate = hostAuth(fastify, options.auth)
  if (options.ai !== undefined) {
    const { handler, ...ai } = options.ai
    agents.unshift(new NLWebParticipant({ ...ai, handler: askHandler(fastify, handler) }))
  }
  const ids = new Set<string>()
  for (const agent of agents) {
    if (ids.has(agent.id)) throw new CHAT_ERR_INVALID_OPTS(`two AI participants share the id "${agent.id}"`)
    ids.add(agent.id)
  }
  const services = await createChatServices(options, fastify.log, agents)
  fastify.decorate('chat', createChatApi(services, fastify.log))

  // Before @fastify/websocket's own preClose: frames received are finished, AI answers end, then clients
  // hear 1001 rather than a bare close.
  fastify.addHook('preClose', async () => {
    await services.drain()
  })

  const ownWebsocket = !fastify.hasDecorator('websocketServer')
  if (ownWebsocket) {
    await fastify.register(websocket, {
      options: { maxPayload: options.limits.maxFrameBytes },
      // A socket's errors as socketErrorIsFatal (lib/connection.ts) tells: protocol errors closed by `ws` with
      // their code, anything else terminated. Once /chat/ws made a socket a ChatConnection, its errors go to the connection, which handles them the
      // same way (routes/ws.ts lets @fastify/websocket's listener go, so that the socket does not keep its upgrade
      // request). A host's own registration keeps its listener: its errorHandler sees the chat's sockets too.
      errorHandler (error, socket, request) {
        if (socketErrorIsFatal(error, request.log)) socket.terminate()
      }
    })
  }

  await fastify.register(async function chatRoutes (instance) {
    instance.setErrorHandler(errorHandlerFor(services.metrics))
    const refusals = auditRefusals(services.audit, services.auth.peek)
    instance.addHook('onRequest', refusals.onRequest)
    instance.addHook('onResponse', refusals.onResponse)
    if (options.publicHealth) await instance.register(healthRoutes, { services })
    await instance.register(async function authenticated (scope) {
      scope.addHook('onRequest', authenticate)
      scope.addHook('onRequest', services.auth.requireUser)
      scope.addHook('preHandler', finiteQuery)
      // REST limits per user (after the auth hooks, so the user is known), in Redis when the fan-out is.
      const { rest: restRate } = options.rateLimit
      if (restRate.max > 0) {
        await scope.register(rateLimit, {
          max: restRate.max,
          timeWindow: restRate.windowMs,
          keyGenerator: (request) => `chat:${services.auth.peek(request)?.id ?? request.ip ?? 'unknown'}`,
          // In the fan-out's Redis, under its channel (deployments sharing a Redis keep apart). If the store
          // fails, requests go through unlimited rather than failing: the per-action budgets still hold.
          ...(services.fanout.redis === undefined ? {} : { redis: services.fanout.redis, nameSpace: `${redisChannel(options)}:rest:` }),
          skipOnError: true,
          errorResponseBuilder: (request, context) =>
            withRetryAfter(new CHAT_ERR_RATE_LIMITED(`requests (${context.max} per ${context.after})`), context.ttl)
        })
      }
      if (!options.publicHealth) await scope.register(healthRoutes, { services })
      await scope.register(wsRoutes, { services, ownWebsocket })
      await scope.register(eventRoutes, { services })
      await scope.register(conversationRoutes, { services })
      await scope.register(messageRoutes, { services })
      await scope.register(participantRoutes, { services })
      await scope.register(typingRoutes, { services })
      await scope.register(cancelRoutes, { services })
      await scope.register(adminRoutes, { services, prefix: '/admin' })
    })
  }, { prefix: options.prefix })

  fastify.addHook('onClose', async () => {
    await services.close()
  })
}

export const fastifyNlwebChat = fp(chat, { name: 'fastify-nlweb-chat', fastify: '5.x' })
export default fastifyNlwebChat

export { resolveOptions, ChatOptionsSchema } from './options.ts'
export type { ChatPluginOptions, ResolvedOptions } from './options.ts'
export * from './errors.ts'
export type { ChatApi, ChatApiOptions, PostedMessage } from './api.ts'
export type { ChatStorage } from './storage/types.ts'
export { createMemoryStorage } from './storage/memory.ts'
export type { AgentApi, AgentParticipant } from './participants/participant.ts'
export { NLWebParticipant, defaultAnswerRule } from './participants/nlweb.ts'
export type { AskFrame, AskHandler, AskParams, AskSink, AnswerRuleInput, NLWebParticipantOptions } from './participants/nlweb.ts'
export type { AiOptions, UsersOptions } from './options.ts'
export type { ResolveUsers, UserName, UserNames } from './users.ts'
export { createStorage, loadDriver } from './storage/index.ts'
export { createRouterStorage, type RouterStorageOptions } from './storage/router.ts'
export { createQdrantStorage, type QdrantStorage, type QdrantStorageOptions } from './storage/qdrant.ts'
export { createHashedEmbedder, type Embedder } from './storage/embedding.ts'
export { createFanout, createLocalFanout } from './fanout/index.ts'
export type { Fanout, FanoutConfig, FanoutEvent, FanoutHandlers, RedisFanoutOptions } from './fanout/index.ts'
export type { TypeBoxTypeProvider } from './schemas/type-provider.ts'
export type * from './schemas/entities.ts'
export type * from './schemas/server-frames.ts'
export type { ClientFrame, ClientFrameType, JoinFrame, LeaveFrame, SendFrame, TypingFrame, CancelFrame, PingFrame } from './schemas/frames.ts'
export type {
  AddParticipantBody, ConversationList, ConversationParams, CreateConversationBody, HealthReply, ListConversationsQuery,
  ListMessagesQuery, MessageList, MessageSearchPage, ParticipantParams, PostMessageBody, SearchMessagesQuery
} from './schemas/rest.ts'
