import type { FastifyBaseLogger } from 'fastify'
import type { CachedConversation, ConversationCache } from './cache.ts'
import type { Channels } from './channels.ts'
import { participantFrame, type WireFrame } from './server-frames.ts'
import { coversUpTo, createLive } from './live.ts'
import { checkContent, checkMetadata } from './message-limits.ts'
import {
  CHAT_ERR_BAD_REQUEST, CHAT_ERR_CONFLICT, CHAT_ERR_CONVERSATION_BUSY, CHAT_ERR_FORBIDDEN, CHAT_ERR_NOT_FOUND, CHAT_ERR_NOT_IMPLEMENTED,
  CHAT_ERR_PARTICIPANT_LIMIT, CHAT_ERR_RATE_LIMITED, withRetryAfter
} from './errors.ts'
import { newId } from './ids.ts'
import type { ChatMetrics } from './metrics.ts'
import type { ResolvedOptions } from './options.ts'
import type { Answers } from './answers.ts'
import type { AgentParticipant } from './participants/participant.ts'
import { createActionBudgets, createRateLimiter, type SharedCounter } from './rate-limit.ts'
import type {
  ChatUser, Conversation, ConversationRecord, Message, Participant, ParticipantRecord
} from './schemas/entities.ts'
import { MAX_SEARCH_LENGTH } from './schemas/rest.ts'
import type { AppendResult, ChatStorage, MessageDraft, Page, ReplyFor } from './storage/types.ts'
import { createNameLookup } from './users.ts'

export interface SendInput {
  conversationId: string
  clientMessageId: string
  content: string
  metadata?: Record<string, unknown>
}

/** GET …/messages's query, `limit` resolved. */
export interface HistoryQuery {
  after?: number
  before?: number
  limit: number
  q?: string
  cursor?: string
}

const SYSTEM_SENDER = { id: 'system', name: 'system', type: 'system' as const }

export type ConversationManager = ReturnType<typeof createConversationManager>

/** A send that passed its checks (conversationManager.prepareSend), or the stored first of a repeat. */
export type PreparedSend =
  | { user: ChatUser, input: SendInput, entry: CachedConversation }
  | { repeat: AppendResult }

/**
 * Every rule about conversations, shared by the socket and REST: who may see and do what, limits, and the
 * order of a message's life — seq assigned and stored by storage, then acknowledged, then delivered.
 */
