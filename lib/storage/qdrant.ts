import { createHash } from 'node:crypto'
import type { QdrantClient } from '@qdrant/js-client-rest'
import { CHAT_ERR_INVALID_OPTS, CHAT_ERR_UNAVAILABLE, withRetryAfter } from '../errors.ts'
import type { Message } from '../schemas/entities.ts'
import type { Embedder } from './embedding.ts'
import { loadDriver } from './index.ts'
import { compareSearchKeys, isAfter, readSearchCursor, searchPage, searchTerms } from './search-query.ts'
import type { ChatStorage, Page, SearchQuery } from './types.ts'

export interface QdrantStorageOptions {
  /** Qdrant's REST address, e.g. http://localhost:6333. */
  url: string
  apiKey?: string
  /** One collection holds the messages of every conversation; it is created (cosine, `embed.dimensions`) if missing. */
  collection: string
  /** The host's embedder (lib/storage/embedding.ts has a deterministic, non-semantic one for tests and demos). */
  embed: Embedder
  /** Keeps conversations, participants, seqs, dedupe and the messages themselves: the source of truth. */
  base: ChatStorage
  /** The longest one Qdrant request may take, in ms. Default 5000. */
  timeoutMs?: number
  /** Index writes that failed wait for a retry, at most this many; past it the oldest is dropped. Default 1000. */
  maxPending?: number
  /** How often the writes that failed are retried, in ms. Default 5000. */
  retryMs?: number
  /** A search ranks at most this many of the best matches (every page asks Qdrant for them again). Default 1000. */
  maxHits?: number
  /** Hits scoring below this cosine similarity are left out of search results. Default: none are. */
  minScore?: number
  /** Told of every index write that failed (to log it); the message itself is stored and acked all the same. */
  onIndexError?: (err: unknown) => void
}

export interface QdrantStorage extends ChatStorage {
  searchMessages (conversationId: string, query: SearchQuery): Promise<Page<Message>>
  /** Retries the index writes that failed now, rather than at the next `retryMs` tick; how many still wait. */
  flushIndex (): Promise<number>
}

/** One write to the index, replayable: a retry runs `run` again (and embeds again). */
interface IndexWrite {
  conversationId: string
  /** Writes with one key replace each other while they wait: the point's id, or the conversation's. */
  key: string
  /** Order of creation across all writes: of two writes with one key, the higher is the newer. */
  version: number
  run (client: QdrantClient): Promise<void>
}

/**
 * Messages searchable by meaning in Qdrant, everything else in `base`. Qdrant has no transactions or conditional
 * writes, so it cannot hand out gap-free seqs across processes: `base` (any ChatStorage) does all the contract
 * asks, and Qdrant holds an index beside it, one point per message (id derived from the message id, payload
 * conversationId, seq, senderId, content, createdAt, vector `embed(content)`). Search keeps to the contract's
 * meaning of a query (search-query.ts): the messages of the conversation holding any of the words of `q`
 * (Qdrant's full-text index on content, made with the collection), but ranked by the cosine similarity of their
 * vectors to `embed(q)`, equal scores newest first; returned as `base` has them. Each page asks Qdrant for the
 * `maxHits` best and cuts its page out of them (so no search reaches past them); a walk through the pages keeps
 * to the messages there were at its first page (a seq ceiling in the cursor), so new ones neither repeat nor
 * push out a message.
 *
 * The index follows `base` in the background, so a message is acked as soon as `base` stored it:
 * - writes go to Qdrant one at a time per conversation, in order; a search or delete in this process first
 *   waits for the conversation's writes in flight (read your writes; other processes see them a moment later);
 * - an AI answer is indexed when it ends (a streaming placeholder has nothing to find), any message with
 *   blank content never is;
 * - while Qdrant (or the embedder) fails, writes wait in a bounded queue, retried every `retryMs`; until then
 *   those messages are missing from search, and search itself rejects with UNAVAILABLE while Qdrant is down.
 *   What the queue drops (past `maxPending`, or lost with the process) stays missing until that message is
 *   updated: the index is best effort, the messages themselves are never lost.
 * `init` needs Qdrant up: it checks the collection's vector size against `embed.dimensions`.
 */
