import { LRUCache } from 'lru-cache'
import { CHAT_ERR_BAD_REQUEST, CHAT_ERR_INVALID_OPTS, CHAT_ERR_NOT_FOUND, CHAT_ERR_NOT_IMPLEMENTED } from '../errors.ts'
import type { ConversationRecord, Message, ParticipantRecord } from '../schemas/entities.ts'
import type { ChatStorage, ListConversationsQuery, Page } from './types.ts'

export interface RouterStorageOptions {
  /** The backends, by name. Each keeps its own conversations whole (participants, messages, seqs). */
  stores: Record<string, ChatStorage>
  /** Names the store a NEW conversation goes to (by tenant, metadata...). Existing ones never move. */
  route: (conversation: ConversationRecord, participants: ParticipantRecord[]) => string
  /** The store that keeps the audit log. Default: the first. */
  audit?: string
  /** How many conversations' whereabouts are remembered. Default 10000. */
  cacheSize?: number
}

/** Where a walk through `listConversations` stands: the last id given, and per store where to read on from. */
interface ListCursor {
  /** Every store's next items have ids below this one. */
  last: string
  /** A store's cursor (null: from its start) from which its next items can be read; a store absent is done. */
  from: Record<string, string | null>
}

/**
 * A ChatStorage over several: each new conversation goes to the store `route` names, and stays there. A
 * conversation is found where it lives (remembered in an LRU cache; on a miss every store is asked at once),
 * so everything about one conversation (seq, dedupe, atomic appends) is its store's, under the contract. Lists
 * merge the stores by id (newest first); counts add up; the stale-answer sweep, init, close, ping and probe
 * run on all; the audit log lives in one store. Search goes to the conversation's store, and is
 * NOT_IMPLEMENTED (501) for a conversation whose store has none.
 */
export function createRouterStorage (opts: RouterStorageOptions): ChatStorage {
  const names = Object.keys(opts.stores)
  if (names.length === 0) throw new CHAT_ERR_INVALID_OPTS('storage router: no stores')
  const auditName = opts.audit ?? names[0]
  const audit = opts.stores[auditName]
  if (audit === undefined) throw new CHAT_ERR_INVALID_OPTS(`storage router: audit names "${auditName}", not one of the stores (${names.join(', ')})`)
  const all = names.map((name) => opts.stores[name])
  const where = new LRUCache<string, ChatStorage>({ max: opts.cacheSize ?? 10_000 })

  /** The store holding the conversation (and its record, when it had to be read), or undefined. */
  async function locate (id: string): Promise<{ store: ChatStorage, record?: ConversationRecord } | undefined> {
    const known = where.get(id)
    if (known !== undefined) return { store: known }
    const records = await Promise.all(all.map((s) => s.getConversation(id)))
    const i = records.findIndex((r) => r !== null)
    if (i === -1) return undefined // not remembered: it may yet be created (by another process)
    where.set(id, all[i])
    return { store: all[i], record: records[i] as ConversationRecord }
  }

  /** Runs `fn` on the conversation's store, or answers `missing` when no store has it. */
  async function on<T> (id: string, missing: T | (() => T), fn: (store: ChatStorage) => Promise<T>): Promise<T> {
    const found = await locate(id)
    if (found === undefined) return typeof missing === 'function' ? (missing as () => T)() : missing
    return await fn(found.store)
  }

  /** Runs `fn` on every store; rejects with the first failure once all have settled. */
  async function each (fn: (store: ChatStorage) => Promise<void> | undefined): Promise<void> {
    const results = await Promise.allSettled(all.map(fn))
    const failed = results.find((r) => r.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  }

  const storage: ChatStorage = {
    name: `router(${names.map((n) => `${n}:${opts.stores[n].name}`).join(',')})`,
    init: () => each((s) => s.init()),
    close: () => each((s) => s.close()),
    ping: () => each((s) => s.ping()),

    async createConversation (record, participants) {
      const name = opts.route(record, participants)
      const store = Object.hasOwn(opts.stores, name) ? opts.stores[name] : undefined
      if (store === undefined) {
        throw new CHAT_ERR_INVALID_OPTS(`storage router: route() named the store "${name}", not one of ${names.join(', ')}`)
      }
      await store.createConversation(record, participants)
      where.set(record.id, store)
    },
    async getConversation (id) {
      const found = await locate(id)
      if (found === undefined) return null
      if (found.record !== undefined) return found.record
      const record = await found.store.getConversation(id)
      if (record === null) where.delete(id) // deleted meanwhile (by another process)
      return record
    },
    updateConversation: (id, patch) => on(id, null, (s) => s.updateConversation(id, patch)),
    async deleteConversation (id) {
      const deleted = await on(id, false, (s) => s.deleteConversation(id))
      where.delete(id)
      return deleted
    },
    listConversations: (query) => list(all, names, query),
    async countConversations () {
      return (await Promise.all(all.map((s) => s.countConversations()))).reduce((a, b) => a + b, 0)
    },

    getParticipants: (id) => on(id, [], (s) => s.getParticipants(id)),
    addParticipant: (id, participant, max) => on(id, 'missing' as const, (s) => s.addParticipant(id, participant, max)),
    removeParticipant: (id, userId) => on(id, false, (s) => s.removeParticipant(id, userId)),

    appendMessage: (id, draft, reply) => on(id, () => { throw new CHAT_ERR_NOT_FOUND('Conversation') }, (s) => s.appendMessage(id, draft, reply)),
    updateMessage: (id, messageId, patch, encoded) => on(id, null, (s) => s.updateMessage(id, messageId, patch, encoded)),
    getMessages: (id, range) => on(id, [], (s) => s.getMessages(id, range)),
    findMessageByClientId: (id, senderId, clientMessageId) => on(id, null, (s) => s.findMessageByClientId(id, senderId, clientMessageId)),
    async failStaleAnswers (startedBefore, limit) {
      // One store after another, each with what the limit leaves: every answer failed is returned.
      const failed: Message[] = []
      for (const s of all) {
        if (failed.length >= limit) break
        failed.push(...await s.failStaleAnswers(startedBefore, limit - failed.length))
      }
      return failed.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0))
    },

    appendAudit: (entry) => audit.appendAudit(entry),
    listAudit: (query) => audit.listAudit(query)
  }
  if (all.some((s) => s.searchMessages !== undefined)) {
    storage.searchMessages = (id, query) => on(id, { items: [], nextCursor: null }, async (s): Promise<Page<Message>> => {
      if (s.searchMessages === undefined) throw new CHAT_ERR_NOT_IMPLEMENTED(`Search is not available in the storage of this conversation (${s.name})`)
      return await s.searchMessages(id, query)
    })
  }
  if (all.some((s) => s.probe !== undefined)) storage.probe = () => each((s) => s.probe?.())
  return storage
}

