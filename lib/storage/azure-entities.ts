import { createHash } from 'node:crypto'
import { CHAT_ERR_TOO_LARGE } from '../errors.ts'
import type { ConversationRecord, Message, ParticipantRecord } from '../schemas/entities.ts'
import type { AuditEntry, MessageDraft } from './types.ts'

/**
 * Keys and entities of the Azure Table storage (layout: azure.ts). Keys hold only characters the service
 * takes (never / \ # ? or control characters); long strings are split across properties.
 */

/** A property holds 64 KiB (32K UTF-16 units); chunks stay below it. */
const CHUNK = 30_000
/** An entity holds 1 MiB as the service counts it (UTF-16 strings plus names and overheads). */
const MAX_ENTITY_BYTES = 1024 * 1024 - 4096

/** Any string as key text: letters, digits, - _ . : kept; every other UTF-16 unit as ~XXXX. Order-preserving for ISO timestamps. */
export function esc (value: string): string {
  return value.replace(/[^A-Za-z0-9_.:-]/g, (ch) => `~${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * The longest `esc` text a key holds as it is. A key is at most 1 KiB (Azurite takes 512 characters): an id
 * of 128 characters escaped may be 640, and a key may join two ids.
 */
const MAX_KEY_TEXT = 200
const sha256 = (value: string): string => createHash('sha256').update(value).digest('base64url')

/**
 * An id as key text: `esc(value)`, or when that is longer than 200 characters, `~~` and its sha256 (in
 * `esc` text '~' is always followed by a hex digit, so the two never meet). Equality only: not order-preserving.
 */
export function idKey (value: string): string {
  const escaped = esc(value)
  return escaped.length <= MAX_KEY_TEXT ? escaped : `~~${sha256(value)}`
}

/** Units of an id `inv` writes out in full (4 hex digits each); the rest goes into a hash. */
const INV_UNITS = 100

/**
 * A key that sorts the other way round: each UTF-16 unit as four hex digits, every digit inverted (0↔f),
 * then '~' (after every digit, so that an id sorts after the longer ids it begins). Ascending keys are ids descending.
 * An id longer than 100 units keeps a key of at most 444 characters: its first 100 units so, then '}' (before
 * '~': it sorts before the ids it begins) and the sha256 of the whole id. Ids of over 100 units that share
 * their first 100 sort among themselves by that hash; every other order is kept.
 */
export function inv (value: string): string {
  let out = ''
  const n = Math.min(value.length, INV_UNITS)
  for (let i = 0; i < n; i++) {
    out += (0xffff - value.charCodeAt(i)).toString(16).padStart(4, '0')
  }
  return value.length <= INV_UNITS ? `${out}~` : `${out}}${sha256(value)}`
}

/** Row keys inside a conversation's partition. */
export const key = {
  conversation: 'c',
  participant: (userId: string) => `p|${idKey(userId)}`,
  message: (seq: number) => `m${String(seq).padStart(10, '0')}`,
  /** The message id → seq pointer (updateMessage and the sweep find a message by its id). */
  pointer: (messageId: string) => `i|${idKey(messageId)}`,
  /** One per (sender, clientMessageId): a hash, so that ids of any length fit a key. */
  clientId: (senderId: string, clientMessageId: string) =>
    `k|${createHash('sha256').update(senderId).update('\u0000').update(clientMessageId).digest('base64url')}`
}

/** Partition keys. */
export const partition = {
  conversation: (id: string) => `c|${idKey(id)}`,
  /** Index table: every conversation, newest first, with the count shards. */
  all: 'all',
  /** Index table: one user's conversations, newest first. */
  user: (userId: string) => `u|${idKey(userId)}`,
  /** Index table: AI answers still streaming, oldest first. */
  streaming: 'streaming',
  audit: 'audit',
  probe: 'probe'
}

export const streamingKey = (createdAt: string, conversationId: string, messageId: string) =>
  `${esc(createdAt)}|${idKey(conversationId)}|${idKey(messageId)}`

export type Entity = Record<string, unknown> & { partitionKey: string, rowKey: string }

/** Sets `name` (and name_1, name_2... with name_n the count, when it does not fit one property). */
export function putText (entity: Record<string, unknown>, name: string, value: string): void {
  if (value.length <= CHUNK) {
    entity[name] = value
    return
  }
  let n = 0
  for (let at = 0; at < value.length; n++) {
    let end = Math.min(value.length, at + CHUNK)
    const last = value.charCodeAt(end - 1)
    if (end < value.length && last >= 0xd800 && last <= 0xdbff) end-- // never split a surrogate pair
    entity[n === 0 ? name : `${name}_${n}`] = value.slice(at, end)
    at = end
  }
  entity[`${name}_n`] = n
}

/** The text `putText` wrote, or undefined. */
export function getText (entity: Record<string, unknown>, name: string): string | undefined {
  const first = entity[name]
  if (typeof first !== 'string') return undefined
  const n = entity[`${name}_n`]
  if (typeof n !== 'number') return first
  let out = first
  for (let i = 1; i < n; i++) out += entity[`${name}_${i}`] as string
  return out
}

const getJson = <T> (entity: Record<string, unknown>, name: string): T | undefined => {
  const text = getText(entity, name)
  return text === undefined ? undefined : JSON.parse(text) as T
}

/** The size the service counts for an entity; one past 1 MiB is refused (CHAT_ERR_TOO_LARGE, 413). */
export function checkSize (entity: Entity): Entity {
  let bytes = 4
  for (const [name, value] of Object.entries(entity)) {
    bytes += 8 + name.length * 2 + (typeof value === 'string' ? value.length * 2 + 4 : 8)
  }
  if (bytes > MAX_ENTITY_BYTES) {
    throw new CHAT_ERR_TOO_LARGE(`the message is too large for Azure Table storage (${bytes} of at most ${MAX_ENTITY_BYTES} bytes)`)
  }
  return entity
}

/** Roughly the bytes a draft adds to a transaction's body (UTF-8 JSON, at most 3 bytes per UTF-16 unit). */
export function draftBytes (draft: MessageDraft): number {
  let units = draft.content.length + 512
  if (draft.parts !== undefined) units += JSON.stringify(draft.parts).length
  if (draft.metadata !== undefined) units += JSON.stringify(draft.metadata).length
  return units * 3
}

export function conversationEntity (record: ConversationRecord, members: number): Entity {
  const e: Entity = {
    partitionKey: partition.conversation(record.id),
    rowKey: key.conversation,
    id: record.id,
    title: record.title,
    createdBy: record.createdBy,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    lastSeq: record.lastSeq,
    members
  }
  if (record.metadata !== undefined) putText(e, 'metadata', JSON.stringify(record.metadata))
  if (record.closedAt !== undefined) e.closedAt = record.closedAt
  return e
}

export function toConversation (e: Record<string, unknown>): ConversationRecord {
  const c: ConversationRecord = {
    id: e.id as string,
    title: e.title as string,
    createdBy: e.createdBy as string,
    createdAt: e.createdAt as string,
    updatedAt: e.updatedAt as string,
    lastSeq: e.lastSeq as number
  }
  const metadata = getJson<Record<string, unknown>>(e, 'metadata')
  if (metadata !== undefined) c.metadata = metadata
  if (typeof e.closedAt === 'string') c.closedAt = e.closedAt
  return c
}

export function participantEntity (conversationId: string, p: ParticipantRecord): Entity {
  return { partitionKey: partition.conversation(conversationId), rowKey: key.participant(p.id), ...p }
}

export function toParticipant (e: Record<string, unknown>): ParticipantRecord {
  return { id: e.id as string, name: e.name as string, type: e.type as ParticipantRecord['type'], role: e.role as ParticipantRecord['role'], joinedAt: e.joinedAt as string }
}

/** A message as stored, its parts given already serialized when the caller has them so. */
export function messageEntity (message: Message, partsJson?: string): Entity {
  const e: Entity = {
    partitionKey: partition.conversation(message.conversationId),
    rowKey: key.message(message.seq),
    seq: message.seq,
    id: message.id,
    kind: message.kind,
    sender: JSON.stringify(message.sender),
    createdAt: message.createdAt
  }
  putText(e, 'content', message.content)
  if (message.parts !== undefined) putText(e, 'parts', partsJson ?? JSON.stringify(message.parts))
  if (message.status !== undefined) e.status = message.status
  if (message.replyTo !== undefined) e.replyTo = message.replyTo
  if (message.clientMessageId !== undefined) e.clientMessageId = message.clientMessageId
  if (message.metadata !== undefined) putText(e, 'metadata', JSON.stringify(message.metadata))
  return checkSize(e)
}

export function toMessage (conversationId: string, e: Record<string, unknown>): Message {
  const m: Message = {
    id: e.id as string,
    conversationId,
    seq: e.seq as number,
    kind: e.kind as Message['kind'],
    sender: JSON.parse(e.sender as string),
    content: getText(e, 'content') ?? '',
    createdAt: e.createdAt as string
  }
  const parts = getJson<unknown[]>(e, 'parts')
  if (parts !== undefined) m.parts = parts
  if (typeof e.status === 'string') m.status = e.status as Message['status']
  if (typeof e.replyTo === 'number') m.replyTo = e.replyTo
  if (typeof e.clientMessageId === 'string') m.clientMessageId = e.clientMessageId
  const metadata = getJson<Record<string, unknown>>(e, 'metadata')
  if (metadata !== undefined) m.metadata = metadata
  return m
}

/** A draft with its seq: the message as stored, without the keys set to undefined. */
export function fromDraft (conversationId: string, draft: MessageDraft, seq: number): Message {
  const m: Message = {
    id: draft.id,
    conversationId,
    seq,
    kind: draft.kind,
    sender: { ...draft.sender },
    content: draft.content,
    createdAt: draft.createdAt
  }
  if (draft.parts !== undefined) m.parts = structuredClone(draft.parts)
  if (draft.status !== undefined) m.status = draft.status
  if (draft.replyTo !== undefined) m.replyTo = draft.replyTo
  if (draft.clientMessageId !== undefined) m.clientMessageId = draft.clientMessageId
  if (draft.metadata !== undefined) m.metadata = structuredClone(draft.metadata)
  return m
}

export function auditEntity (entry: AuditEntry): Entity {
  const e: Entity = { partitionKey: partition.audit, rowKey: inv(entry.id), id: entry.id, at: entry.at, actor: entry.actor, action: entry.action }
  if (entry.target !== undefined) e.target = entry.target
  if (entry.details !== undefined) putText(e, 'details', JSON.stringify(entry.details))
  return checkSize(e)
}

export function toAudit (e: Record<string, unknown>): AuditEntry {
  const a: AuditEntry = { id: e.id as string, at: e.at as string, actor: e.actor as string, action: e.action as string }
  if (typeof e.target === 'string') a.target = e.target
  const details = getJson<Record<string, unknown>>(e, 'details')
  if (details !== undefined) a.details = details
  return a
}

/** An AI answer the sweep must end if its writer dies. */
export const isStreamingAnswer = (m: { kind: string, status?: string }): boolean => m.kind === 'ai' && m.status === 'streaming'
