import { TableClient, type TransactionAction } from '@azure/data-tables'
import { randomUUID } from 'node:crypto'
import type { Message } from '../schemas/entities.ts'
import { createAppends } from './azure-appends.ts'
import { all, call, get, MAX_BATCH_OPS, remove, removeAll, retrying, rows, serializer, transaction, type Tables } from './azure-client.ts'
import {
  auditEntity, conversationEntity, inv, isStreamingAnswer, key, messageEntity, participantEntity, partition,
  streamingKey, toAudit, toConversation, toMessage, toParticipant
} from './azure-entities.ts'
import { statusOf } from './azure-errors.ts'
import { createIndex } from './azure-index.ts'
import type { ChatStorage } from './types.ts'

/**
 * Azure Table storage (or Cosmos DB's Table API, same SDK). Layout, in two tables:
 *
 * `<prefix>chat`: one partition per conversation (PartitionKey `c|<id>`), so that everything an append
 * touches is one entity group transaction:
 * - `c`            the record, its counter `lastSeq` (the seq; every append moves it with If-Match on the
 *                  ETag, see azure-appends.ts) and `members` (the participant count addParticipant checks,
 *                  with `membersTx`, the token of the last change to it);
 * - `p|<user>`     a participant;
 * - `m<seq>`       a message, seq zero-padded to 10 digits, so a range of seqs is a range of keys;
 * - `i|<id>`       message id → seq (updateMessage and the sweep find a message by id);
 * - `k|<hash>`     sender + clientMessageId (sha256) → seq: created in the append's transaction, so a repeat
 *                  fails it (409) and finds the first message.
 * `<prefix>chatindex`: lists that would otherwise scan everything:
 * - `all`          `inv(id)` per conversation, newest first (inverted keys: ascending keys, descending ids),
 *                  and `~count0..7`, count shards moved in the same transaction as the entry;
 * - `u|<user>`     `inv(id)` per conversation of a user, newest first; each read checks the participant;
 * - `streaming`    `<createdAt>|<conversation>|<message>` per AI answer still streaming, oldest first: written
 *                  before the append, removed once the answer ends; the stale-answer sweep reads only these;
 * - `audit`        `inv(id)` per audit entry, newest first;
 * - `probe`        the health probe's one entity.
 * Keys escape every character but letters, digits and `-_.:` (as `~xxxx`), and an id longer than 200 characters
 * so escaped is `~~<sha256>` instead (a key holds 1 KiB; Azurite takes 512 characters); long text (content, parts,
 * metadata) is split across properties of 30K characters; an entity past 1 MiB is refused (413).
 * A conversation's own entities are the truth; index entries (written before or after, never with them)
 * are checked on read. Not supported: `searchMessages` (history search answers 501).
 */
export interface AzureTableStorageOptions {
  /** The account's connection string (Azurite's for development); `http://` endpoints are allowed. */
  connectionString: string
  /** Letters and digits put before the table names (`chat`, `chatindex`), to share an account. */
  tablePrefix?: string
}

