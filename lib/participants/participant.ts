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
  /**
   * Asked before a human message is stored: the placeholder of its answer, when the agent will answer it.
   * The placeholder is then stored in the same step as the question (its seq costs no store of its own) and
   * comes back through `onMessage`. Optional: without it the agent posts its own placeholder.
   */
  replyDraft? (conversationId: string, question: MessageDraft, humans: number): MessageDraft | undefined
  /**
   * A message was delivered in a conversation it belongs to (its own messages included). `reply` is the
   * placeholder stored with it, when `replyDraft` gave one; it has been delivered (stream.start) already.
   */
  onMessage (conversationId: string, message: Message, reply?: Message): void
  /** Stops a running answer (or, without `messageId`, all of a conversation's). True when one was stopped. */
  cancel (conversationId: string, messageId?: string): boolean
  /**
   * Its answers in the conversation that are still streaming here, each with status 'streaming' and `parts` =
   * the parts of the `stream.chunk` frames broadcast so far (chunk `index` = position). A socket joining the
   * conversation gets them in `joined.streaming`, then only the chunks broadcast after that moment, so:
   * an answer is listed once its stream.start has gone out, a part is counted in the same synchronous step as
   * its chunk is broadcast, and the answer is dropped in the step its stream.end goes out (the `ended` callback
   * of `AgentApi.finish`). Optional: without it, a socket joining mid-answer gets only the later chunks, and
   * the whole answer with `stream.end`.
   */
  streaming? (conversationId: string): Message[]
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
  /**
   * Rewrites a posted message, then sends `stream.end` with the stored result. `ended` runs in the same
   * synchronous step as that stream.end is sent: where an agent stops listing the answer in `streaming`.
   * When the rewrite cannot be stored, the answer still ends for every viewer (`stream.end` with status
   * 'failed', `ended` called) and the promise rejects; null when the message no longer exists.
   */
  finish (
    conversationId: string, messageId: string, patch: MessagePatch, encoded?: EncodedPatch, ended?: (message: Message) => void
  ): Promise<Message | null>
}