export function createConversationManager (deps: {
  storage: ChatStorage
  cache: ConversationCache
  channels: Channels
  options: ResolvedOptions
  metrics: ChatMetrics
  log: FastifyBaseLogger
  isOnline: (userId: string) => boolean
  /** Sends a frame to all of a user's sockets (joined to the conversation or not). */
  notify: (userId: string, frame: WireFrame) => void
  agents: Map<string, AgentParticipant>
  /** Where a question's answer is claimed before it is stored (answers.ts). */
  answers: Pick<Answers, 'claim' | 'settle' | 'shed'>
  /** Where all instances count per-user limits (the Redis fan-out's); each instance alone without it. */
  counter?: SharedCounter
}) {
  const { storage, cache, channels, options, metrics, agents } = deps
  const limits = options.limits
  const limiter = createRateLimiter(options.rateLimit, deps.counter)
  const spend = createActionBudgets(options.rateLimit, deps.counter)

  /** Smoothed time to store one message, in ms. */
  let storeMs = 1

  const isAdmin = (user: ChatUser): boolean => user.roles.includes(options.adminRole)
  const claims = deps.answers
  const users = createNameLookup(options.users, deps.log)

  function view (entry: CachedConversation): Conversation {
    const participants: Participant[] = []
    for (const p of entry.participants.values()) {
      participants.push({ ...p, online: p.type === 'ai' ? agents.has(p.id) : deps.isOnline(p.id) })
    }
    return { ...entry.record, participants }
  }

  /** The conversation if the user takes part in it; 404 otherwise, so ids cannot be probed. */
  async function member (user: ChatUser, id: string): Promise<CachedConversation> {
    const entry = await cache.get(id)
    if (entry === null || !entry.participants.has(user.id)) throw new CHAT_ERR_NOT_FOUND('Conversation')
    return entry
  }

  async function memberOrAdmin (user: ChatUser, id: string): Promise<CachedConversation> {
    const entry = await cache.get(id)
    if (entry === null || (!entry.participants.has(user.id) && !isAdmin(user))) {
      throw new CHAT_ERR_NOT_FOUND('Conversation')
    }
    return entry
  }

  /** Stores a message with the next seq, then hands it to the channel; `onStored` runs in between (ack). */
  async function append (
    entry: CachedConversation, draft: MessageDraft,
    opts: {
      /** Runs once stored; a promise it returns holds the delivery until it resolves. */
      onStored?: (result: AppendResult) => void | Promise<void>
      extra?: WireFrame[]
      waitForDelivery?: boolean
      reply?: ReplyFor
      settle?: (result: AppendResult) => void
    } = {}
  ): Promise<AppendResult> {
    const ch = channels.open(entry)
    ch.inflight++
    let result: AppendResult
    const end = metrics.storeSeconds.startTimer()
    try {
      result = await storage.appendMessage(entry.record.id, draft, opts.reply)
    } catch (err) {
      ch.inflight--
      channels.release(ch)
      throw err
    } finally {
      storeMs = storeMs * 0.95 + end() * 50 // smoothed ms per store (x1000 x0.05): how long a busy conversation needs
    }
    if (result.created) metrics.messages.inc({ kind: draft.kind })
    else metrics.duplicates.inc()
    const held = opts.onStored?.(result)
    if (held !== undefined) await held // counted in flight meanwhile: the channel stays open for it
    ch.inflight--
    opts.settle?.(result) // before delivery: the answer starts as the question goes out
    if (result.created) {
      if (opts.waitForDelivery === true) {
        // Resolves once it has gone out in order (an AI's stream.start must precede its chunks).
        await new Promise<void>((resolve) => { ch.deliver(result.message, opts.extra, resolve) })
      } else {
        ch.deliver(result.message, opts.extra)
        if (result.reply !== undefined) ch.deliver(result.reply) // right behind its question, in seq order
      }
      channels.stored(result.message, opts.extra)
      if (result.reply !== undefined) channels.stored(result.reply)
    }
    channels.release(ch)
    return result
  }

  function membershipFrame (conversationId: string, event: 'joined' | 'left', p: ParticipantRecord): WireFrame {
    const participant: Participant = { ...p, online: p.type === 'ai' || deps.isOnline(p.id) }
    return participantFrame(conversationId, event, participant)
  }

  async function appendMembership (entry: CachedConversation, event: 'joined' | 'left', p: ParticipantRecord): Promise<void> {
    await append(entry, {
      id: newId(),
      kind: 'system',
      sender: SYSTEM_SENDER,
      content: `${p.name} ${event === 'joined' ? 'joined' : 'left'}`,
      createdAt: new Date().toISOString(),
      metadata: { event: `participant.${event}`, participant: { id: p.id, name: p.name, type: p.type } }
    }, { extra: [membershipFrame(entry.record.id, event, p)] })
  }

  async function audit (actor: ChatUser, action: string, target: string, details?: Record<string, unknown>): Promise<void> {
    await storage.appendAudit({ id: newId(), at: new Date().toISOString(), actor: actor.id, action, target, details })
  }

  async function messages (user: ChatUser, id: string, query: { after?: number, before?: number, limit: number }): Promise<Message[]> {
    const entry = await member(user, id)
    const ch = channels.peek(id)
    // The cache holds what was delivered; while appends are in flight storage may hold more (acked) ones.
    if (ch === undefined || ch.inflight === 0) {
      const hi = Math.min(query.before ?? Infinity, Math.max(entry.record.lastSeq, ch?.delivered ?? 0) + 1)
      const lo = query.after ?? Math.max(0, hi - 1 - query.limit)
      const hit = cache.window(entry, lo, hi)
      if (hit !== undefined && coversUpTo(hit, lo, Math.min(hi - 1, lo + query.limit))) return hit.slice(0, query.limit)
    }
    return await storage.getMessages(id, query)
  }

  /**
   * The conversation's messages holding any of the words of `q`, best first, from storage (the cache holds
   * only the newest); NOT_IMPLEMENTED when the storage has no search.
   */
  async function search (user: ChatUser, id: string, query: { q: string, limit: number, cursor?: string }): Promise<Page<Message>> {
    if (query.q.trim() === '') throw new CHAT_ERR_BAD_REQUEST('q: blank (give the words to search for)')
    if ([...query.q].length > MAX_SEARCH_LENGTH) throw new CHAT_ERR_BAD_REQUEST(`q: longer than ${MAX_SEARCH_LENGTH} characters`)
    await member(user, id)
    if (storage.searchMessages === undefined) throw new CHAT_ERR_NOT_IMPLEMENTED(`the ${storage.name} storage does not search messages`)
    return await storage.searchMessages(id, query)
  }

  /**
   * A send's checks, before anything is stored: membership, limits, the user's message budget (a Redis round
   * trip with the shared counter). Several may run at once: nothing here decides the message's place.
   */
  async function prepareSend (user: ChatUser, input: SendInput): Promise<PreparedSend> {
    const entry = await member(user, input.conversationId)
    if (entry.record.closedAt !== undefined) throw new CHAT_ERR_FORBIDDEN('the conversation is closed')
    checkContent(input.content, limits)
    checkMetadata(input.metadata, limits)
    const wait = await limiter.take(user.id)
    if (wait > 0) {
      // A retry of a stored message is answered with it, limit or not: dedupe is a guarantee.
      const first = await storage.findMessageByClientId(input.conversationId, user.id, input.clientMessageId)
      if (first === null) throw withRetryAfter(new CHAT_ERR_RATE_LIMITED('messages'), wait)
      return { repeat: { message: first, created: false } }
    }
    return { user, input, entry }
  }

  /**
   * A prepared send's store, started before this returns (storage.appendMessage is called synchronously), so
   * sends stored one after another reach the storage in that order, and an ordered storage (every one here:
   * a queue or a lane per conversation) gives them seqs in that order. `onStored` runs after the store and
   * before delivery (the ack); a promise it returns holds the delivery until it resolves (the socket's replies
   * go in frame order, an ack before its message). A send the AI answers stores its answer's placeholder in
   * the same step, which not every storage orders among plain appends: it is `answered`, and its store first
   * waits for `before` (the earlier sends of its socket, stored).
   */
  function storeSend (
    prepared: PreparedSend,
    onStored?: (result: AppendResult) => void | Promise<void>,
    before?: () => Promise<void>
  ): { done: Promise<AppendResult>, answered: boolean } {
    if ('repeat' in prepared) {
      metrics.duplicates.inc()
      const held = onStored?.(prepared.repeat)
      return { done: held === undefined ? Promise.resolve(prepared.repeat) : held.then(() => prepared.repeat), answered: false }
    }
    const { user, input, entry } = prepared
    const draft: MessageDraft = {
      id: newId(),
      kind: 'text',
      sender: { id: user.id, name: user.name, type: 'human' },
      content: input.content,
      clientMessageId: input.clientMessageId,
      createdAt: new Date().toISOString()
    }
    if (input.metadata !== undefined) draft.metadata = input.metadata
    // Overload: AI work is shed first (no new answers, running ones end); only then are human sends refused.
    const pending = channels.peek(input.conversationId)?.inflight ?? 0
    const overloaded = pending >= limits.maxPendingSends / 2
    if (overloaded) claims.shed(input.conversationId)
    if (pending >= limits.maxPendingSends) {
      limiter.refund(user.id)
      return { done: Promise.reject(withRetryAfter(new CHAT_ERR_CONVERSATION_BUSY(), Math.max(100, Math.ceil(pending * storeMs)))), answered: false }
    }
    const reply = overloaded ? undefined : claims.claim(entry, draft)
    const done = (async () => {
      let result: AppendResult
      try {
        if (reply !== undefined && before !== undefined) await before()
        result = await append(entry, draft, { onStored, reply, settle: (r) => { claims.settle(draft, r) } })
      } catch (err) {
        claims.settle(draft, undefined)
        limiter.refund(user.id) // not stored (storage down): a retry is not charged twice
        throw err
      }
      if (!result.created) limiter.refund(user.id)
      return result
    })()
    return { done, answered: reply !== undefined }
  }

  const live = createLive({ storage, cache, channels, limits, member, view, isOnline: deps.isOnline, agents })

  return {
    ...live,
    /** A `join` frame spends one of the user's joins (RATE_LIMITED past the budget), before anything changes. */
    async spendJoin (user: ChatUser): Promise<void> {
      await spend('joins', user.id)
    },
    /** Subscribes a socket: after spendJoin for a `join` frame; as it is for the subscription a `send` makes. */
    subscribe: live.join,
    async typing (user: ChatUser, id: string): Promise<void> {
      await spend('typing', user.id)
      await live.typing(user, id)
    },
    isAdmin,
    view,
    member,

    async create (user: ChatUser, body: { title?: string, participants?: string[], ai?: boolean, metadata?: Record<string, unknown> }): Promise<Conversation> {
      await spend('conversations', user.id)
      const listed = [...new Set(body.participants ?? [])].filter((id) => id !== user.id)
      if (listed.includes(SYSTEM_SENDER.id)) throw new CHAT_ERR_BAD_REQUEST(`"${SYSTEM_SENDER.id}" is not a participant`)
      // An AI listed by id joins as the AI, never as a human of the same id.
      const others = listed.filter((id) => !agents.has(id))
      let agent = listed.map((id) => agents.get(id)).find((a) => a !== undefined)
      if (body.ai === true && agent === undefined) {
        agent = agents.values().next().value
        if (agent === undefined) throw new CHAT_ERR_BAD_REQUEST('no AI participant is configured')
      }
      checkMetadata(body.metadata, limits)
      const count = 1 + others.length + (agent === undefined ? 0 : 1)
      if (count > limits.maxParticipants) throw new CHAT_ERR_PARTICIPANT_LIMIT(String(limits.maxParticipants))
      const title = body.title ?? ''
      if (title.length > limits.maxTitleLength) throw new CHAT_ERR_BAD_REQUEST(`title is longer than ${limits.maxTitleLength}`)

      // One lookup for everyone listed; the creator's own name comes from their auth.
      const names = await users.lookup(others)
      const now = new Date().toISOString()
      const record: ConversationRecord = { id: newId(), title, createdBy: user.id, createdAt: now, updatedAt: now, lastSeq: 0 }
      if (body.metadata !== undefined) record.metadata = body.metadata
      const participants: ParticipantRecord[] = [
        { id: user.id, name: user.name, type: 'human', role: 'owner', joinedAt: now },
        ...others.map((id): ParticipantRecord => ({ id, name: names.get(id) ?? id, type: 'human', role: 'member', joinedAt: now }))
      ]
      if (agent !== undefined) participants.push({ id: agent.id, name: agent.name, type: 'ai', role: 'member', joinedAt: now })
      await storage.createConversation(record, participants)
      const entry: CachedConversation = { record, participants: new Map(participants.map((p) => [p.id, p])), recent: [] }
      cache.set(record.id, entry)
      // The log alone tells who was there: one system message per participant, in order.
      for (const p of participants) await appendMembership(entry, 'joined', p)
      // The others learn of it on their open sockets, so their clients can show it without polling.
      for (const p of participants.slice(1)) {
        if (p.type === 'human') deps.notify(p.id, membershipFrame(record.id, 'joined', p))
      }
      return view(entry)
    },

    async get (user: ChatUser, id: string): Promise<Conversation> {
      return view(await member(user, id))
    },

    async list (user: ChatUser | undefined, query: { limit: number, cursor?: string }): Promise<Page<Conversation>> {
      const page = await storage.listConversations({ userId: user?.id, limit: query.limit, cursor: query.cursor })
      // Listing does not pull every listed conversation into the cache (it would push out the active ones).
      const items = await Promise.all(page.items.map(async (record) => {
        const cached = cache.peek(record.id)
        if (cached !== undefined) return view(cached)
        const participants = await storage.getParticipants(record.id)
        return view({ record, participants: new Map(participants.map((p) => [p.id, p])), recent: [] })
      }))
      return { items, nextCursor: page.nextCursor }
    },

    async delete (user: ChatUser, id: string): Promise<void> {
      const entry = await memberOrAdmin(user, id)
      if (entry.participants.get(user.id)?.role !== 'owner' && !isAdmin(user)) {
        throw new CHAT_ERR_FORBIDDEN('only the owner or an admin may delete a conversation')
      }
      await storage.deleteConversation(id)
      cache.delete(id)
      channels.endSubscriptions(id)
      channels.changed(id, { deleted: true })
      for (const agent of agents.values()) agent.cancel(id)
      await audit(user, 'conversation.delete', id, { title: entry.record.title })
    },

    async close (user: ChatUser, id: string): Promise<Conversation> {
      const entry = await cache.get(id)
      if (entry === null) throw new CHAT_ERR_NOT_FOUND('Conversation')
      const record = await storage.updateConversation(id, { closedAt: new Date().toISOString() })
      if (record === null) throw new CHAT_ERR_NOT_FOUND('Conversation')
      cache.setRecord(record)
      channels.changed(id)
      await audit(user, 'conversation.close', id)
      return view(entry)
    },

    async addParticipant (user: ChatUser, id: string, body: { userId: string, name?: string }): Promise<Participant> {
      await spend('participants', user.id)
      const entry = await member(user, id)
      if (entry.record.closedAt !== undefined) throw new CHAT_ERR_FORBIDDEN('the conversation is closed')
      if (entry.participants.has(body.userId)) throw new CHAT_ERR_CONFLICT('already a participant')
      if (body.userId === SYSTEM_SENDER.id) throw new CHAT_ERR_BAD_REQUEST(`"${SYSTEM_SENDER.id}" is not a participant`)
      const agent = agents.get(body.userId)
      // An AI keeps its own name; a name given in the request wins over the host's directory.
      const name = agent?.name ?? body.name ?? (await users.lookup([body.userId])).get(body.userId) ?? body.userId
      const p: ParticipantRecord = {
        id: body.userId,
        name,
        type: agent === undefined ? 'human' : 'ai',
        role: 'member',
        joinedAt: new Date().toISOString()
      }
      const result = await storage.addParticipant(id, p, limits.maxParticipants)
      if (result === 'missing') throw new CHAT_ERR_NOT_FOUND('Conversation')
      if (result === 'exists') throw new CHAT_ERR_CONFLICT('already a participant')
      if (result === 'full') throw new CHAT_ERR_PARTICIPANT_LIMIT(String(limits.maxParticipants))
      cache.setParticipant(id, p)
      channels.changed(id)
      await appendMembership(entry, 'joined', p)
      if (p.type === 'human') deps.notify(p.id, membershipFrame(id, 'joined', p))
      return { ...p, online: p.type === 'ai' || deps.isOnline(p.id) }
    },

    async removeParticipant (user: ChatUser, id: string, userId: string): Promise<void> {
      await spend('participants', user.id)
      const entry = await memberOrAdmin(user, id)
      const target = entry.participants.get(userId)
      if (target === undefined) throw new CHAT_ERR_NOT_FOUND('Participant')
      const mayRemove = userId === user.id || entry.participants.get(user.id)?.role === 'owner' || isAdmin(user)
      if (!mayRemove) throw new CHAT_ERR_FORBIDDEN('only the participant, the owner or an admin may remove a participant')
      if (!await storage.removeParticipant(id, userId)) throw new CHAT_ERR_NOT_FOUND('Participant')
      cache.removeParticipant(id, userId)
      channels.changed(id, { removed: userId })
      await appendMembership(entry, 'left', target)
      channels.endSubscriptions(id, userId)
      if (userId !== user.id) await audit(user, 'participant.remove', id, { userId })
    },

    /** Stores a human message; `onStored` runs after the store and before delivery (the socket's ack). */
    async send (user: ChatUser, input: SendInput, onStored?: (result: AppendResult) => void): Promise<AppendResult> {
      return await storeSend(await prepareSend(user, input), onStored).done
    },

    prepareSend,
    storeSend,

    messages,
    search,

    /** GET …/messages: a range of the log, or with `q` a search of it (`after`/`before` and `q` exclude each other). */
    async history (user: ChatUser, id: string, query: HistoryQuery): Promise<{ items: Message[], nextCursor?: string | null }> {
      const { after, before, limit, q, cursor } = query
      if (q === undefined) {
        if (cursor !== undefined) throw new CHAT_ERR_BAD_REQUEST('cursor: only with q (a range of messages pages with after and before)')
        return { items: await messages(user, id, { after, before, limit }) }
      }
      if (after !== undefined || before !== undefined) throw new CHAT_ERR_BAD_REQUEST('q: not with after or before (search results page with cursor)')
      return await search(user, id, { q, limit, cursor })
    },

    async cancel (user: ChatUser, id: string, messageId: string): Promise<void> {
      const entry = await member(user, id)
      for (const p of entry.participants.values()) {
        if (p.type === 'ai' && agents.get(p.id)?.cancel(id, messageId) === true) return
      }
      throw new CHAT_ERR_NOT_FOUND('Running answer')
    },

    /** Stores a message of an agent (AI) in order, like any other. */
    async post (conversationId: string, draft: MessageDraft): Promise<Message> {
      const entry = await cache.get(conversationId)
      if (entry === null) throw new CHAT_ERR_NOT_FOUND('Conversation')
      if (entry.record.closedAt !== undefined) throw new CHAT_ERR_FORBIDDEN('the conversation is closed')
      return (await append(entry, draft, { waitForDelivery: true })).message
    },

    async audit (user: ChatUser, action: string, target: string, details?: Record<string, unknown>): Promise<void> {
      await audit(user, action, target, details)
    }
  }
}
