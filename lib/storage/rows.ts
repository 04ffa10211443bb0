import type { ConversationRecord, Message, ParticipantRecord } from '../schemas/entities.ts'

/**
 * Rows as the SQL storages keep them, and their mapping to the entities. `J` is how a JSON column comes back:
 * text in SQLite, already parsed (jsonb) in PostgreSQL. Absent optional fields stay absent (the contract
 * compares shapes exactly).
 */
export interface ConversationRowOf<J> {
  id: string,
  title: string,
  created_by: string,
  created_at: string,
  updated_at: string,
  last_seq: number
  metadata: J | null,
  closed_at: string | null
}
export interface ParticipantRow {
  user_id: string, name: string, type: ParticipantRecord['type'], role: ParticipantRecord['role'], joined_at: string
}
export interface MessageRowOf<J> {
  conversation_id: string,
  seq: number,
  id: string,
  kind: Message['kind'],
  sender: J,
  content: string
  parts: J | null,
  status: Message['status'] | null,
  reply_to: number | null,
  client_message_id: string | null
  created_at: string,
  metadata: J | null
}

/** Sets `key` on `target` unless the column is NULL, so an absent optional field is absent as a key too. */
export function optional<T extends object, K extends keyof T> (target: T, key: K, value: T[K] | null): void {
  if (value !== null) target[key] = value
}

export function rowReader<J> (decode: (value: J) => any) {
  const json = <T>(value: J | null): T | null => value === null ? null : decode(value) as T
  return {
    toConversation (row: ConversationRowOf<J>): ConversationRecord {
      const c: ConversationRecord = {
        id: row.id,
        title: row.title,
        createdBy: row.created_by,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
        lastSeq: row.last_seq
      }
      optional(c, 'metadata', json<Record<string, unknown>>(row.metadata))
      optional(c, 'closedAt', row.closed_at)
      return c
    },
    toParticipant (row: ParticipantRow): ParticipantRecord {
      return { id: row.user_id, name: row.name, type: row.type, role: row.role, joinedAt: row.joined_at }
    },
    toMessage (row: MessageRowOf<J>): Message {
      const m: Message = {
        id: row.id,
        conversationId: row.conversation_id,
        seq: row.seq,
        kind: row.kind,
        sender: decode(row.sender),
        content: row.content,
        createdAt: row.created_at
      }
      optional(m, 'parts', json<unknown[]>(row.parts))
      optional(m, 'status', row.status)
      optional(m, 'replyTo', row.reply_to)
      optional(m, 'clientMessageId', row.client_message_id)
      optional(m, 'metadata', json<Record<string, unknown>>(row.metadata))
      return m
    }
  }
}
