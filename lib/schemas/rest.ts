import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox'
import { Conversation, Message, Metadata, Participant } from './entities.ts'

/**
 * REST bodies, params, queries and replies (docs/protocol.md, "REST"). The routes validate, serialize and
 * document (OpenAPI, through @fastify/swagger) with these, and their handlers get their types from them.
 */

const id = (description?: string) => Type.String({ minLength: 1, maxLength: 128, description })
const Id = id()
const NextCursor = Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null on the last page' })

// ---------------------------------------------------------------------------------------------------------
// Params, queries, bodies

export const ConversationParams = Type.Object({ id: id('Conversation id') })
export type ConversationParams = Static<typeof ConversationParams>

export const ParticipantParams = Type.Object({ id: id('Conversation id'), userId: id('Participant id') })
export type ParticipantParams = Static<typeof ParticipantParams>

export const UserParams = Type.Object({ userId: id('User id') })
export type UserParams = Static<typeof UserParams>

export const CreateConversationBody = Type.Object({
  title: Type.Optional(Type.String({ description: 'At most limits.maxTitleLength characters' })),
  participants: Type.Optional(Type.Array(Id, { maxItems: 1000, description: 'User ids to add as members (an AI participant\'s id adds the AI)' })),
  ai: Type.Optional(Type.Boolean({ description: 'Add the AI participant' })),
  metadata: Type.Optional(Metadata)
}, { additionalProperties: false })
export type CreateConversationBody = Static<typeof CreateConversationBody>

export const ListConversationsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 256, description: 'The `nextCursor` of the page before' }))
})
export type ListConversationsQuery = Static<typeof ListConversationsQuery>

/** Longest search query, in characters. */
export const MAX_SEARCH_LENGTH = 256

const MessagesLimit = Type.Integer({ minimum: 1, maximum: 500, default: 50 })
const SearchText = Type.String({
  maxLength: MAX_SEARCH_LENGTH,
  description: 'Extension: search the history for these words instead (not blank): any of them matches, best match first. ' +
    'Taken as plain words: quotes, `*`, `-`, `:`, AND, OR, NOT, NEAR are no syntax. Not with `after` or `before`'
})
const SearchCursor = Type.String({ maxLength: 256, description: 'With `q`: the `nextCursor` of the page before' })

export const ListMessagesQuery = Type.Object({
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'Only messages with seq > after (the oldest of them first)' })),
  before: Type.Optional(Type.Integer({ minimum: 1, description: 'Only messages with seq < before (without `after`: the newest of them)' })),
  limit: Type.Optional(MessagesLimit),
  q: Type.Optional(SearchText),
  cursor: Type.Optional(SearchCursor)
})
export type ListMessagesQuery = Static<typeof ListMessagesQuery>

/** `app.chat.searchMessages`'s query: the search part of ListMessagesQuery. */
export const SearchMessagesQuery = Type.Object({
  q: SearchText,
  limit: Type.Optional(MessagesLimit),
  cursor: Type.Optional(SearchCursor)
})
export type SearchMessagesQuery = Static<typeof SearchMessagesQuery>

export const PostMessageBody = Type.Object({
  clientMessageId: id('The sender\'s id for this message; a repeat returns the first message'),
  content: Type.String({ description: 'At most limits.maxMessageBytes UTF-8 bytes, not blank' }),
  metadata: Type.Optional(Metadata)
}, { additionalProperties: false })
export type PostMessageBody = Static<typeof PostMessageBody>

export const AddParticipantBody = Type.Object({
  userId: Id,
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Display name (else the host\'s, else the id)' }))
}, { additionalProperties: false })
export type AddParticipantBody = Static<typeof AddParticipantBody>

export const AuditQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  before: Type.Optional(Type.String({ maxLength: 128, description: 'The id of the oldest entry of the page before' }))
})
export type AuditQuery = Static<typeof AuditQuery>

// ---------------------------------------------------------------------------------------------------------
// Replies

