import { CHAT_ERR_NOT_FOUND } from '../errors.ts'
import type { ConversationRecord, Message, ParticipantRecord } from '../schemas/entities.ts'
import type {
  AddParticipantResult, AppendResult, ReplyFor, AuditEntry, ChatStorage, ConversationPatch, EncodedPatch, ListConversationsQuery,
  MessageDraft, MessagePatch, MessageRange, Page, SearchQuery
} from './types.ts'
import { compareSearchKeys, isAfter, readSearchCursor, scoreText, searchPage, searchTerms, type SearchKey } from './search-query.ts'

interface StoredConversation {
  record: ConversationRecord
  participants: Map<string, ParticipantRecord>
  messages: Message[] // index i holds seq i + 1
  byClientId: Map<string, Message>
}

/** A deep copy without the top-level keys set to undefined: they mean "absent" (in a record) or "unchanged" (in a patch). */
function copy<T extends object> (value: T): T {
  const out = structuredClone(value)
  for (const key of Object.keys(out) as Array<keyof T>) if (out[key] === undefined) delete out[key]
  return out
}

/** A deep copy of a message: its fixed fields by hand, only its free-form JSON (parts, metadata) cloned in depth. */
function copyMessage (m: Message): Message {
  const out: Message = { ...m, sender: { ...m.sender } }
  if (m.parts !== undefined) out.parts = structuredClone(m.parts)
  if (m.metadata !== undefined) out.metadata = structuredClone(m.metadata)
  return out
}

/** The message stored for a draft: a copy of the draft, its fields set to undefined left out. */
function fromDraft (d: MessageDraft, conversationId: string, seq: number): Message {
  const m: Message = {
    id: d.id, conversationId, seq, kind: d.kind, sender: { ...d.sender }, content: d.content, createdAt: d.createdAt
  }
  if (d.parts !== undefined) m.parts = structuredClone(d.parts)
  if (d.status !== undefined) m.status = d.status
  if (d.replyTo !== undefined) m.replyTo = d.replyTo
  if (d.clientMessageId !== undefined) m.clientMessageId = d.clientMessageId
  if (d.metadata !== undefined) m.metadata = structuredClone(d.metadata)
  return m
}

/**
 * Keeps everything in this process. Appends are synchronous inside one call, which is what makes seq atomic
 * here; it is for tests, development and single-process hosts that accept losing history on restart.
 */
