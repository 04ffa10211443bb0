import { RESTART_FRAMES, startCheckpointer } from './sqlite-checkpointer.ts'
import { connect, fileAt, json, orNull, toAudit, toConversation, toMessage, toParticipant, type Connection } from './sqlite-connection.ts'
import { createSqliteAppends } from './sqlite-appends.ts'
import { sqliteFault, unavailable } from './sqlite-errors.ts'
import { CHAT_ERR_UNAVAILABLE } from '../errors.ts'
import type { ChatStorage } from './types.ts'

export interface SqliteStorageOptions {
  /** Path of the database file (its directory is created if missing, at `init` only), or ':memory:'. */
  filename: string
  /**
   * How long a call waits for another connection's write lock, retrying with timers (never blocking the event
   * loop), before it fails with CHAT_ERR_UNAVAILABLE. Default 1000 ms.
   */
  lockTimeoutMs?: number
  /**
   * The largest the database may grow, in bytes (SQLite's `max_page_count`). Past it, writes fail as on a full
   * disk: CHAT_ERR_UNAVAILABLE, and the health check reports the storage down until room is freed.
   */
  maxSizeBytes?: number
  /**
   * How long after a write the messages it stored wait to be put in the search index, together with those
   * of the writes that follow (one index write for all of them). A search indexes what waits first, so it
   * never misses a message. Default 100 ms.
   */
  searchIndexDelayMs?: number
  /**
   * How long, at most, that indexing holds the event loop in one turn while it works through a backlog: whole
   * slices of INDEX_SLICE messages (sqlite-search.ts), at least one per turn, until none is left. Default 2 ms.
   */
  searchIndexTurnMs?: number
}

const DEFAULT_LOCK_TIMEOUT_MS = 1000
/** `init` waits longer: several processes may be starting on one file at once. */
const INIT_LOCK_TIMEOUT_MS = 10_000
/** The longest pause between two tries of a locked database. */
const MAX_PAUSE_MS = 25
/** How soon after a write the messages it noted are put in the search index (sqlite-search.ts), in one go. */
const DEFAULT_INDEX_DELAY_MS = 100
/** How long the index may hold the event loop per turn, in slices (searchIndexTurnMs). */
const DEFAULT_INDEX_TURN_MS = 2

/**
 * Keeps everything in one SQLite file (WAL mode), shared safely by several processes on one machine: seq comes
 * from `last_seq` bumped inside an IMMEDIATE transaction, which SQLite serialises across connections.
 * Every read builds fresh objects, so callers always get copies.
 *
 * Faults of the database (disk full, I/O errors, read-only, a file deleted or damaged, a lock held too long)
 * reject with CHAT_ERR_UNAVAILABLE (503, `retryAfterMs`), see sqlite-errors.ts. Nothing waits on the event
 * loop: a locked database is retried with timers for `lockTimeoutMs`. A database file deleted (or replaced)
 * while open is noticed after every write, which then fails, since on Linux the unlinked file still accepts
 * writes that would vanish on restart. The connection is then dropped; every call tries to open the file
 * again, and succeeds once a database file is back at the path (restored by an operator). It never creates an
 * empty one in its place while running: that happens only at `init`, like on a first start.
 */
