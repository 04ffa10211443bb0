import { CHAT_ERR_UNAVAILABLE, withRetryAfter } from '../errors.ts'

/** Retry hint while another connection holds the write lock: it is usually a matter of milliseconds. */
export const LOCKED_RETRY_MS = 1000
/** Retry hint for faults an operator has to clear (disk full, file deleted, read-only, corrupt). */
export const FAULT_RETRY_MS = 5000

/**
 * What went wrong with the database, as far as a client and the health check care. Every kind is a storage
 * fault (UNAVAILABLE), not a bug: the request was fine and may succeed later.
 * - `locked`: another connection holds the write lock (SQLITE_BUSY, SQLITE_LOCKED, SQLITE_PROTOCOL); retried first.
 * - `full`: disk full or the database at its size limit (SQLITE_FULL).
 * - `io`: the operating system failed a read or write (SQLITE_IOERR_*), or memory ran out (SQLITE_NOMEM).
 * - `readonly`: the file, its directory or the filesystem refuses writes (SQLITE_READONLY_*, SQLITE_PERM).
 * - `cantopen`: a file SQLite needs cannot be opened (SQLITE_CANTOPEN_*), e.g. its directory was deleted.
 * - `corrupt`: the file is damaged or is not a database (SQLITE_CORRUPT_*, SQLITE_NOTADB); retrying does not
 *   help until an operator restores it, but it is still the storage that is down, not the request that is wrong.
 * - `missing`: the database file was deleted or replaced while open (found by the storage, not by SQLite).
 */
export type SqliteFault = 'locked' | 'full' | 'io' | 'readonly' | 'cantopen' | 'corrupt' | 'missing'

const PREFIXES: Array<[string, SqliteFault]> = [
  ['SQLITE_BUSY', 'locked'],
  ['SQLITE_LOCKED', 'locked'],
  ['SQLITE_PROTOCOL', 'locked'],
  ['SQLITE_FULL', 'full'],
  ['SQLITE_IOERR', 'io'],
  ['SQLITE_NOMEM', 'io'],
  ['SQLITE_READONLY', 'readonly'],
  ['SQLITE_PERM', 'readonly'],
  ['SQLITE_CANTOPEN', 'cantopen'],
  ['SQLITE_CORRUPT', 'corrupt'],
  ['SQLITE_NOTADB', 'corrupt']
]

/** Filesystem errors of opening the file (creating its directory): the same faults, said by Node. */
const FS_CODES: Record<string, SqliteFault> = {
  ENOSPC: 'full', EDQUOT: 'full', EROFS: 'readonly', EACCES: 'readonly', EPERM: 'readonly', EIO: 'io', ENOENT: 'cantopen', ENOTDIR: 'cantopen'
}

/** The fault a better-sqlite3 (or filesystem) error stands for; undefined for errors of the request itself. */
export function sqliteFault (err: unknown): SqliteFault | undefined {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return undefined
  // Extended codes (SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT, ...) share the primary code's prefix.
  for (const [prefix, fault] of PREFIXES) if (code === prefix || code.startsWith(`${prefix}_`)) return fault
  return FS_CODES[code]
}

/** What a client reads: the kind of fault, never a path or a driver message (those go to the log, in `cause`). */
const MESSAGES: Record<SqliteFault, string> = {
  locked: 'database is locked by another writer',
  full: 'disk full',
  io: 'disk I/O error',
  readonly: 'database is read-only',
  cantopen: 'database file cannot be opened',
  corrupt: 'database file is damaged',
  missing: 'database file is missing'
}

/** CHAT_ERR_UNAVAILABLE (503) with `retryAfterMs`, the driver's error as its `cause`. */
export function unavailable (fault: SqliteFault, cause?: unknown): InstanceType<typeof CHAT_ERR_UNAVAILABLE> & { retryAfterMs: number, fault: SqliteFault } {
  const err = new CHAT_ERR_UNAVAILABLE(`Storage unavailable: ${MESSAGES[fault]}`)
  if (cause !== undefined) err.cause = cause
  return Object.assign(withRetryAfter(err, fault === 'locked' ? LOCKED_RETRY_MS : FAULT_RETRY_MS), { fault })
}
