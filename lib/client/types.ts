import type { Conversation, Message } from '../schemas/entities.ts'
import type { ParticipantFrame, PresenceFrame, ReadyFrame, TypingEventFrame } from '../schemas/server-frames.ts'
import type { ChatClientError } from './errors.ts'
import type { FetchLike } from './rest.ts'
import type { WebSocketConstructor } from './socket.ts'

/** The client's options, results and events (lib/client/chat-client.ts). */

export type ChatClientState = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** `websocket`: `/chat/ws`. `sse`: event streams (`GET /chat/events`) in, REST out, where WebSockets are blocked. */
export type ChatTransport = 'websocket' | 'sse'

export interface ChatClientOptions {
  /** The socket's address, e.g. `wss://example.com/chat/ws`. */
  url: string
  /** A bearer token, or a function asked before every (re)connect and REST call (refresh it there). */
  token?: string | (() => string | Promise<string>)
  /** `query` (default): `?access_token=`, what browsers can do. `header`: `Authorization: Bearer`, for Node's `ws`. */
  tokenIn?: 'query' | 'header'
  /** The WebSocket class: the browser's by default; in Node pass `ws`'s `WebSocket`. */
  WebSocket?: WebSocketConstructor
  /** For REST paging and the REST helpers; the global `fetch` by default. */
  fetch?: FetchLike
  /** The REST base; by default the socket's address with http(s) and without its last path segment (`/chat`). */
  httpUrl?: string
  /** Reconnect with full-jitter exponential backoff; `false` turns it off. */
  reconnect?: false | { initialDelayMs?: number, maxDelayMs?: number }
  /** Sends a `ping` this often; a socket that gave no frame since the last one is taken as dead. 0 turns it off. */
  pingIntervalMs?: number
  /** Messages per REST page when closing a gap (the server allows 500 at most). */
  pageSize?: number
  /**
   * The transports it may use, the first one first: `['websocket', 'sse']` by default; `['sse']` or
   * `['websocket']` forces one. `sse` reads event streams with `fetch` (browsers, Node 20).
   */
  transports?: ChatTransport[]
  /** WebSocket attempts in a row that end before `ready` (a proxy refusing the upgrade) before it moves to `sse`: 2. */
  fallbackAfter?: number
  /** On `sse`: how often a WebSocket is tried again beside it, taken once it is ready (ms, 300000; 0: never). */
  websocketRetryMs?: number
}

export interface SendOptions {
  /** The dedupe key; a random one by default. Sending again with the same one never makes a second message. */
  clientMessageId?: string
  metadata?: Record<string, unknown>
}

export interface SendAck {
  conversationId: string
  clientMessageId: string
  messageId: string
  seq: number
}

export interface JoinResult {
  conversation: Conversation
  lastSeq: number
  /**
   * A big conversation (more than the server's `limits.presenceBatchAbove` participants): how many it has, as
   * `conversation.participants` lists only the first ones.
   */
  participantCount?: number
  /** With `participantCount`: the ids of the participants online. */
  online?: string[]
}

export interface StreamChunk {
  conversationId: string
  messageId: string
  index: number
  part: unknown
  /** The growing answer, with this part appended. */
  message: Message
}

export interface ChatClientEvents {
  state: ChatClientState
  ready: ReadyFrame
  /** Every stored message once, in seq order per conversation (an AI answer once, when it starts). */
  message: Message
  /** A delivered message changed: an AI answer grew or ended (the same object `message` gave). */
  update: Message
  'stream.start': Message
  'stream.chunk': StreamChunk
  'stream.end': Message
  joined: JoinResult
  /**
   * This client no longer receives a conversation: `leave()` was called, the user was removed, or it was
   * deleted (`reason` NOT_FOUND, also when a rejoin after a reconnect finds it gone).
   */
  left: { conversationId: string, reason?: ChatClientError }
  /**
   * Membership (`joined`, `left`) and presence (`online`, `offline`). In a big conversation presence comes
   * coalesced (`presence`); each change of a participant the client holds a record of comes here too.
   */
  participant: ParticipantFrame
  /** A big conversation's presence changes since the previous one (extension 26); `client.online(id)` applies them. */
  presence: PresenceFrame
  typing: TypingEventFrame
  /** A failure tied to no promise: a rejected frame without a caller, a gap that could not be read yet. */
  error: ChatClientError
}
