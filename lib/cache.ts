import { LRUCache } from 'lru-cache'
import type { ConversationRecord, Message, ParticipantRecord } from './schemas/entities.ts'
import type { ChatStorage } from './storage/types.ts'

/** What the cache keeps of one active conversation. */
export interface CachedConversation {
  record: ConversationRecord
  participants: Map<string, ParticipantRecord>
  /** The newest messages, ascending and contiguous; the last one has seq `record.lastSeq` once delivered. */
  recent: Message[]
}

export interface ConversationCache {
  /** The conversation from memory, or loaded from storage (one load per id at a time); null when missing. */
  get (id: string): Promise<CachedConversation | null>
  /** Only what is in memory; never touches storage. */
  peek (id: string): CachedConversation | undefined
  /** Remembers a conversation the caller just stored. */
  set (id: string, entry: CachedConversation): void
  /** Records a delivered message (append, or replace by id for updates). */
  putMessage (message: Message): void
  setParticipant (conversationId: string, participant: ParticipantRecord): void
  removeParticipant (conversationId: string, userId: string): void
  setRecord (record: ConversationRecord): void
  delete (id: string): void
  /** Forgets everything (another instance's changes may have been missed). */
  clear (): void
  /** The messages with after < seq < before from the window, or undefined when the window does not cover them. */
  window (entry: CachedConversation, after: number, before: number): Message[] | undefined
  readonly size: number
}

/**
 * Active conversations in an LRU: metadata, participants and a window of recent messages. Writes go to
 * storage first (the manager does that) and then here, so a hit is always current for this process.
 */
export function createConversationCache (storage: ChatStorage, opts: { max: number, messages: number }): ConversationCache {
  const lru = new LRUCache<string, CachedConversation>({ max: opts.max })
  const loading = new Map<string, Promise<CachedConversation | null>>()
  /** Messages delivered while their conversation was being loaded: the load may have read before them. */
  const landed = new Map<string, Message[]>()

  function apply (entry: CachedConversation, message: Message): void {
    const recent = entry.recent
    const last = recent.length === 0 ? 0 : recent[recent.length - 1].seq
    if (message.seq > last) {
      // Keep the window contiguous: a jump means we missed some, so start over from this one.
      if (message.seq !== last + 1 && recent.length > 0) recent.length = 0
      recent.push(message)
      if (recent.length > opts.messages) recent.splice(0, recent.length - opts.messages)
    } else {
      const i = message.seq - (recent[0]?.seq ?? 0)
      // An update replaces the message, but a late copy of an AI answer never undoes its completion.
      const stale = message.status === 'streaming' && recent[i]?.status !== 'streaming'
      if (i >= 0 && recent[i]?.id === message.id && !stale) recent[i] = message
    }
    if (message.seq > entry.record.lastSeq) entry.record.lastSeq = message.seq
    if (message.createdAt > entry.record.updatedAt) entry.record.updatedAt = message.createdAt
  }

  async function load (id: string): Promise<CachedConversation | null> {
    const [record, participants, recent] = await Promise.all([
      storage.getConversation(id),
      storage.getParticipants(id),
      storage.getMessages(id, { limit: opts.messages })
    ])
    const late = landed.get(id) ?? []
    landed.delete(id)
    if (record === null) return null
    // A write may have landed while we read: keep what is already cached.
    const current = lru.get(id)
    if (current !== undefined) return current
    const entry: CachedConversation = {
      record,
      participants: new Map(participants.map((p) => [p.id, p])),
      recent
    }
    for (const message of late) apply(entry, message)
    lru.set(id, entry)
    return entry
  }

  return {
    async get (id) {
      const hit = lru.get(id)
      if (hit !== undefined) return hit
      let pending = loading.get(id)
      if (pending === undefined) {
        pending = load(id).finally(() => loading.delete(id))
        loading.set(id, pending)
      }
      return await pending
    },

    peek: (id) => lru.get(id),

    set (id, entry) {
      lru.set(id, entry)
    },

    putMessage (message) {
      const entry = lru.peek(message.conversationId)
      if (entry !== undefined) {
        apply(entry, message)
      } else if (loading.has(message.conversationId)) {
        const list = landed.get(message.conversationId) ?? []
        list.push(message)
        landed.set(message.conversationId, list)
      }
    },

    setParticipant (conversationId, participant) {
      lru.peek(conversationId)?.participants.set(participant.id, participant)
    },

    removeParticipant (conversationId, userId) {
      lru.peek(conversationId)?.participants.delete(userId)
    },

    setRecord (record) {
      const entry = lru.peek(record.id)
      if (entry !== undefined) entry.record = { ...record, lastSeq: Math.max(record.lastSeq, entry.record.lastSeq) }
    },

    clear () {
      lru.clear()
    },

    delete (id) {
      lru.delete(id)
    },

    window (entry, after, before) {
      const recent = entry.recent
      const lastSeq = entry.record.lastSeq
      const first = recent.length === 0 ? lastSeq + 1 : recent[0].seq
      const last = recent.length === 0 ? lastSeq : recent[recent.length - 1].seq
      // Covered when nothing between `after` and the window's start is missing, and the window reaches
      // as far up the range as this entry knows of.
      if (after + 1 < first && first > 1) return undefined
      const top = Math.min(before - 1, lastSeq)
      if (top > last && top > after) return undefined
      const out: Message[] = []
      for (const m of recent) if (m.seq > after && m.seq < before) out.push(m)
      return out
    },

    get size () {
      return lru.size
    }
  }
}
