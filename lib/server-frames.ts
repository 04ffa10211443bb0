import type { ResolvedOptions } from './options.ts'
import type { Message, Participant } from './schemas/entities.ts'
import type {
  AckFrame, ErrorFrame, JoinedFrame, ParticipantEvent, ReadyFrame, ServerFrame
} from './schemas/server-frames.ts'

/**
 * Every frame the server sends is built here, to the shapes of `schemas/server-frames.ts` (the client's types
 * and docs/protocol.md come from the same schemas). A frame is serialized and UTF-8 encoded once, however
 * many sockets it goes to.
 */

/** A frame as it goes out. */
export type WireFrame = Buffer

export function encode (frame: ServerFrame): WireFrame {
  return Buffer.from(JSON.stringify(frame))
}

/** A stored message: `stream.start` for an AI answer still streaming, `message` for anything else. */
export function messageFrame (message: Message): WireFrame {
  const type = message.kind === 'ai' && message.status === 'streaming' ? 'stream.start' : 'message'
  return encode({ type, conversationId: message.conversationId, message })
}

export function participantFrame (conversationId: string, event: ParticipantEvent, participant: Participant): WireFrame {
  return encode({ type: 'participant', conversationId, event, participant })
}

/** Presence in a big conversation (room-presence.ts): the last change of each user since the previous one. */
export function presenceFrame (conversationId: string, online: string[], offline: string[]): WireFrame {
  return encode({ type: 'presence', conversationId, online, offline })
}

/** Lists shared by many `joined` frames (a big conversation's participants), each serialized once. */
const encoded = new WeakMap<readonly unknown[], Buffer>()

/**
 * Marks a list that many `joined` frames will carry (room-presence.ts): serialized here, once, and spliced
 * into each of them by `joinedFrame`. The list is frozen: what was serialized must stay what it holds.
 */
export function shareEncoded<T> (list: T[]): T[] {
  Object.freeze(list)
  encoded.set(list, Buffer.from(JSON.stringify(list)))
  return list
}

export function typingFrame (conversationId: string, participantId: string): WireFrame {
  return encode({ type: 'typing', conversationId, participantId })
}

/**
 * The head of every `stream.chunk` of one answer, up to its `index`: a chunk is this, the index, and the part
 * serialized once (that same JSON goes into the stored answer and its `stream.end`).
 */
export function streamChunkHead (conversationId: string, messageId: string): string {
  return `{"type":"stream.chunk","conversationId":${JSON.stringify(conversationId)},"messageId":${JSON.stringify(messageId)},"index":`
}

export function streamChunk (head: string, index: number, partJson: string): string {
  return `${head}${index},"part":${partJson}}`
}

/** `stream.end` with the final message; `partsJson`, its parts as they were serialized for the chunks, is spliced in. */
export function streamEndFrame (message: Message, partsJson?: string): WireFrame {
  const { conversationId } = message
  if (partsJson === undefined || message.parts === undefined) return encode({ type: 'stream.end', conversationId, message })
  const { parts, ...rest } = message
  const head = JSON.stringify({ type: 'stream.end', conversationId, message: rest })
  return Buffer.from(`${head.slice(0, -2)},"parts":${partsJson}}}`)
}

// Replies to one socket: serialized to a string (a big conversation's `joined`: a buffer), written to that socket only.

export function readyFrame (frame: Omit<ReadyFrame, 'type'>): string {
  return JSON.stringify({ type: 'ready', ...frame } satisfies ReadyFrame)
}

/** The part of `ready` that is the same for every socket of one plugin instance (its options), serialized once. */
const readyTails = new WeakMap<object, string>()

/** The `ready` a new socket or event stream opens with: who it is, the heartbeat, and the limits that apply. */
export function readyFor (userId: string, connectionId: string, options: { heartbeatMs: number, limits: ResolvedOptions['limits'] }): string {
  let tail = readyTails.get(options)
  if (tail === undefined) {
    const { limits, heartbeatMs } = options
    // As readyFrame would write them, after userId and connectionId.
    tail = JSON.stringify({
      heartbeatMs,
      limits: {
        maxMessageBytes: limits.maxMessageBytes,
        maxParticipants: limits.maxParticipants,
        maxFrameBytes: limits.maxFrameBytes,
        historyWindow: limits.historyWindow,
        replayLimit: limits.replayLimit,
        maxQueuedFrames: limits.maxQueuedFrames
      }
    } satisfies Omit<ReadyFrame, 'type' | 'userId' | 'connectionId'>).slice(1)
    readyTails.set(options, tail)
  }
  return `{"type":"ready","userId":${JSON.stringify(userId)},"connectionId":${JSON.stringify(connectionId)},${tail}`
}

export function joinedFrame (ref: string | undefined, body: Omit<JoinedFrame, 'type' | 'ref'>): string | WireFrame {
  const parts = joinedParts(ref, body)
  return typeof parts === 'string' ? parts : Buffer.concat(parts)
}

/**
 * `joined`, as one string (a conversation of the default size) or, for a big one, as the pieces of one frame:
 * the same JSON, with the lists every joiner shares (participants, the ids online, the history while nobody
 * sends: live.ts) serialized once and given as they are, never copied per joiner (connection.ts writes the
 * pieces to the socket as one WebSocket frame).
 */
export function joinedParts (ref: string | undefined, body: Omit<JoinedFrame, 'type' | 'ref'>): string | WireFrame[] {
  const list = encoded.get(body.conversation.participants)
  if (list === undefined) return JSON.stringify(withRef({ type: 'joined', ...body } satisfies JoinedFrame, ref))
  const { conversationId, conversation, online, messages, ...rest } = body
  const { participants, ...record } = conversation
  const head = JSON.stringify({ type: 'joined', conversationId, conversation: record }) // ends with `}}`
  const others = JSON.stringify(ref === undefined ? rest : { ...rest, ref }).slice(1, -1) // without its braces
  const onlineList = online === undefined ? undefined : encoded.get(online) ?? Buffer.from(JSON.stringify(online))
  return [
    Buffer.from(`${head.slice(0, -2)},"participants":`),
    list,
    ...(onlineList === undefined ? [CLOSE] : [CLOSE_THEN_ONLINE, onlineList]),
    Buffer.from(`${others === '' ? '' : `,${others}`},"messages":`),
    encoded.get(messages) ?? Buffer.from(JSON.stringify(messages)),
    CLOSE
  ]
}

const CLOSE = Buffer.from('}')
const CLOSE_THEN_ONLINE = Buffer.from('},"online":')

export function leftFrame (conversationId: string, ref?: string): string {
  return JSON.stringify(withRef({ type: 'left', conversationId }, ref))
}

export function ackFrame (ref: string | undefined, body: Omit<AckFrame, 'type' | 'ref'>): string {
  return JSON.stringify(withRef({ type: 'ack', ...body } satisfies AckFrame, ref))
}

export function pongFrame (ref?: string): string {
  return JSON.stringify(withRef({ type: 'pong' }, ref))
}

export function errorFrame (ref: string | undefined, body: Omit<ErrorFrame, 'type' | 'ref'>): string {
  const frame: ErrorFrame = { type: 'error', code: body.code, status: body.status, message: body.message }
  if (ref !== undefined) frame.ref = ref
  if (body.retryAfterMs !== undefined) frame.retryAfterMs = body.retryAfterMs
  return JSON.stringify(frame)
}

/** `ref` goes last, and only when the client frame had one. */
function withRef<F extends ServerFrame> (frame: F, ref: string | undefined): F {
  return ref === undefined ? frame : { ...frame, ref }
}