export function createQdrantStorage (opts: QdrantStorageOptions): QdrantStorage {
  const { base, embed, collection, timeoutMs = 5000, maxPending = 1000, retryMs = 5000, maxHits = 1000 } = opts
  let client: QdrantClient | undefined
  /** Per conversation, the last write queued: the next one runs after it. */
  const chains = new Map<string, Promise<void>>()
  const pending = new Map<string, IndexWrite>()
  let timer: NodeJS.Timeout | undefined
  let versions = 0
  /** Until when writes are set aside untried, after one failed. */
  let downUntil = 0

  function qdrant (): QdrantClient {
    if (client === undefined) throw new CHAT_ERR_UNAVAILABLE('Qdrant storage is not initialized')
    return client
  }

  /** Sets `write` aside for a retry, in place of an older write of its key (never of a newer one); past `maxPending` the oldest goes. */
  function park (write: IndexWrite): void {
    if ((pending.get(write.key)?.version ?? -1) > write.version) return // a newer one waits: it stands for this one
    pending.delete(write.key)
    pending.set(write.key, write)
    if (pending.size > maxPending) pending.delete(pending.keys().next().value as string)
  }

  /**
   * Runs `write` after the conversation's earlier writes; never rejects (a failure waits in `pending`). For
   * `retryMs` after a failure, writes are set aside untried (so a hanging Qdrant does not pile them up here),
   * unless `force`d by a retry.
   */
  function enqueue (write: IndexWrite, force = false): Promise<void> {
    const id = write.conversationId
    const tail = (chains.get(id) ?? Promise.resolve()).then(async () => {
      // A newer write of this key waits already (this one was retried late): this one is stale, never written.
      if ((pending.get(write.key)?.version ?? -1) > write.version) return
      if (!force && Date.now() < downUntil) return park(write)
      try {
        await write.run(qdrant())
        // What waits under this key goes only if older: a newer write set aside meanwhile still has to land.
        if ((pending.get(write.key)?.version ?? Infinity) <= write.version) pending.delete(write.key)
        downUntil = 0
      } catch (err) {
        downUntil = Date.now() + retryMs
        park(write)
        opts.onIndexError?.(err)
      }
    })
    chains.set(id, tail)
    void tail.then(() => { if (chains.get(id) === tail) chains.delete(id) })
    return tail
  }

  /**
   * Queues a new write. One of its key that waits for a retry is older, and this one stands for it: it is
   * dropped now, so that a retry cannot run it after this one (and overwrite this one's point with older data).
   */
  function submit (write: Omit<IndexWrite, 'version'>): void {
    pending.delete(write.key)
    void enqueue({ ...write, version: ++versions })
  }

  function index (message: Message, updated: boolean): void {
    if (message.status === 'streaming') return
    const key = pointId(message.id)
    if (message.content.trim() === '') {
      if (updated) submit({ conversationId: message.conversationId, key, run: (c) => removePoints(c, { points: [key] }) })
      return
    }
    submit({
      conversationId: message.conversationId,
      key,
      async run (c) {
        const [vector] = await embed([message.content])
        const { conversationId, seq, sender, content, createdAt } = message
        await c.upsert(collection, { wait: true, points: [{ id: key, vector, payload: { conversationId, seq, senderId: sender.id, content, createdAt } }] })
      }
    })
  }

  async function removePoints (c: QdrantClient, selector: Parameters<QdrantClient['delete']>[1]): Promise<void> {
    await c.delete(collection, { wait: true, ...selector })
  }

  /** Retries the oldest write waiting; once that one goes through, all the others. */
  async function flushIndex (): Promise<number> {
    const [first, ...rest] = pending.values()
    if (first === undefined) return 0
    pending.delete(first.key)
    await enqueue(first, true)
    if (pending.get(first.key) === first) return pending.size // still failing: the others wait, untried
    const still = rest.filter((write) => pending.get(write.key) === write)
    for (const write of still) pending.delete(write.key)
    await Promise.all(still.map((write) => enqueue(write, true)))
    return pending.size
  }

  async function ensureCollection (c: QdrantClient): Promise<void> {
    if (!(await c.collectionExists(collection)).exists) {
      try {
        await c.createCollection(collection, { vectors: { size: embed.dimensions, distance: 'Cosine' } })
      } catch (err) {
        if (!(await c.collectionExists(collection)).exists) throw err // else another process made it first
      }
      await c.createPayloadIndex(collection, { field_name: 'conversationId', field_schema: 'keyword', wait: true })
      await c.createPayloadIndex(collection, { field_name: 'seq', field_schema: 'integer', wait: true })
      // word tokens, lowercased: a search's words (search-query.ts) match whole words, not substrings
      await c.createPayloadIndex(collection, { field_name: 'content', field_schema: { type: 'text', tokenizer: 'word', lowercase: true }, wait: true })
    }
    const vectors = (await c.getCollection(collection)).config.params.vectors as { size?: number } | undefined
    if (vectors?.size !== embed.dimensions) {
      throw new CHAT_ERR_INVALID_OPTS(`the Qdrant collection "${collection}" holds vectors of size ${vectors?.size ?? '(named vectors)'}, ` +
        `the embedder gives ${embed.dimensions}`)
    }
  }

  const storage: QdrantStorage = {
    name: 'qdrant',

    async init () {
      await base.init()
      const { QdrantClient } = await loadDriver('@qdrant/js-client-rest', 'Qdrant storage', async () => await import('@qdrant/js-client-rest'))
      const c = new QdrantClient({ url: opts.url, apiKey: opts.apiKey, timeout: timeoutMs, checkCompatibility: false })
      await ensureCollection(c)
      client = c
      timer = setInterval(() => { if (pending.size > 0) void flushIndex() }, retryMs).unref()
    },
    async close () {
      clearInterval(timer)
      await Promise.all(chains.values())
      await base.close()
    },
    ping: () => base.ping(),

    createConversation: (record, participants) => base.createConversation(record, participants),
    getConversation: (id) => base.getConversation(id),
    updateConversation: (id, patch) => base.updateConversation(id, patch),
    async deleteConversation (id) {
      const deleted = await base.deleteConversation(id)
      if (deleted) {
        for (const [key, write] of pending) if (write.conversationId === id) pending.delete(key)
        const filter = { must: [{ key: 'conversationId', match: { value: id } }] }
        await enqueue({ conversationId: id, key: `conversation:${id}`, version: ++versions, run: (c) => removePoints(c, { filter }) })
      }
      return deleted
    },
    listConversations: (query) => base.listConversations(query),
    countConversations: () => base.countConversations(),
    getParticipants: (id) => base.getParticipants(id),
    addParticipant: (id, participant, max) => base.addParticipant(id, participant, max),
    removeParticipant: (id, userId) => base.removeParticipant(id, userId),

    async appendMessage (conversationId, draft, reply) {
      const result = await base.appendMessage(conversationId, draft, reply)
      if (result.created) {
        index(result.message, false)
        if (result.reply !== undefined) index(result.reply, false)
      }
      return result
    },
    async updateMessage (conversationId, messageId, patch, encoded) {
      const message = await base.updateMessage(conversationId, messageId, patch, encoded)
      if (message !== null) index(message, true)
      return message
    },
    getMessages: (id, range) => base.getMessages(id, range),
    findMessageByClientId: (id, senderId, clientMessageId) => base.findMessageByClientId(id, senderId, clientMessageId),
    async failStaleAnswers (startedBefore, limit) {
      const failed = await base.failStaleAnswers(startedBefore, limit)
      for (const message of failed) index(message, true)
      return failed
    },

    async searchMessages (conversationId, { q, limit, cursor }) {
      const position = readSearchCursor(cursor) ?? { ceiling: (await base.getConversation(conversationId))?.lastSeq ?? 0 }
      const terms = searchTerms(q)
      if (terms.length === 0 || limit <= 0 || position.ceiling === 0) return { items: [], nextCursor: null }
      await chains.get(conversationId)
      let points: Array<{ score: number, payload?: Record<string, unknown> | null }>
      try {
        const [vector] = await embed([q])
        points = (await qdrant().query(collection, {
          query: vector,
          filter: {
            must: [
              { key: 'conversationId', match: { value: conversationId } },
              { key: 'seq', range: { lte: position.ceiling } } // messages newer than the walk stay out of it
            ],
            should: terms.map((term) => ({ key: 'content', match: { text: term } })) // holds any of the words
          },
          limit: maxHits,
          with_payload: ['seq'],
          params: { exact: true }, // the true best, not an approximate neighbourhood
          score_threshold: opts.minScore
        })).points
      } catch (err) {
        throw withRetryAfter(new CHAT_ERR_UNAVAILABLE(`Search is unavailable: ${(err as Error).message}`), retryMs)
      }
      // Ranked here, so that equal scores (to 6 decimals: float noise aside) come newest first on every page; the
      // key of a hit is its score in `words` (search-query.ts), so a page starts after the cursor's hit.
      const ranked = points.map((p) => ({ words: Math.round(p.score * 1e6), hits: 0, seq: Number(p.payload?.seq) }))
        .filter((key) => isAfter(key, position))
        .sort(compareSearchKeys)
      const window = ranked.slice(0, limit + 1) // one more tells whether there is a next page
      const page = window.slice(0, limit)
      const found = await Promise.all(page.map(({ seq }) => base.getMessages(conversationId, { after: seq - 1, limit: 1 })))
      return {
        items: found.flatMap((messages, i) => messages.filter((m) => m.seq === page[i].seq)),
        nextCursor: searchPage(window, limit, position, (key) => key).nextCursor
      }
    },

    appendAudit: (entry) => base.appendAudit(entry),
    listAudit: (query) => base.listAudit(query),
    flushIndex
  }
  if (base.probe !== undefined) storage.probe = () => (base.probe as () => Promise<void>)()
  return storage
}

/** A UUID made from the message id (Qdrant's point ids are integers or UUIDs): the same message, the same point. */
export function pointId (messageId: string): string {
  const h = createHash('sha256').update(messageId).digest('hex')
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`
}
