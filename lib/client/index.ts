/**
 * `fastify-nlweb-chat/client`: a typed client for `/chat/ws` and the chat's REST routes, for browsers and Node,
 * with no dependencies. Every frame and body type comes from the plugin's schemas.
 */
export { ChatClient } from './chat-client.ts'
export type { ChatClientEvents, ChatClientOptions, ChatClientState, ChatTransport, JoinResult, SendAck, SendOptions, StreamChunk } from './chat-client.ts'
export { ChatClientError } from './errors.ts'
export type { ChatClientErrorCode } from './errors.ts'
export { ChatRest } from './rest.ts'
export type {
  AddParticipantRequest, ConversationPage, CreateConversationRequest, FetchLike, MessagePage, MessagesQuery, PostMessageRequest
} from './rest.ts'
export type { WebSocketConstructor, WebSocketLike } from './socket.ts'
export type { Conversation, ConversationRecord, Message, MessageStatus, Participant, Sender } from '../schemas/entities.ts'
export type * from '../schemas/server-frames.ts'
export type { ClientFrame, JoinFrame, LeaveFrame, SendFrame, TypingFrame, CancelFrame, PingFrame } from '../schemas/frames.ts'