export const ConversationList = Type.Object({ items: Type.Array(Conversation), nextCursor: NextCursor })
export type ConversationList = Static<typeof ConversationList>

export const MessageList = Type.Object({
  items: Type.Array(Message, { description: 'Ascending seq; with `q`, best match first' }),
  nextCursor: Type.Optional(Type.Union([Type.String(), Type.Null()], {
    description: 'With `q` only: pass as `cursor` for the next page of matches; null on the last page'
  }))
})
export type MessageList = Static<typeof MessageList>

/** A page of a history search (`q`): the matches, best first. */
export const MessageSearchPage = Type.Object({
  items: Type.Array(Message, { description: 'Best match first; equal matches newest first' }),
  nextCursor: NextCursor
})
export type MessageSearchPage = Static<typeof MessageSearchPage>

const HealthState = Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('unavailable')])
export const HealthReply = Type.Object({
  status: HealthState,
  storage: Type.Object({
    name: Type.String(),
    status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
    latencyMs: Type.Number({ description: 'Round trip of a storage ping' })
  }),
  fanout: Type.Object({
    name: Type.String({ description: '`local` (one instance) or `redis`' }),
    status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')], {
      description: 'While the link to the other instances is down, delivery goes on from storage (status `degraded`)'
    })
  }),
  connections: Type.Integer({ minimum: 0, description: 'Open sockets in this process' }),
  conversations: Type.Integer({ minimum: 0, description: 'Conversations held in this process\'s cache' }),
  liveConversations: Type.Integer({ minimum: 0, description: 'Conversations with a live channel in this process' })
})
export type HealthReply = Static<typeof HealthReply>

export const ConversationStats = Type.Object({
  messages: Type.Integer({ minimum: 0, description: 'Stored messages (= lastSeq)' }),
  participants: Type.Integer({ minimum: 0 }),
  online: Type.Integer({ minimum: 0, description: 'Participants online now' }),
  subscribers: Type.Integer({ minimum: 0, description: 'Sockets of this process joined to it' })
})
export const AdminConversation = Type.Composite([Conversation, Type.Object({ stats: ConversationStats })])
export const AdminConversationList = Type.Object({ items: Type.Array(AdminConversation), nextCursor: NextCursor })
export type AdminConversationList = Static<typeof AdminConversationList>

export const ConnectionInfo = Type.Object({
  id: Type.String({ description: 'The `connectionId` its `ready` frame carried' }),
  userId: Type.String(),
  openedAt: Type.String({ format: 'date-time' }),
  conversations: Type.Array(Type.String(), { description: 'Conversations it is joined to' })
})
export const ConnectionList = Type.Object({ items: Type.Array(ConnectionInfo), total: Type.Integer({ minimum: 0 }) })
export type ConnectionList = Static<typeof ConnectionList>

export const DisconnectReply = Type.Object({ userId: Type.String(), closed: Type.Integer({ minimum: 0, description: 'Sockets closed (code 1008)' }) })
export type DisconnectReply = Static<typeof DisconnectReply>

export const AuditEntry = Type.Object({
  id: Type.String(),
  at: Type.String({ format: 'date-time' }),
  actor: Type.String({ description: 'User id' }),
  action: Type.String({ description: 'e.g. conversation.close, conversation.delete, participant.remove, user.disconnect' }),
  target: Type.Optional(Type.String()),
  details: Type.Optional(Metadata)
})
export const AuditList = Type.Object({ items: Type.Array(AuditEntry, { description: 'Newest first' }) })
export type AuditList = Static<typeof AuditList>

/** Every error over REST, as the plugin's error handler renders it (docs/protocol.md, "Errors"). */
export const ErrorReply = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'The protocol\'s error code: BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT, TOO_LARGE, RATE_LIMITED, PARTICIPANT_LIMIT, UNAVAILABLE, NOT_IMPLEMENTED, INTERNAL' }),
  error: Type.String({ description: 'The HTTP status text' }),
  message: Type.String(),
  retryAfterMs: Type.Optional(Type.Integer({ minimum: 0, description: 'Extension: when to try again (429, 503), as `retry-after` says in seconds' }))
})
export type ErrorReply = Static<typeof ErrorReply>

