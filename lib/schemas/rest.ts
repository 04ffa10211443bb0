import { Type, type Static } from '@sinclair/typebox'
import { Conversation, Message, Metadata, Participant } from './entities.ts'

/** REST bodies, params, queries and replies (docs/protocol.md, "REST"). */

const Id = Type.String({ minLength: 1, maxLength: 128 })

export const ConversationParams = Type.Object({ id: Id })
export type ConversationParams = Static<typeof ConversationParams>

export const ParticipantParams = Type.Object({ id: Id, userId: Id })
export type ParticipantParams = Static<typeof ParticipantParams>

export const CreateConversationBody = Type.Object({
  title: Type.Optional(Type.String({ description: 'At most limits.maxTitleLength characters' })),
  participants: Type.Optional(Type.Array(Id, { maxItems: 1000 })),
  ai: Type.Optional(Type.Boolean()),
  metadata: Type.Optional(Metadata)
}, { additionalProperties: false })
export type CreateConversationBody = Static<typeof CreateConversationBody>

export const ListConversationsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 256 }))
})
export type ListConversationsQuery = Static<typeof ListConversationsQuery>

export const ConversationList = Type.Object({
  items: Type.Array(Conversation),
  nextCursor: Type.Union([Type.String(), Type.Null()])
})

export const ListMessagesQuery = Type.Object({
  after: Type.Optional(Type.Integer({ minimum: 0 })),
  before: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 }))
})
export type ListMessagesQuery = Static<typeof ListMessagesQuery>

export const MessageList = Type.Object({ items: Type.Array(Message) })

export const PostMessageBody = Type.Object({
  clientMessageId: Id,
  content: Type.String(),
  metadata: Type.Optional(Metadata)
}, { additionalProperties: false })
export type PostMessageBody = Static<typeof PostMessageBody>

export const AddParticipantBody = Type.Object({
  userId: Id,
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 }))
}, { additionalProperties: false })
export type AddParticipantBody = Static<typeof AddParticipantBody>

export const ErrorReply = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String()
})

export { Conversation, Message, Participant }