export function createMemoryStorage (): ChatStorage {
  const conversations = new Map<string, StoredConversation>()
  const audit: AuditEntry[] = []

  function must (id: string): StoredConversation {
    const c = conversations.get(id)
    if (c === undefined) throw new CHAT_ERR_NOT_FOUND('Conversation')
    return c
  }

  return {
    name: 'memory',
    async init () {},
    async close () {},
    async ping () {},
    async probe () {}, // memory always takes a write

    async createConversation (record, participants) {
      conversations.set(record.id, {
        record: copy(record),
        participants: new Map(participants.map((p) => [p.id, { ...p }])),
        messages: [],
        byClientId: new Map()
      })
    },

    async getConversation (id) {
      const c = conversations.get(id)
      return c === undefined ? null : structuredClone(c.record)
    },

    async updateConversation (id, patch: ConversationPatch) {
      const c = conversations.get(id)
      if (c === undefined) return null
      Object.assign(c.record, copy(patch), { updatedAt: new Date().toISOString() })
      return structuredClone(c.record)
    },

    async deleteConversation (id) {
      return conversations.delete(id)
    },

    async listConversations ({ userId, limit, cursor }: ListConversationsQuery): Promise<Page<ConversationRecord>> {
      const items: ConversationRecord[] = []
      const ids = [...conversations.keys()].sort().reverse()
      for (const id of ids) {
        if (cursor !== undefined && id >= cursor) continue
        const c = conversations.get(id) as StoredConversation
        if (userId !== undefined && !c.participants.has(userId)) continue
        if (items.length === limit) return { items, nextCursor: items[items.length - 1].id }
        items.push(structuredClone(c.record))
      }
      return { items, nextCursor: null }
    },

    async countConversations () {
      return conversations.size
    },

    async getParticipants (conversationId) {
      const c = conversations.get(conversationId)
      return c === undefined ? [] : [...c.participants.values()].map((p) => ({ ...p }))
    },

    async addParticipant (conversationId, participant, max): Promise<AddParticipantResult> {
      const c = conversations.get(conversationId)
      if (c === undefined) return 'missing'
      if (c.participants.has(participant.id)) return 'exists'
      if (c.participants.size >= max) return 'full'
      c.participants.set(participant.id, { ...participant })
      return 'added'
    },

    async removeParticipant (conversationId, userId) {
      return conversations.get(conversationId)?.participants.delete(userId) ?? false
    },

    /** The draft is copied once into what is kept, and what is kept once into what is returned. */
    async appendMessage (conversationId, draft: MessageDraft, reply?: ReplyFor): Promise<AppendResult> {
      const c = must(conversationId)
      const key = draft.clientMessageId === undefined ? undefined : `${draft.sender.id}\u0000${draft.clientMessageId}`
      if (key !== undefined) {
        const first = c.byClientId.get(key)
        if (first !== undefined) return { message: copyMessage(first), created: false }
      }
      const push = (d: MessageDraft): Message => {
        const message = fromDraft(d, conversationId, c.record.lastSeq + 1)
        c.messages.push(message)
        c.record.lastSeq = message.seq
        c.record.updatedAt = d.createdAt
        return message
      }
      const message = push(draft)
      if (key !== undefined) c.byClientId.set(key, message)
      const result: AppendResult = { message: copyMessage(message), created: true }
      const next = reply?.(copyMessage(message))
      if (next !== undefined) result.reply = copyMessage(push(next))
      return result
    },

    async updateMessage (conversationId, messageId, patch: MessagePatch, encoded?: EncodedPatch) {
      const c = conversations.get(conversationId)
      if (c === undefined) return null
      // Updates concern recent messages (AI answers): search from the end.
      for (let i = c.messages.length - 1; i >= 0; i--) {
        const stored = c.messages[i]
        if (stored.id !== messageId) continue
        const { parts, ...rest } = patch
        Object.assign(stored, copy(rest))
        if (parts === undefined) return copyMessage(stored)
        // The parts are copied once, into the store: from their JSON when the caller has it (a parse costs half a
        // structuredClone). The caller's own parts are returned, as SQLite and PostgreSQL return them.
        stored.parts = encoded?.parts !== undefined ? JSON.parse(encoded.parts) as unknown[] : structuredClone(parts)
        const out: Message = { ...stored, sender: { ...stored.sender }, parts }
        if (stored.metadata !== undefined) out.metadata = structuredClone(stored.metadata)
        return out
      }
      return null
    },

    async getMessages (conversationId, { after, before, limit }: MessageRange) {
      const c = conversations.get(conversationId)
      if (c === undefined) return []
      const lo = Math.max(after ?? 0, 0) // seq > lo
      const hi = Math.min(before ?? Infinity, c.messages.length + 1) // seq < hi
      if (hi - lo - 1 <= 0) return []
      // with `after`, the first `limit` from lo; with only `before` (or nothing), the newest `limit` below hi
      const start = after !== undefined ? lo : Math.max(lo, hi - 1 - limit)
      const end = Math.min(hi - 1, start + limit)
      return c.messages.slice(start, end).map(copyMessage)
    },

    /**
     * A scan of the conversation (search-query.ts): a message's score is how many of the words it holds, then
     * how often it holds them; equal scores newest first. A page takes the matches ranking after the cursor's.
     */
    async searchMessages (conversationId, { q, limit, cursor }: SearchQuery): Promise<Page<Message>> {
      const c = conversations.get(conversationId)
      const position = readSearchCursor(cursor) ?? { ceiling: c?.record.lastSeq ?? 0 }
      const terms = new Set(searchTerms(q))
      if (c === undefined || terms.size === 0 || limit <= 0) return { items: [], nextCursor: null }
      const scored: Array<{ message: Message, key: SearchKey }> = []
      for (const message of c.messages.slice(0, position.ceiling)) {
        const { words, hits } = scoreText(message.content, terms)
        const key = { words, hits, seq: message.seq }
        if (words > 0 && isAfter(key, position)) scored.push({ message, key })
      }
      scored.sort((a, b) => compareSearchKeys(a.key, b.key))
      const page = searchPage(scored.slice(0, limit + 1), limit, position, (s) => s.key)
      return { items: page.items.map((s) => copyMessage(s.message)), nextCursor: page.nextCursor }
    },

    async findMessageByClientId (conversationId, senderId, clientMessageId) {
      const m = conversations.get(conversationId)?.byClientId.get(`${senderId}\u0000${clientMessageId}`)
      return m === undefined ? null : copyMessage(m)
    },

    async failStaleAnswers (startedBefore, limit) {
      const stale: Message[] = []
      for (const c of conversations.values()) {
        for (const m of c.messages) if (m.kind === 'ai' && m.status === 'streaming' && m.createdAt < startedBefore) stale.push(m)
      }
      stale.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0))
      return stale.slice(0, Math.max(0, limit)).map((m) => {
        m.status = 'failed'
        return copyMessage(m)
      })
    },

    async appendAudit (entry) {
      audit.push(copy(entry))
    },

    async listAudit ({ limit, before }) {
      const out: AuditEntry[] = []
      for (let i = audit.length - 1; i >= 0 && out.length < limit; i--) {
        if (before !== undefined && audit[i].id >= before) continue
        out.push(structuredClone(audit[i]))
      }
      return out
    }
  }
}
