import type { Static, TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FastifyBaseLogger } from 'fastify'
import { CLOSE_POLICY } from './connection.ts'
import { CHAT_ERR_BAD_REQUEST, CHAT_ERR_FORBIDDEN } from './errors.ts'
import { checkHealth } from './health.ts'
import type { ResolvedOptions } from './options.ts'
import type { ChatUser, Conversation, Message, Participant } from './schemas/entities.ts'
import {
  AddParticipantBody, ConversationParams, CreateConversationBody, ListConversationsQuery, ListMessagesQuery,
  ParticipantParams, PostMessageBody, SearchMessagesQuery, UserParams,
  type ConversationList, type HealthReply, type MessageList, type MessageSearchPage
} from './schemas/rest.ts'
import type { ChatServices } from './services.ts'

/** The resolved options, read-only down to their groups (`limits`, `rateLimit`, `cache`...). */
export type ChatApiOptions = { readonly [K in keyof ResolvedOptions]: ReadonlyGroup<ResolvedOptions[K]> }
type ReadonlyGroup<T> = T extends (...args: never[]) => unknown ? T : T extends object ? Readonly<T> : T

/** What `postMessage` stored: the message, or for a repeated `clientMessageId` the first one (`created: false`). */
export interface PostedMessage {
  message: Message
  created: boolean
}

/**
 * `app.chat`: what a host does with the chat from its own code (a job, a webhook, an admin tool). Each verb
 * acts as `user` would over REST, through the same services and rules: membership, limits, rate limits,
 * dedupe, ordering, delivery to sockets and to the other instances. Inputs are checked against the REST
 * schemas; errors are the plugin's (`CHAT_ERR_*`, with `statusCode`), as the REST routes would answer them.
 */
export interface ChatApi {
  /** The options in force (explicit, then the host config's `chat`, then defaults), checked. Read-only. */
  readonly options: ChatApiOptions
  /** POST /conversations: `user` becomes the owner; the others are told on their sockets. */
  createConversation (user: ChatUser, body?: CreateConversationBody): Promise<Conversation>
  /** GET /conversations/:id: NOT_FOUND unless `user` takes part in it. */
  getConversation (user: ChatUser, conversationId: string): Promise<Conversation>
  /** GET /conversations: the user's conversations, newest first, paged with `nextCursor`. */
  listConversations (user: ChatUser, query?: ListConversationsQuery): Promise<ConversationList>
  /** DELETE /conversations/:id: its owner or an admin only. */
  deleteConversation (user: ChatUser, conversationId: string): Promise<void>
  /**
   * POST /conversations/:id/messages: stored with the next seq, then delivered to every joined socket (and
   * the AI, and the other instances). A repeated `clientMessageId` of the same user stores nothing and
   * returns the first message with `created: false`, over the rate limit too.
   */
  postMessage (user: ChatUser, conversationId: string, body: PostMessageBody): Promise<PostedMessage>
  /**
   * GET /conversations/:id/messages: ascending seq; `after`, `before` and `limit` as over REST (and with `q`,
   * a search, as `searchMessages`).
   */
  listMessages (user: ChatUser, conversationId: string, query?: ListMessagesQuery): Promise<MessageList>
  /**
   * GET /conversations/:id/messages?q=: the messages holding any of the words of `q`, best match first, a page
   * of `limit` (50 by default) with `nextCursor` for the next. NOT_IMPLEMENTED when the storage cannot search.
   */
  searchMessages (user: ChatUser, conversationId: string, query: SearchMessagesQuery): Promise<MessageSearchPage>
  /** POST /conversations/:id/participants: any participant may add one; an AI's id adds that AI. */
  addParticipant (user: ChatUser, conversationId: string, body: AddParticipantBody): Promise<Participant>
  /** DELETE /conversations/:id/participants/:userId: the participant themself, the owner or an admin. */
  removeParticipant (user: ChatUser, conversationId: string, userId: string): Promise<void>
  /**
   * Closes every socket of `userId` open on this process (default code 1008, as the admin route); returns how
   * many there were. Their clients may reconnect: refuse them in the host's auth hook to keep them out.
   */
  disconnect (userId: string, code?: number, reason?: string): number
  /** GET /health's body: storage ping, fan-out link, open sockets, cached and live conversations. */
  health (): Promise<HealthReply>
}

const DISCONNECT_REASON = 'disconnected by the host'

