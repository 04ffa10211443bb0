import type { FastifyBaseLogger } from 'fastify'
import type { ChatMetrics } from '../metrics.ts'
import type { Message, ParticipantRecord } from '../schemas/entities.ts'
import type { EncodedPatch, MessageDraft, MessagePatch } from '../storage/types.ts'

/**
 * A participant that acts by itself (the AI). Humans act through their sockets (HumanParticipant); agents
 * are told of every message delivered in the conversations they belong to, and answer through AgentApi.
 * The manager knows nothing more of them than this.
 */
export interface AgentParticipant {
  readonly id: string
  readonly name: string
  /** Called once when the plugin starts, with the calls an agent may make. */
  attach (api: AgentApi, deps?: { log?: FastifyBaseLogger, metrics?: ChatMetrics }): void
  /** A message was delivered in a conversation it belongs to (its own messages included). */
  onMessage (conversationId: string, message: Message): void
  /** Stops a running answer (or, without `messageId`, all of a conversation's). True when one was stopped. */
  cancel (conversationId: string, messageId?: string): boolean
  /** Stops everything running (plugin closing). */
  close (): Promise<void>
}

/** What an agent may do in a conversation. Every message it posts gets its seq from storage like any other. */
export interface AgentApi {
  /** Participants of the conversation, from the cache. */
  participants (conversationId: string): Promise<ParticipantRecord[]>
  /** The newest messages (ascending), from the cache when it has them. */
  recentMessages (conversationId: string, limit: number): Promise<Message[]>
  /** Stores a message and delivers it in order (an AI message with status 'streaming' goes out as stream.start). */
  post (conversationId: string, draft: Omit<MessageDraft, 'id' | 'createdAt'> & { id?: string }): Promise<Message>
  /** Sends a serialized frame outside the sequence to every socket in the conversation (stream.chunk). */
  broadcast (conversationId: string, frame: string): void
  /** Lets the frames written so far in this tick leave now (before a slow step such as a store). */
  flush (conversationId: string): void
  /** Rewrites a posted message, then sends `stream.end` with the stored result. */
  finish (conversationId: string, messageId: string, patch: MessagePatch, encoded?: EncodedPatch): Promise<Message | null>
}