export function createSqliteStorage (opts: SqliteStorageOptions): ChatStorage {
  const { filename, maxSizeBytes } = opts
  const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS
  const indexDelayMs = opts.searchIndexDelayMs ?? DEFAULT_INDEX_DELAY_MS
  const indexTurnMs = opts.searchIndexTurnMs ?? DEFAULT_INDEX_TURN_MS
  const onDisk = filename !== ':memory:' && filename !== ''
  /** The open connection; undefined before init, after close and while the file is missing. */
  let c: Connection | undefined
  /** The file `c` has open, to tell when the path no longer leads to it. */
  let opened: { dev: bigint, ino: bigint } | undefined
  let closed = false
  let checkpointer: { stop: () => Promise<void> } | undefined

  function start (create: boolean): Connection {
    const conn = connect(filename, { create, maxSizeBytes })
    opened = onDisk ? fileAt(filename) : undefined
    if (onDisk) {
      // Checkpoints happen in a worker, which starts the WAL over from RESTART_FRAMES (~32 MB); the main connection
      // steps in only if the WAL grows past twice that (~64 MB, the journal_size_limit): the worker fell behind.
      conn.db.pragma(`wal_autocheckpoint = ${2 * RESTART_FRAMES}`)
      checkpointer = startCheckpointer(filename)
    }
    c = conn
    return conn
  }

  /**
   * Gives up a connection whose file is gone. Closing is safe: SQLite skips the checkpoint (and the deletion
   * of the -wal and -shm files by name) when the database file has moved, so a restored file is left alone.
   */
  function drop (): void {
    const conn = c
    c = undefined
    opened = undefined
    const worker = checkpointer
    checkpointer = undefined
    worker?.stop().catch(() => {})
    try { conn?.db.close() } catch {}
  }

  /** The connection, reopened if the file came back; UNAVAILABLE while closed or missing. */
  function connection (): Connection {
    if (c !== undefined) return c
    if (closed) throw unavailable('cantopen', new Error('the storage is closed'))
    if (!onDisk || fileAt(filename) === undefined) throw unavailable('missing')
    return start(false)
  }

  /** After a write: throws (and drops the connection) if the path no longer leads to the file written. */
  function verify (): void {
    if (opened === undefined) return
    const now = fileAt(filename)
    if (now !== undefined && now.dev === opened.dev && now.ino === opened.ino) return
    drop()
    throw unavailable('missing', new Error(`the database file ${filename} was deleted or replaced while open; the last write is not kept`))
  }

  /** A driver error as the chat's: faults are UNAVAILABLE; an I/O fault may mean the file went away. */
  function fault (err: unknown): unknown {
    const kind = sqliteFault(err)
    if (kind === undefined || err instanceof CHAT_ERR_UNAVAILABLE) return err
    if ((kind === 'io' || kind === 'cantopen' || kind === 'readonly') && c !== undefined) {
      try { verify() } catch (missing) { (missing as Error).cause = err; return missing }
    }
    return unavailable(kind, err)
  }

  /**
   * Runs `op` on the connection. A busy database is retried with a growing pause (timers, never a blocking
   * wait) until `lockTimeoutMs` has passed; a write is checked to have reached the file at the path.
   */
  async function run<T> (write: boolean, op: (conn: Connection) => T, patience = lockTimeoutMs, get = connection): Promise<T> {
    const deadline = performance.now() + patience
    for (let attempt = 0; ; attempt++) {
      try {
        const result = op(get())
        if (write) verify()
        return result
      } catch (err) {
        const left = deadline - performance.now()
        if (sqliteFault(err) !== 'locked' || left <= 0) throw fault(err)
        const pause = Math.min(left, Math.min(2 ** attempt, MAX_PAUSE_MS) * (0.5 + Math.random()))
        await new Promise((resolve) => setTimeout(resolve, Math.max(1, pause)))
      }
    }
  }

  const probe = async (): Promise<void> => {
    await run(true, (conn) => { conn.probe(new Date().toISOString()) })
  }

  let indexTimer: NodeJS.Timeout | undefined
  let indexNext: NodeJS.Immediate | undefined
  /**
   * Indexes for search, shortly, the messages the writes of the last moments noted: one FTS5 write for many appends. A
   * backlog goes a slice at a time (INDEX_SLICE), as many slices in a turn of the event loop as fit in `indexTurnMs`
   * (at least one), then the next turn, until none is left. A failure (a lock held too long, the file gone) leaves the
   * notes for the next time, or the next search, which indexes them first.
   */
  function indexSoon (): void {
    if (indexTimer !== undefined || indexNext !== undefined || closed) return
    indexTimer = setTimeout(indexSlice, indexDelayMs)
    indexTimer.unref()
  }

  function indexSlice (): void {
    indexTimer = undefined
    indexNext = undefined
    run(false, (c) => c.search.indexPending(performance.now() + indexTurnMs)).then((done) => {
      if (done || closed || indexTimer !== undefined || indexNext !== undefined) return
      indexNext = setImmediate(indexSlice)
      indexNext.unref()
    }, () => {})
  }

  const appends = createSqliteAppends({
    one: async (a) => await run(true, (c) => c.append(a)),
    many: async (batch) => await run(true, (c) => c.appendMany(batch)),
    // A row may fail a batch (its conversation deleted, the size limit); a database that is down fails them all.
    perRow: (err) => { const f = (err as { fault?: string }).fault; return f === undefined || f === 'full' }
  })

  return {
    name: 'sqlite',

    async init () {
      closed = false
      // Starting up: other processes may be creating the tables too, so the lock gets longer than a request.
      await run(false, () => {}, Math.max(lockTimeoutMs, INIT_LOCK_TIMEOUT_MS), () => c ?? start(true))
    },

    async close () {
      closed = true
      clearTimeout(indexTimer)
      clearImmediate(indexNext)
      indexTimer = undefined
      indexNext = undefined
      await checkpointer?.stop()
      checkpointer = undefined
      if (c?.db.open === true) c.db.close()
      c = undefined
    },

    /** The health check's: the write probe, not only a read. */
    ping: probe,
    probe,

    async createConversation (record, participants) {
      await run(true, (c) => { c.create(record, participants) })
    },

    async getConversation (id) {
      const row = await run(false, (c) => c.q.getConversation.get(id))
      return row === undefined ? null : toConversation(row)
    },

    async updateConversation (id, patch) {
      const row = await run(true, (c) => c.q.updateConversation.get({
        id,
        title: orNull(patch.title),
        metadata: json(patch.metadata),
        closedAt: orNull(patch.closedAt),
        updatedAt: new Date().toISOString()
      }))
      return row === undefined ? null : toConversation(row)
    },

    async deleteConversation (id) {
      return await run(true, (c) => c.remove(id))
    },

    async listConversations ({ userId, limit, cursor }) {
      const params = { userId, cursor: orNull(cursor), limit: Math.max(0, limit) + 1 }
      const rows = await run(false, (c) => userId === undefined ? c.q.listConversations.all(params) : c.q.listUserConversations.all(params))
      const items = rows.slice(0, Math.max(0, limit)).map(toConversation)
      return { items, nextCursor: rows.length > items.length && items.length > 0 ? items[items.length - 1].id : null }
    },

    async countConversations () {
      return await run(false, (c) => c.q.countConversations.get() as number)
    },

    async getParticipants (conversationId) {
      return (await run(false, (c) => c.q.getParticipants.all(conversationId))).map(toParticipant)
    },

    async addParticipant (conversationId, participant, max) {
      return await run(true, (c) => c.addParticipant(conversationId, participant, max))
    },

    async removeParticipant (conversationId, userId) {
      return await run(true, (c) => c.q.removeParticipant.run(conversationId, userId).changes > 0)
    },

    /** Group commit: appends called in one turn of the event loop share a transaction (sqlite-appends.ts). */
    async appendMessage (conversationId, draft, reply) {
      const result = await appends.append(conversationId, draft, reply)
      if (result.created) indexSoon()
      return result
    },

    async updateMessage (conversationId, id, patch, encoded) {
      const row = await run(true, (c) => c.q.updateMessage.get({
        conversationId,
        id,
        content: orNull(patch.content),
        parts: patch.parts === undefined ? null : encoded?.parts ?? json(patch.parts),
        status: orNull(patch.status),
        metadata: json(patch.metadata)
      }))
      if (row === undefined) return null
      if (patch.content !== undefined) indexSoon()
      const message = toMessage(row)
      // The parts just written are not read back and parsed again: the caller's (large) answer is returned.
      if (patch.parts !== undefined) message.parts = patch.parts
      return message
    },

    async getMessages (conversationId, { after, before, limit }) {
      const params = { conversationId, after: after ?? 0, before: orNull(before), limit: Math.max(0, limit) }
      return (await run(false, (c) => (after === undefined ? c.q.newestMessages : c.q.messagesAfter).all(params))).map(toMessage)
    },

    async findMessageByClientId (conversationId, senderId, clientMessageId) {
      const row = await run(false, (c) => c.q.findByClientId.get(conversationId, senderId, clientMessageId))
      return row === undefined ? null : toMessage(row)
    },

    async failStaleAnswers (startedBefore, limit) {
      return await run(true, (c) => c.failStale(startedBefore, Math.max(0, limit)))
    },

    async searchMessages (conversationId, query) {
      return await run(false, (c) => c.search.searchMessages(conversationId, query))
    },

    async appendAudit (entry) {
      await run(true, (c) => { c.q.insertAudit.run(entry.id, entry.at, entry.actor, entry.action, orNull(entry.target), json(entry.details)) })
    },

    async listAudit ({ limit, before }) {
      return (await run(false, (c) => c.q.listAudit.all({ before: orNull(before), limit: Math.max(0, limit) }))).map(toAudit)
    }
  }
}