// ---------------------------------------------------------------------------------------------------------
// Route response schemas

/**
 * A schema as a route's response: the same type, with what fast-json-stringify would get wrong or do slowly
 * rewritten to an equivalent. A union of string literals becomes an `enum` (no validator call per value to
 * pick a branch); a union of plain types becomes a type list; a free-form record (`metadata`) takes any
 * key, where its `^(.*)$` pattern would drop keys holding a line break.
 */
function forReply (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(forReply)
  if (typeof schema !== 'object' || schema === null) return schema
  const { anyOf, patternProperties, ...rest } = schema as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(rest)) out[key] = forReply(value)
  if (Array.isArray(anyOf)) {
    const options = anyOf as Array<Record<string, unknown>>
    if (options.length > 0 && options.every((o) => typeof o.const === 'string')) {
      return { ...out, type: 'string', enum: options.map((o) => o.const) }
    }
    if (options.length > 0 && options.every((o) => typeof o.type === 'string' && Object.keys(o).length === 1)) {
      return { ...out, type: options.map((o) => o.type) }
    }
    out.anyOf = forReply(anyOf)
  }
  if (patternProperties !== undefined) {
    const patterns = Object.entries(patternProperties as Record<string, unknown>)
    if (patterns.length === 1 && patterns[0][0] === '^(.*)$' && out.properties === undefined) {
      out.additionalProperties = Object.keys(patterns[0][1] as object).length === 0 ? true : forReply(patterns[0][1])
    } else {
      out.patternProperties = forReply(patternProperties)
    }
  }
  return out
}

/** A route's response for one status: `schema` with a description and the headers it comes with. */
export function response<T extends TSchema> (schema: T, description: string, headers?: Record<string, TSchema>): T {
  const out = forReply(schema) as Record<string, unknown>
  out.description = description
  if (headers !== undefined) out.headers = headers
  return out as unknown as T
}

/** A response with no body (204, 101). */
export function noContent (description: string): TUnsafe<undefined> {
  return Type.Unsafe<undefined>({ type: 'null', description })
}

export const RetryAfter = Type.Integer({ minimum: 1, description: 'Seconds to wait before trying again' })

const ERRORS = {
  400: 'BAD_REQUEST: the params, query or body do not match the schema, or break a rule',
  401: 'No user: the host\'s auth hook refused the request (with its own body), or left no user (UNAUTHORIZED)',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'TOO_LARGE: the body, the content or the metadata is over its limit',
  429: 'RATE_LIMITED or PARTICIPANT_LIMIT; `retry-after` says when to come back',
  501: 'NOT_IMPLEMENTED: the conversation\'s storage cannot do this'
} as const
export type ErrorStatus = keyof typeof ERRORS

/** The host's auth hook may answer 401 with a body of its own: every field optional, none dropped. */
const UnauthorizedReply = Type.Partial(ErrorReply, { additionalProperties: true })

type ErrorReplies<S extends ErrorStatus> = { [K in S]: K extends 401 ? typeof UnauthorizedReply : typeof ErrorReply }

/**
 * Error responses of a route, each an ErrorReply (401: as the host's auth hook renders it). Give `true` for
 * the status's usual description, or the route's own ("NOT_FOUND: no such conversation ...").
 */
export function errorReplies<S extends ErrorStatus> (statuses: { [K in S]: true | string }): ErrorReplies<S> {
  const out: Record<number, TSchema> = {}
  for (const [key, given] of Object.entries(statuses) as Array<[string, true | string]>) {
    const status = Number(key) as ErrorStatus
    const description = given === true ? ERRORS[status] : given
    if (status === 401) out[status] = response(UnauthorizedReply, description)
    else if (status === 429) out[status] = response(ErrorReply, description, { 'retry-after': RetryAfter })
    else out[status] = response(ErrorReply, description)
  }
  return out as ErrorReplies<S>
}

export { Conversation, Message, Participant }
