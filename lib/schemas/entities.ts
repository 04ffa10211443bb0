import { Type, type Static } from '@sinclair/typebox'

/** The entities of the wire contract (docs/protocol.md). Types come from here and nowhere else. */

export const Metadata = Type.Record(Type.String(), Type.Unknown(), { description: 'Free-form JSON object' })

export const SenderType = Type.Union([Type.Literal('human'), Type.Literal('ai'), Type.Literal('system')])
export const Sender = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: SenderType
})
export type Sender = Static<typeof Sender>

export const MessageKind = Type.Union([Type.Literal('text'), Type.Literal('system'), Type.Literal('ai')])
export const MessageStatus = Type.Union([
  Type.Literal('streaming'),
  Type.Literal('complete'),
  Type.Literal('cancelled'),
  Type.Literal('failed'),
  Type.Literal('timeout')
])
export type MessageStatus = Static<typeof MessageStatus>

export const Message = Type.Object({
  id: Type.String(),
  conversationId: Type.String(),
  seq: Type.Integer({ minimum: 1 }),
  kind: MessageKind,
  sender: Sender,
  content: Type.String(),
  parts: Type.Optional(Type.Array(Type.Unknown())),
  status: Type.Optional(MessageStatus),
  replyTo: Type.Optional(Type.Integer({ minimum: 1 })),
  clientMessageId: Type.Optional(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  metadata: Type.Optional(Metadata)
})
export type Message = Static<typeof Message>

export const ParticipantType = Type.Union([Type.Literal('human'), Type.Literal('ai')])
export const ParticipantRole = Type.Union([Type.Literal('owner'), Type.Literal('member')])

/** A participant as storage keeps it; `online` is added live. */
export const ParticipantRecord = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: ParticipantType,
  role: ParticipantRole,
  joinedAt: Type.String({ format: 'date-time' })
})
export type ParticipantRecord = Static<typeof ParticipantRecord>

export const Participant = Type.Composite([ParticipantRecord, Type.Object({ online: Type.Boolean() })])
export type Participant = Static<typeof Participant>

/** A conversation as storage keeps it; participants live beside it. */
export const ConversationRecord = Type.Object({
  id: Type.String(),
  title: Type.String(),
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  lastSeq: Type.Integer({ minimum: 0 }),
  metadata: Type.Optional(Metadata),
  closedAt: Type.Optional(Type.String({ format: 'date-time', description: 'Extension: set when an admin closes it' }))
})
export type ConversationRecord = Static<typeof ConversationRecord>

export const Conversation = Type.Composite([
  ConversationRecord,
  Type.Object({ participants: Type.Array(Participant) })
])
export type Conversation = Static<typeof Conversation>

/** The signed-in user, as the host's auth hook set it (mapped by the `user` option). */
export interface ChatUser {
  id: string
  name: string
  roles: string[]
  /** When the credentials the user signed in with expire (ms since the epoch): their sockets close then (4001). */
  expiresAt?: number
}
