import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Metadata } from './entities.ts'

/** Client → server frames. Every one may carry `ref`, echoed on its reply. */

const Id = Type.String({ minLength: 1, maxLength: 128 })
const Ref = Type.Optional(Type.String({ maxLength: 128 }))

export const JoinFrame = Type.Object({
  type: Type.Literal('join'),
  ref: Ref,
  conversationId: Id,
  since: Type.Optional(Type.Integer({ minimum: 0 }))
})
export const LeaveFrame = Type.Object({ type: Type.Literal('leave'), ref: Ref, conversationId: Id })
export const SendFrame = Type.Object({
  type: Type.Literal('send'),
  ref: Ref,
  conversationId: Id,
  clientMessageId: Id,
  content: Type.String(),
  metadata: Type.Optional(Metadata)
})
export const TypingFrame = Type.Object({ type: Type.Literal('typing'), ref: Ref, conversationId: Id })
export const CancelFrame = Type.Object({ type: Type.Literal('cancel'), ref: Ref, conversationId: Id, messageId: Id })
export const PingFrame = Type.Object({ type: Type.Literal('ping'), ref: Ref })

export type JoinFrame = Static<typeof JoinFrame>
export type LeaveFrame = Static<typeof LeaveFrame>
export type SendFrame = Static<typeof SendFrame>
export type TypingFrame = Static<typeof TypingFrame>
export type CancelFrame = Static<typeof CancelFrame>
export type PingFrame = Static<typeof PingFrame>

/** One schema per client frame type; the socket validates against the one its `type` names. */
export const ClientFrames = {
  join: JoinFrame,
  leave: LeaveFrame,
  send: SendFrame,
  typing: TypingFrame,
  cancel: CancelFrame,
  ping: PingFrame
} satisfies Record<string, TSchema>

export type ClientFrameType = keyof typeof ClientFrames
export type ClientFrame = JoinFrame | LeaveFrame | SendFrame | TypingFrame | CancelFrame | PingFrame