/**
 * One page of the stores merged, newest first by id (ids sort by creation time across stores). Each store is
 * read from where the cursor says, skipping the ids already given, until it has `limit` new ones or ends; the
 * next cursor keeps, per store, the cursor of the page its first item not given came from.
 */
async function list (all: ChatStorage[], names: string[], { userId, limit, cursor }: ListConversationsQuery): Promise<Page<ConversationRecord>> {
  const at = readCursor(cursor, names)
  if (limit <= 0) return { items: [], nextCursor: null }
  const read = await Promise.all(names.map(async (name, i) => {
    if (at !== undefined && !Object.hasOwn(at.from, name)) return { name, items: [], next: null } // done
    const items: Array<{ record: ConversationRecord, from: string | null }> = []
    let from = at === undefined ? null : at.from[name]
    for (;;) {
      const page = await all[i].listConversations({ userId, limit, cursor: from ?? undefined })
      for (const record of page.items) if (at === undefined || record.id < at.last) items.push({ record, from })
      if (items.length >= limit || page.nextCursor === null) return { name, items, next: page.nextCursor }
      from = page.nextCursor
    }
  }))
  const merged = read.flatMap((r) => r.items.map((item) => ({ ...item, name: r.name })))
    .sort((a, b) => (a.record.id < b.record.id ? 1 : a.record.id > b.record.id ? -1 : 0))
  const given = merged.slice(0, Math.max(0, limit))
  const rest = merged.slice(given.length)
  const items = given.map((item) => item.record)
  if (items.length === 0 || (rest.length === 0 && read.every((r) => r.next === null))) return { items, nextCursor: null }
  const next: ListCursor = { last: items[items.length - 1].id, from: {} }
  for (const r of read) {
    const first = rest.find((item) => item.name === r.name)
    if (first !== undefined) next.from[r.name] = first.from
    else if (r.next !== null) next.from[r.name] = r.next
  }
  return { items, nextCursor: Buffer.from(JSON.stringify(next)).toString('base64url') }
}

function readCursor (cursor: string | undefined, names: string[]): ListCursor | undefined {
  if (cursor === undefined) return undefined
  let parsed: Partial<ListCursor> | undefined
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString())
  } catch {}
  const valid = typeof parsed?.last === 'string' && typeof parsed.from === 'object' && parsed.from !== null &&
    Object.entries(parsed.from).every(([name, c]) => names.includes(name) && (c === null || typeof c === 'string'))
  if (!valid) throw new CHAT_ERR_BAD_REQUEST('cursor: not a nextCursor of this list')
  return parsed as ListCursor
}
