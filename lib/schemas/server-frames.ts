import { Type, type Static } from '@sinclair/typebox'
import { Conversation, Message, Participant } from './entities.ts'

/**
 * Server → client frames (docs/protocol.md, "Server to client"): one schema per frame type. Everything that
 * sends a frame builds it to these shapes; the client's types come from here.
 */

const Ref = Type.Optional(Type.String({ description: 'The `ref` of the client frame this answers' }))

export const ReadyFrame = Type.Object({
  type: Type.Literal('ready'),
  userId: Type.String(),
  connectionId: Type.String({ description: 'Extension: this socket\'s id, as the admin routes list it' }),
  heartbeatMs: Type.Integer(),
  limits: Type.Object({
    maxMessageBytes: Type.Integer(),
    maxParticipants: Type.Integer(),
    maxFrameBytes: Type.Integer(),
    historyWindow: Type.Integer(),
    replayLimit: Type.Integer(),
    maxQueuedFrames: Type.Integer()
  })
})

export const JoinedFrame = Type.Object({
  type: Type.Literal('joined'),
  ref: Ref,
  conversationId: Type.String(),
  conversation: Conversation,
  lastSeq: Type.Integer({ minimum: 0 }),
  messages: Type.Array(Message, { description: 'Ascending seq' }),
  recovered: Type.Boolean(),
  participantCount: Type.Optional(Type.Integer({
    minimum: 0,
    description: 'Extension: in a conversation of more than `limits.presenceBatchAbove` participants, how many it has; ' +
      '`conversation.participants` then lists only the first `presenceBatchAbove` (all of them: GET /chat/conversations/:id)'
  })),
  online: Type.Optional(Type.Array(Type.String(), {
    description: 'Extension: with `participantCount`, the ids of every participant online (as of at most `limits.presenceIntervalMs` ago; ' +
      'the `presence` frames after `joined` carry the changes since)'
  })),
  streaming: Type.Optional(Type.Array(Message, {
    description: 'Extension: AI answers still streaming, each with the parts produced so far (whatever `since` was); ' +
      'live `stream.chunk` frames go on from index = parts.length'
  }))
})

export const LeftFrame = Type.Object({ type: Type.Literal('left'), ref: Ref, conversationId: Type.String() })

export const AckFrame = Type.Object({
  type: Type.Literal('ack'),
  ref: Ref,
  conversationId: Type.String(),
  clientMessageId: Type.String(),
  messageId: Type.String(),
  seq: Type.Integer({ minimum: 1 })
})

export const MessageFrame = Type.Object({ type: Type.Literal('message'), conversationId: Type.String(), message: Message })

export const ParticipantEvent = Type.Union([Type.Literal('joined'), Type.Literal('left'), Type.Literal('online'), Type.Literal('offline')])
export const ParticipantFrame = Type.Object({
  type: Type.Literal('participant'),
  conversationId: Type.String(),
  event: ParticipantEvent,
  participant: Participant
})

export const PresenceFrame = Type.Object({
  type: Type.Literal('presence'),
  conversationId: Type.String(),
  online: Type.Array(Type.String(), { description: 'Participants whose last presence change since the previous frame was `online`' }),
  offline: Type.Array(Type.String(), { description: 'Participants whose last presence change since the previous frame was `offline`' })
}, {
  description: 'Extension: presence in a conversation of more than `limits.presenceBatchAbove` participants, the ' +
    'changes of one `limits.presenceIntervalMs` in one frame instead of a `participant` online/offline frame each'
})

export const TypingEventFrame = Type.Object({ type: Type.Literal('typing'), conversationId: Type.String(), participantId: Type.String() })

export const StreamStartFrame = Type.Object({ type: Type.Literal('stream.start'), conversationId: Type.String(), message: Message })
export const StreamChunkFrame = Type.Object({
  type: Type.Literal('stream.chunk'),
  conversationId: Type.String(),
  messageId: Type.String(),
  index: Type.Integer({ minimum: 0 }),
  part: Type.Unknown()
})
export const StreamEndFrame = Type.Object({ type: Type.Literal('stream.end'), conversationId: Type.String(), message: Message })

export const ErrorCode = Type.Union([
  Type.Literal('BAD_FRAME'), Type.Literal('BAD_REQUEST'), Type.Literal('UNAUTHORIZED'), Type.Literal('FORBIDDEN'),
  Type.Literal('NOT_FOUND'), Type.Literal('CONFLICT'), Type.Literal('TOO_LARGE'), Type.Literal('QUEUE_FULL'),
  Type.Literal('RATE_LIMITED'), Type.Literal('PARTICIPANT_LIMIT'), Type.Literal('UNAVAILABLE'),
  Type.Literal('NOT_IMPLEMENTED'), Type.Literal('INTERNAL')
])
export const ErrorFrame = Type.Object({
  type: Type.Literal('error'),
  ref: Ref,
  code: ErrorCode,
  status: Type.Integer(),
  message: Type.String(),
  retryAfterMs: Type.Optional(Type.Integer({ minimum: 0 }))
})

export const PongFrame = Type.Object({ type: Type.Literal('pong'), ref: Ref })

export const ServerFrames = {
  ready: ReadyFrame,
  joined: JoinedFrame,
  left: LeftFrame,
  ack: AckFrame,
  message: MessageFrame,
  participant: ParticipantFrame,
  presence: PresenceFrame,
  typing: TypingEventFrame,
  'stream.start': StreamStartFrame,
  'stream.chunk': StreamChunkFrame,
  'stream.end': StreamEndFrame,
  error: ErrorFrame,
  pong: PongFrame
}

export type ReadyFrame = Static<typeof ReadyFrame>
export type JoinedFrame = Static<typeof JoinedFrame>
export type LeftFrame = Static<typeof LeftFrame>
export type AckFrame = Static<typeof AckFrame>
export type MessageFrame = Static<typeof MessageFrame>
export type ParticipantEvent = Static<typeof ParticipantEvent>
export type ParticipantFrame = Static<typeof ParticipantFrame>
export type PresenceFrame = Static<typeof PresenceFrame>
export type TypingEventFrame = Static<typeof TypingEventFrame>
export type StreamStartFrame = Static<typeof StreamStartFrame>
export type StreamChunkFrame = Static<typeof StreamChunkFrame>
export type StreamEndFrame = Static<typeof StreamEndFrame>
export type ErrorCode = Static<typeof ErrorCode>
export type ErrorFrame = Static<typeof ErrorFrame>
export type PongFrame = Static<typeof PongFrame>

export type ServerFrameType = keyof typeof ServerFrames
export type ServerFrame = { [K in ServerFrameType]: Static<(typeof ServerFrames)[K]> }[ServerFrameType]
