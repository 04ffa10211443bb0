import type { ConversationRecord, Message, MessageStatus, ParticipantRecord } from '../schemas/entities.ts'

/**
 * Everything the chat keeps. One interface, several implementations (memory, SQLite, ...), all held to the
 * same contract suite (test/storage/contract.ts).
 *
 * Rules every implementation keeps, whatever it runs on:
 * - `appendMessage` assigns the next seq of the conversation atomically *in the storage* (a transaction, a
 *   conditional write, a server-side counter), so several processes appending to one conversation still get
 *   1, 2, 3... with no gap and no repeat. A JavaScript lock alone is not enough.
 * - `appendMessage` with a `clientMessageId` that the same sender already used in that conversation stores
 *   nothing and returns the first message with `created: false`, also when both calls race.
 * - Reads return copies: mutating a returned object never changes what is stored.
 */
export interface ChatStorage {
  /** Short name for health and logs: 'memory', 'sqlite', ... */
  readonly name: string

  /** Open connections, create tables. Called once before the first use. */
  init (): Promise<void>
  /** Release connections. */
  close (): Promise<void>
  /**
   * Cheap round trip for health checks; rejects when the storage cannot serve. A storage with `probe` may run
   * it here (SQLite does), so that health sees writes failing, not only reads.
   */
  ping (): Promise<void>
  /**
   * Optional: proves the storage can take a write now (a small committed or rolled-back write, never a message
   * or any row the other methods return). Rejects with CHAT_ERR_UNAVAILABLE (with `retryAfterMs`) while writes
   * would fail: disk full, read-only, the file gone, a lock held too long, the server unreachable.
   */
  probe? (): Promise<void>

  /** Stores a new conversation with its first participants (no messages). */
  createConversation (conversation: ConversationRecord, participants: ParticipantRecord[]): Promise<void>
  getConversation (id: string): Promise<ConversationRecord | null>
  updateConversation (id: string, patch: ConversationPatch): Promise<ConversationRecord | null>
  /** Removes the conversation, its participants and its messages. False when it did not exist. */
  deleteConversation (id: string): Promise<boolean>
  /**
   * Conversations newest first (by id, which sorts by creation time), the given user's only when `userId` is
   * set. `cursor` is the `nextCursor` of the page before, opaque to callers.
   */
  listConversations (query: ListConversationsQuery): Promise<Page<ConversationRecord>>
  /** How many conversations exist (health, admin). */
  countConversations (): Promise<number>

  getParticipants (conversationId: string): Promise<ParticipantRecord[]>
  /** Adds a participant unless present ('exists') or the conversation already has `max` ('full'). Atomic. */
  addParticipant (conversationId: string, participant: ParticipantRecord, max: number): Promise<AddParticipantResult>
  /** False when the user was not a participant. */
  removeParticipant (conversationId: string, userId: string): Promise<boolean>

  /**
   * Appends with the next seq (see the rules above); bumps the conversation's lastSeq and updatedAt.
   * Rejects with CHAT_ERR_NOT_FOUND when the conversation does not exist.
   * With `reply`, a message that is created takes its answer's seq along with it: the draft `reply` returns
   * for it is appended with the next seq in the same atomic step (nothing for a repeat).
   */
  appendMessage (conversationId: string, draft: MessageDraft, reply?: ReplyFor): Promise<AppendResult>
  /** Rewrites the mutable fields of a message (an AI answer as it completes). Null when there is none. */
  updateMessage (conversationId: string, messageId: string, patch: MessagePatch, encoded?: EncodedPatch): Promise<Message | null>
  /** Messages in ascending seq: seq > after, seq < before, at most `limit`; with `before` only, the newest ones. */
  getMessages (conversationId: string, query: MessageRange): Promise<Message[]>
  findMessageByClientId (conversationId: string, senderId: string, clientMessageId: string): Promise<Message | null>
  /**
   * Ends AI answers whose writer is gone: every message with kind 'ai', status 'streaming' and createdAt before
   * `startedBefore` (an ISO timestamp) gets status 'failed', content and parts kept as stored. At most `limit`,
   * oldest first; returns exactly the messages it changed, as stored now. Atomic per message: when several
   * processes sweep at once, each message is failed (and returned) once; an answer finished meanwhile is left alone.
   */
  failStaleAnswers (startedBefore: string, limit: number): Promise<Message[]>

  /**
   * Optional: a conversation's messages that match `query.q`, best match first, paged with `cursor` (the
   * `nextCursor` of the page before, opaque). Content is matched as text: operators of the store's own query
   * language (FTS `AND`, `*`, quotes, `:`...) in `q` are taken as words, never as syntax. A storage without it
   * answers the REST search with 501 NOT_IMPLEMENTED. A message matches when it holds any of the words; more of
   * them (then more often) ranks higher; equal ranks newest first. A page walk covers the messages stored when
   * its first page was read. A cursor it did not give rejects with CHAT_ERR_BAD_REQUEST.
   */
  searchMessages? (conversationId: string, query: SearchQuery): Promise<Page<Message>>

  appendAudit (entry: AuditEntry): Promise<void>
  /** Newest first. */
  listAudit (query: { limit: number, before?: string }): Promise<AuditEntry[]>
}

export interface ConversationPatch {
  title?: string
  metadata?: Record<string, unknown>
  closedAt?: string
}

export interface ListConversationsQuery {
  userId?: string
  limit: number
  cursor?: string
}

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

export type AddParticipantResult = 'added' | 'exists' | 'full' | 'missing'

/** A message before storage gives it a seq. */
export interface MessageDraft {
  id: string
  kind: Message['kind']
  sender: Message['sender']
  content: string
  parts?: unknown[]
  status?: MessageStatus
  replyTo?: number
  clientMessageId?: string
  createdAt: string
  metadata?: Record<string, unknown>
}

export interface AppendResult {
  message: Message
  /** False when the clientMessageId was a repeat and `message` is the first one. */
  created: boolean
  /** The reply appended with it, when `reply` gave one. */
  reply?: Message
}

/** Builds, from a just-stored message, the reply to store with it (an AI answer's placeholder). */
export type ReplyFor = (message: Message) => MessageDraft | undefined

export interface MessagePatch {
  content?: string
  parts?: unknown[]
  status?: MessageStatus
  metadata?: Record<string, unknown>
}

/**
 * Parts of a patch already serialized by the caller (an AI answer's frames, serialized once as they
 * streamed). A storage that keeps JSON text may store these strings as they are instead of serializing again.
 */
export interface EncodedPatch {
  /** `JSON.stringify(patch.parts)`, or the same JSON written otherwise. */
  parts?: string
}

export interface MessageRange {
  after?: number
  before?: number
  limit: number
}

export interface SearchQuery {
  /** What the user typed: one or more words (at most 256 characters, not blank). */
  q: string
  limit: number
  cursor?: string
}

export interface AuditEntry {
  id: string
  at: string
  actor: string
  action: string
  target?: string
  details?: Record<string, unknown>
}
