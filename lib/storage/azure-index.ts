import { odata, type TransactionAction } from '@azure/data-tables'
import type { ConversationRecord, Message } from '../schemas/entities.ts'
import { call, get, remove, retrying, rows, transaction, type Row, type Tables } from './azure-client.ts'
import { isRefusedInput, statusOf, toChatError } from './azure-errors.ts'
import { esc, inv, isStreamingAnswer, key, messageEntity, partition, toConversation, toMessage } from './azure-entities.ts'
import type { Page } from './types.ts'

/** Count shards in the partition 'all': creates pick one at random, so they seldom fight over one ETag. */
const SHARDS = 8
const shardKey = (n: number) => `~count${n}`
/** Index keys are inverted ids (hex digits and '~'); the shards sort after them all. */
const BEFORE_SHARDS = '~'
/** A streaming-answer entry whose message is missing is dropped once this old (its append surely failed). */
const ORPHAN_AFTER_MS = 10 * 60_000

/**
 * The index table's partitions: every conversation ('all', with its count shards), each user's ('u|user'),
 * the AI answers still streaming ('streaming'). Entries are written beside the conversation's own entities,
 * which stay the truth: a list reads every record it names (and the participant, for a user's list), and
 * skips entries a crash left behind.
 */
export function createIndex (tables: Tables) {
  /** Adds a conversation to 'all' and one count shard, in one transaction. */
  async function added (id: string): Promise<void> {
    await retrying(async () => {
      const n = Math.floor(Math.random() * SHARDS)
      const shard = await get(tables.index, partition.all, shardKey(n))
      const entry = { partitionKey: partition.all, rowKey: inv(id), id, shard: n }
      const count: TransactionAction = shard === undefined
        ? ['create', { partitionKey: partition.all, rowKey: shardKey(n), count: 1 }]
        : ['update', { partitionKey: partition.all, rowKey: shardKey(n), count: (shard.count as number) + 1 }, 'Merge', { etag: shard.etag }]
      try {
        await transaction(tables.index, [['create', entry], count])
      } catch (err) {
        // Its entry is there already: an earlier try committed and only its answer was lost.
        if (statusOf(err) === 409 && await get(tables.index, partition.all, entry.rowKey) !== undefined) return
        throw err
      }
    })
  }

  /** Takes a conversation out of 'all' and its count shard, in one transaction. */
  async function removed (id: string): Promise<void> {
    await retrying(async () => {
      const entry = await get(tables.index, partition.all, inv(id))
      if (entry === undefined) return
      const n = entry.shard as number
      const shard = await get(tables.index, partition.all, shardKey(n))
      const actions: TransactionAction[] = [['delete', { partitionKey: partition.all, rowKey: entry.rowKey as string }]]
      if (shard !== undefined) {
        actions.push(['update', { partitionKey: partition.all, rowKey: shardKey(n), count: (shard.count as number) - 1 }, 'Merge', { etag: shard.etag }])
      }
      await transaction(tables.index, actions)
    })
  }

  async function joined (userId: string, conversationId: string): Promise<void> {
    await call((opts) => tables.index.upsertEntity({ partitionKey: partition.user(userId), rowKey: inv(conversationId), id: conversationId }, 'Replace', opts))
  }

  async function left (userId: string, conversationId: string): Promise<void> {
    await remove(tables.index, partition.user(userId), inv(conversationId))
  }

  /** The record an entry names, if it still exists (and, for a user's list, the user still takes part). */
  async function live (id: string, userId: string | undefined): Promise<ConversationRecord | undefined> {
    if (userId === undefined) {
      const c = await get(tables.chat, partition.conversation(id), key.conversation)
      return c === undefined ? undefined : toConversation(c)
    }
    const filter = odata`PartitionKey eq ${partition.conversation(id)} and (RowKey eq ${key.conversation} or RowKey eq ${key.participant(userId)})`
    const found: Row[] = []
    try {
      for await (const page of tables.chat.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage()) found.push(...page)
    } catch (err) {
      if (isRefusedInput(err)) return undefined
      throw toChatError(err)
    }
    const c = found.find((r) => r.rowKey === key.conversation)
    return c !== undefined && found.length === 2 ? toConversation(c) : undefined
  }

  async function list ({ userId, limit, cursor }: { userId?: string, limit: number, cursor?: string }): Promise<Page<ConversationRecord>> {
    const n = Math.max(0, Math.floor(limit))
    const pk = userId === undefined ? partition.all : partition.user(userId)
    const items: ConversationRecord[] = []
    let more = false
    const range = { gt: cursor === undefined ? undefined : inv(cursor), lt: BEFORE_SHARDS }
    for await (const page of rows(tables.index, pk, range, n + 1, ['id'])) {
      const records = await Promise.all(page.map(async (e) => await live(e.id as string, userId)))
      for (const r of records) {
        if (r === undefined) continue
        if (items.length === n) { more = true; break }
        items.push(r)
      }
      if (more) break
    }
    return { items, nextCursor: more && items.length > 0 ? items[items.length - 1].id : null }
  }

  async function count (): Promise<number> {
    let total = 0
    for await (const page of rows(tables.index, partition.all, { ge: BEFORE_SHARDS })) {
      for (const shard of page) total += shard.count as number
    }
    return total
  }

  /**
   * Ends streaming AI answers created before `startedBefore`, oldest first: each is set to 'failed' with
   * If-Match on the ETag just read, so of sweeps running at once (in any process) one wins each answer, and
   * an answer finished meanwhile is left alone.
   */
  async function failStale (startedBefore: string, limit: number): Promise<Message[]> {
    const n = Math.max(0, Math.floor(limit))
    const out: Message[] = []
    if (n === 0) return out
    for await (const page of rows(tables.index, partition.streaming, { lt: esc(startedBefore) }, n)) {
      for (const entry of page) {
        const failed = await failOne(entry, startedBefore)
        if (failed !== undefined) out.push(failed)
        if (out.length === n) return out
      }
    }
    return out
  }

  async function failOne (entry: Row, startedBefore: string): Promise<Message | undefined> {
    const conversationId = entry.conversationId as string
    const pk = partition.conversation(conversationId)
    const result = await retrying(async (): Promise<{ message?: Message, done: boolean }> => {
      const pointer = await get(tables.chat, pk, key.pointer(entry.messageId as string))
      const row = pointer === undefined ? undefined : await get(tables.chat, pk, key.message(pointer.seq as number))
      if (row === undefined) {
        const age = Date.now() - new Date(entry.timestamp ?? Date.now()).getTime()
        return { done: age > ORPHAN_AFTER_MS }
      }
      const message = toMessage(conversationId, row)
      if (!isStreamingAnswer(message) || !(message.createdAt < startedBefore)) return { done: true }
      message.status = 'failed'
      const updated = messageEntity(message)
      await call((opts) => tables.chat.updateEntity(updated, 'Replace', { ...opts, etag: row.etag }))
      return { message, done: true }
    })
    if (result.done) await remove(tables.index, partition.streaming, entry.rowKey as string)
    return result.message
  }

  return { added, removed, joined, left, list, count, failStale }
}