export function createAzureTableStorage (opts: AzureTableStorageOptions): ChatStorage {
  const prefix = opts.tablePrefix ?? ''
  const client = (name: string) => TableClient.fromConnectionString(opts.connectionString, `${prefix}${name}`, {
    allowInsecureConnection: /(^|;)\s*(DefaultEndpointsProtocol=http|TableEndpoint=http:|UseDevelopmentStorage=true)/i.test(opts.connectionString),
    retryOptions: { maxRetries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 1000 }
  })
  const tables: Tables = { chat: client('chat'), index: client('chatindex') }
  const appends = createAppends(tables)
  const index = createIndex(tables)
  const serial = serializer()
  const pk = partition.conversation

  async function messageById (conversationId: string, id: string) {
    const pointer = await get(tables.chat, pk(conversationId), key.pointer(id))
    return pointer === undefined ? undefined : await get(tables.chat, pk(conversationId), key.message(pointer.seq as number))
  }

  const probe = async (): Promise<void> => {
    await call((o) => tables.index.upsertEntity({ partitionKey: partition.probe, rowKey: 'probe', at: new Date().toISOString() }, 'Replace', o))
  }

  return {
    name: 'azure',

    async init () {
      await call((o) => tables.chat.createTable(o))
      await call((o) => tables.index.createTable(o))
    },

    async close () {},

    async ping () {
      await get(tables.index, partition.probe, 'ping')
    },

    probe,

    async createConversation (record, participants) {
      const id = record.id
      // Participants first, the record last: a conversation is never seen without all its participants.
      const entities = participants.map((p) => participantEntity(id, p))
      const last = entities.splice(Math.max(0, entities.length - (MAX_BATCH_OPS - 1)))
      for (let i = 0; i < entities.length; i += MAX_BATCH_OPS) {
        await transaction(tables.chat, entities.slice(i, i + MAX_BATCH_OPS).map((e): TransactionAction => ['upsert', e, 'Replace']))
      }
      await transaction(tables.chat, [['create', conversationEntity(record, participants.length)], ...last.map((e): TransactionAction => ['create', e])])
      await index.added(id)
      await Promise.all(participants.map(async (p) => { await index.joined(p.id, id) }))
    },

    async getConversation (id) {
      const c = await get(tables.chat, pk(id), key.conversation)
      return c === undefined ? null : toConversation(c)
    },

    async updateConversation (id, patch) {
      return await serial(id, async () => await retrying(async () => {
        const c = await get(tables.chat, pk(id), key.conversation)
        if (c === undefined) return null
        const record = toConversation(c)
        if (patch.title !== undefined) record.title = patch.title
        if (patch.metadata !== undefined) record.metadata = structuredClone(patch.metadata)
        if (patch.closedAt !== undefined) record.closedAt = patch.closedAt
        record.updatedAt = new Date().toISOString()
        const entity = conversationEntity(record, c.members as number)
        if (c.membersTx !== undefined) entity.membersTx = c.membersTx // a membership change's answer may still read it
        await call((o) => tables.chat.updateEntity(entity, 'Replace', { ...o, etag: c.etag }))
        return record
      }))
    },

    async deleteConversation (id) {
      if (!await remove(tables.chat, pk(id), key.conversation)) return false
      appends.forget(id)
      // The record is gone (appends now fail NOT_FOUND); then the index entries, then the partition.
      await index.removed(id)
      const rest = await all(tables.chat, pk(id), {}, ['RowKey', 'id', 'kind', 'status', 'createdAt'])
      await Promise.all(rest.map(async (r) => {
        if (r.rowKey?.startsWith('p|') === true) await index.left(r.id as string, id)
        else if (r.rowKey?.startsWith('m') === true && isStreamingAnswer(r as unknown as { kind: string, status?: string })) {
          await remove(tables.index, partition.streaming, streamingKey(r.createdAt as string, id, r.id as string))
        }
      }))
      await removeAll(tables.chat, pk(id), rest.map((r) => r.rowKey as string))
      return true
    },

    listConversations: index.list,
    countConversations: index.count,

    async getParticipants (conversationId) {
      return (await all(tables.chat, pk(conversationId), { gt: 'p|', lt: 'p}' })).map(toParticipant)
    },

    // A membership change carries a token of its own: on the participant it creates (`tx`), and on the
    // conversation's `members` count it moves (`membersTx`), in the same transaction. When its response is lost
    // and the SDK sends it again (a conflict), the retry reads the token and knows the change is done: added
    // or removed, not "exists" or "not there". (A removal's token is the conversation's: another membership
    // change landing in between overwrites it, and that removal answers "not there".)
    async addParticipant (conversationId, participant, max) {
      const tx = randomUUID()
      const result = await serial(conversationId, async () => await retrying(async () => {
        const c = await get(tables.chat, pk(conversationId), key.conversation)
        if (c === undefined) return 'missing'
        const existing = await get(tables.chat, pk(conversationId), key.participant(participant.id))
        if (existing !== undefined) return existing.tx === tx ? 'added' : 'exists'
        const members = c.members as number
        if (members >= max) return 'full'
        await transaction(tables.chat, [
          ['update', { partitionKey: pk(conversationId), rowKey: key.conversation, members: members + 1, membersTx: tx }, 'Merge', { etag: c.etag }],
          ['create', { ...participantEntity(conversationId, participant), tx }]
        ])
        return 'added'
      }))
      if (result === 'added') await index.joined(participant.id, conversationId)
      return result
    },

    async removeParticipant (conversationId, userId) {
      const tx = randomUUID()
      const removed = await serial(conversationId, async () => await retrying(async () => {
        const [p, c] = await Promise.all([
          get(tables.chat, pk(conversationId), key.participant(userId)),
          get(tables.chat, pk(conversationId), key.conversation)
        ])
        if (c?.membersTx === tx) return true
        if (p === undefined || c === undefined) return false
        try {
          await transaction(tables.chat, [
            ['update', { partitionKey: pk(conversationId), rowKey: key.conversation, members: (c.members as number) - 1, membersTx: tx }, 'Merge', { etag: c.etag }],
            ['delete', { partitionKey: pk(conversationId), rowKey: p.rowKey as string }]
          ])
        } catch (err) {
          if (statusOf(err) === 404) return false // removed (or the conversation deleted) meanwhile, in another process
          throw err
        }
        return true
      }))
      if (removed) await index.left(userId, conversationId)
      return removed
    },

    appendMessage: appends.appendMessage,

    async updateMessage (conversationId, id, patch, encoded) {
      let before: Message | undefined
      const message = await retrying(async () => {
        const row = await messageById(conversationId, id)
        if (row === undefined) return null
        const m = toMessage(conversationId, row)
        before = structuredClone(m)
        if (patch.content !== undefined) m.content = patch.content
        if (patch.parts !== undefined) m.parts = structuredClone(patch.parts)
        if (patch.status !== undefined) m.status = patch.status
        if (patch.metadata !== undefined) m.metadata = structuredClone(patch.metadata)
        if (isStreamingAnswer(m) && !isStreamingAnswer(before)) {
          await call((o) => tables.index.upsertEntity({
            partitionKey: partition.streaming, rowKey: streamingKey(m.createdAt, conversationId, m.id), conversationId, messageId: m.id
          }, 'Replace', o))
        }
        const entity = messageEntity(m, patch.parts === undefined ? undefined : encoded?.parts)
        await call((o) => tables.chat.updateEntity(entity, 'Replace', { ...o, etag: row.etag }))
        return m
      })
      if (message !== null && before !== undefined && isStreamingAnswer(before) && !isStreamingAnswer(message)) {
        await remove(tables.index, partition.streaming, streamingKey(message.createdAt, conversationId, message.id))
      }
      return message
    },

    async getMessages (conversationId, { after, before, limit }) {
      const n = Math.max(0, Math.floor(limit))
      if (n === 0) return []
      const clamp = (seq: number) => Math.max(0, Math.min(9_999_999_999, seq))
      let range: { gt: string, lt?: string, le?: string }
      if (after !== undefined) {
        // Below 'n': past the last message key, before the participants ('p|').
        range = { gt: key.message(clamp(Math.floor(after))), lt: before === undefined ? 'n' : key.message(clamp(Math.ceil(before))) }
      } else {
        // The newest below `before`: seqs have no gap, so the counter says where they start.
        const c = await get(tables.chat, pk(conversationId), key.conversation)
        if (c === undefined) return []
        const top = Math.min(c.lastSeq as number, before === undefined ? Infinity : Math.ceil(before) - 1)
        if (top <= 0) return []
        range = { gt: key.message(clamp(top - n)), le: key.message(top) }
      }
      const out: Message[] = []
      for await (const page of rows(tables.chat, pk(conversationId), range, n)) {
        for (const row of page) {
          out.push(toMessage(conversationId, row))
          if (out.length === n) return out
        }
      }
      return out
    },

    async findMessageByClientId (conversationId, senderId, clientMessageId) {
      const k = await get(tables.chat, pk(conversationId), key.clientId(senderId, clientMessageId))
      const row = k === undefined ? undefined : await get(tables.chat, pk(conversationId), key.message(k.seq as number))
      return row === undefined ? null : toMessage(conversationId, row)
    },

    failStaleAnswers: index.failStale,

    async appendAudit (entry) {
      const entity = auditEntity(entry)
      await call((o) => tables.index.createEntity(entity, o))
    },

    async listAudit ({ limit, before }) {
      const n = Math.max(0, Math.floor(limit))
      const out = []
      if (n === 0) return []
      for await (const page of rows(tables.index, partition.audit, before === undefined ? {} : { gt: inv(before) }, n)) {
        for (const row of page) {
          out.push(toAudit(row))
          if (out.length === n) return out
        }
      }
      return out
    }
  }
}