/** A check compiled once; throws CHAT_ERR_BAD_REQUEST naming the verb and the field. */
function checker<T extends TSchema> (schema: T, verb: string): (value: unknown) => Static<T> {
  const compiled = TypeCompiler.Compile(schema)
  return (value) => {
    if (compiled.Check(value)) return value
    const first = compiled.Errors(value).First()
    const field = first === undefined ? '' : first.path.replace(/^\//, '').replaceAll('/', '.')
    throw new CHAT_ERR_BAD_REQUEST(`${verb}: ${field === '' ? 'input' : `"${field}"`} ${first?.message.toLowerCase() ?? 'is invalid'}`)
  }
}

const checks = {
  conversation: checker(ConversationParams, 'conversation'),
  participant: checker(ParticipantParams, 'participant'),
  user: checker(UserParams, 'disconnect'),
  create: checker(CreateConversationBody, 'createConversation'),
  listConversations: checker(ListConversationsQuery, 'listConversations'),
  post: checker(PostMessageBody, 'postMessage'),
  listMessages: checker(ListMessagesQuery, 'listMessages'),
  searchMessages: checker(SearchMessagesQuery, 'searchMessages'),
  add: checker(AddParticipantBody, 'addParticipant')
}

/** The acting user as the host's auth would have left it: an id, a name, roles. */
function actor (user: ChatUser, services: Pick<ChatServices, 'auth'>): ChatUser {
  const ok = typeof user === 'object' && user !== null &&
    typeof user.id === 'string' && user.id.length > 0 && typeof user.name === 'string' &&
    Array.isArray(user.roles) && user.roles.every((r) => typeof r === 'string')
  if (!ok) throw new CHAT_ERR_BAD_REQUEST('user: must be { id: non-empty string, name: string, roles: string[] }')
  // As over HTTP: nobody acts under an AI participant's id or `system`'s.
  if (services.auth.isReserved(user.id)) throw new CHAT_ERR_FORBIDDEN(`the user id "${user.id}" is reserved for the chat's own participants`)
  return user
}

/** What the `ws` library lets a server close with: 1000-1003, 1007-1014, or an application code 3000-4999. */
function closeCode (code: number): number {
  const ok = Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999))
  if (!ok) throw new CHAT_ERR_BAD_REQUEST(`disconnect: ${code} is not a close code a server may send`)
  return code
}

/** `app.chat`, on the services the routes use; nothing of them leaks out. */
export function createChatApi (services: ChatServices, log: FastifyBaseLogger): ChatApi {
  const { manager, connections } = services

  return {
    options: services.options,

    async createConversation (user, body = {}) {
      return await manager.create(actor(user, services), checks.create(body))
    },

    async getConversation (user, conversationId) {
      return await manager.get(actor(user, services), checks.conversation({ id: conversationId }).id)
    },

    async listConversations (user, query = {}) {
      const { limit, cursor } = checks.listConversations(query)
      return await manager.list(actor(user, services), { limit: limit ?? 50, cursor })
    },

    async deleteConversation (user, conversationId) {
      await manager.delete(actor(user, services), checks.conversation({ id: conversationId }).id)
    },

    async postMessage (user, conversationId, body) {
      const { id } = checks.conversation({ id: conversationId })
      const { message, created } = await manager.send(actor(user, services), { ...checks.post(body), conversationId: id })
      return { message, created }
    },

    async listMessages (user, conversationId, query = {}) {
      const { id } = checks.conversation({ id: conversationId })
      const checked = checks.listMessages(query)
      return await manager.history(actor(user, services), id, { ...checked, limit: checked.limit ?? 50 })
    },

    async searchMessages (user, conversationId, query) {
      const { id } = checks.conversation({ id: conversationId })
      const { q, limit, cursor } = checks.searchMessages(query)
      return await manager.search(actor(user, services), id, { q, limit: limit ?? 50, cursor })
    },

    async addParticipant (user, conversationId, body) {
      const { id } = checks.conversation({ id: conversationId })
      return await manager.addParticipant(actor(user, services), id, checks.add(body))
    },

    async removeParticipant (user, conversationId, userId) {
      const { id } = checks.participant({ id: conversationId, userId })
      await manager.removeParticipant(actor(user, services), id, userId)
    },

    disconnect (userId, code = CLOSE_POLICY, reason = DISCONNECT_REASON) {
      checks.user({ userId })
      if (Buffer.byteLength(reason) > 123) throw new CHAT_ERR_BAD_REQUEST('disconnect: the reason is longer than 123 bytes')
      return connections.disconnectUser(userId, closeCode(code), reason)
    },

    async health () {
      return await checkHealth(services, log)
    }
  }
}
