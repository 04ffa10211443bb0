import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables'
import { CHAT_ERR_UNAVAILABLE, withRetryAfter } from '../errors.ts'
import { isRefusedInput, statusOf, toChatError, UNAVAILABLE_RETRY_MS } from './azure-errors.ts'
import type { Entity } from './azure-entities.ts'

/** How long one request may take before the service counts as unreachable. */
export const REQUEST_TIMEOUT_MS = 10_000
/** How long a write keeps retrying a conflict (another writer got the ETag first) before UNAVAILABLE. */
const CONTENTION_MS = 15_000
/** Operations in one entity group transaction (the service's limit). */
export const MAX_BATCH_OPS = 100

export type Row = TableEntityResult<Record<string, unknown>>

/**
 * The two tables and the calls on them, with the service's errors as the chat's (unreachable, 5xx and
 * throttling: CHAT_ERR_UNAVAILABLE) and a time limit on every request.
 */
export interface Tables {
  chat: TableClient
  index: TableClient
}

const options = () => ({ abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })

export async function call<T> (fn: (opts: { abortSignal: AbortSignal }) => Promise<T>): Promise<T> {
  try {
    return await fn(options())
  } catch (err) {
    throw toChatError(err)
  }
}

/** One entity, or undefined when there is none (or its key is one the service cannot hold). */
export async function get (table: TableClient, pk: string, rk: string): Promise<Row | undefined> {
  try {
    return await table.getEntity<Record<string, unknown>>(pk, rk, options())
  } catch (err) {
    if (statusOf(err) === 404 || isRefusedInput(err)) return undefined
    throw toChatError(err)
  }
}

/** Deletes an entity; false when there was none. */
export async function remove (table: TableClient, pk: string, rk: string, etag = '*'): Promise<boolean> {
  try {
    await table.deleteEntity(pk, rk, { ...options(), etag })
    return true
  } catch (err) {
    if (statusOf(err) === 404 || isRefusedInput(err)) return false
    throw toChatError(err)
  }
}

export async function transaction (table: TableClient, actions: TransactionAction[]) {
  return await call((opts) => table.submitTransaction(actions, opts))
}

/** Deletes rows of one partition, 100 to a transaction. */
export async function removeAll (table: TableClient, pk: string, rowKeys: string[]): Promise<void> {
  for (let i = 0; i < rowKeys.length; i += MAX_BATCH_OPS) {
    const actions: TransactionAction[] = rowKeys.slice(i, i + MAX_BATCH_OPS).map((rowKey) => ['delete', { partitionKey: pk, rowKey }])
    try {
      await table.submitTransaction(actions, options())
    } catch (err) {
      // A row deleted meanwhile fails the transaction: the rest go one by one.
      if (statusOf(err) !== 404) throw toChatError(err)
      for (const [, e] of actions) await remove(table, pk, e.rowKey)
    }
  }
}

/** The rows of a range of one partition, ascending, page by page (up to `pageSize` a page). */
export async function * rows (table: TableClient, pk: string, range: { gt?: string, ge?: string, lt?: string, le?: string },
  pageSize = 1000, select?: string[]): AsyncGenerator<Row[]> {
  let filter = odata`PartitionKey eq ${pk}`
  if (range.gt !== undefined) filter += odata` and RowKey gt ${range.gt}`
  if (range.ge !== undefined) filter += odata` and RowKey ge ${range.ge}`
  if (range.lt !== undefined) filter += odata` and RowKey lt ${range.lt}`
  if (range.le !== undefined) filter += odata` and RowKey le ${range.le}`
  const pages = table.listEntities<Record<string, unknown>>({ queryOptions: { filter, select } })
    .byPage({ maxPageSize: Math.max(1, Math.min(1000, pageSize)) })
  for (;;) {
    let next
    try {
      next = await pages.next()
    } catch (err) {
      if (isRefusedInput(err)) return // a key the service cannot hold: nothing is stored under it
      throw toChatError(err)
    }
    if (next.done === true) return
    if (next.value.length > 0) yield next.value
  }
}

/** Everything in a range of one partition. */
export async function all (table: TableClient, pk: string, range: Parameters<typeof rows>[2], select?: string[]): Promise<Row[]> {
  const out: Row[] = []
  for await (const page of rows(table, pk, range, 1000, select)) out.push(...page)
  return out
}

/** A jittered, growing pause before the next try of a conflicting write. */
export async function pause (attempt: number): Promise<void> {
  const ms = Math.min(5 * 2 ** attempt, 200) * (0.5 + Math.random())
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** The conflicts of optimistic concurrency: an ETag that moved on (412), a key taken meanwhile (409). */
export const isConflict = (err: unknown): boolean => statusOf(err) === 412 || statusOf(err) === 409

/** Runs `attempt` until it stops conflicting (another writer got in first); UNAVAILABLE if that lasts. */
export async function retrying<T> (attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + CONTENTION_MS
  for (let n = 0; ; n++) {
    try {
      return await attempt()
    } catch (err) {
      if (!isConflict(err)) throw toChatError(err)
      if (Date.now() > deadline) throw contended(err)
      await pause(n)
    }
  }
}

export function contended (cause: unknown): Error {
  const err = new CHAT_ERR_UNAVAILABLE('Storage busy: other writers kept the conversation for too long')
  err.cause = cause
  return withRetryAfter(err, UNAVAILABLE_RETRY_MS)
}

export { CONTENTION_MS }

/** Runs calls for one key one after another in this process (other processes are held off by ETags). */
export function serializer () {
  const tails = new Map<string, Promise<unknown>>()
  return async function serial<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const before = tails.get(key) ?? Promise.resolve()
    const run = before.then(fn, fn)
    const tail = run.catch(() => {})
    tails.set(key, tail)
    try {
      return await run
    } finally {
      if (tails.get(key) === tail) tails.delete(key)
    }
  }
}

export type { Entity }
