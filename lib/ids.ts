import { randomFillSync } from 'node:crypto'

let lastMs = 0
let counter = 0
// Random bytes are drawn 4 KiB at a time, not per id (one system call per 512 ids).
const pool = Buffer.alloc(4096)
let offset = pool.length

function randomPart (): string {
  if (offset + 8 > pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  offset += 8
  return pool.toString('base64url', offset - 8, offset).slice(0, 10)
}

/**
 * A unique id that sorts by creation time (within this process, strictly): 9 chars of milliseconds, 4 of a
 * per-millisecond counter, 10 random. Conversations are listed newest first by id, so cursors stay stable.
 */
export function newId (): string {
  const now = Date.now()
  if (now === lastMs) counter++
  else { lastMs = now; counter = 0 }
  return now.toString(36).padStart(9, '0') + counter.toString(36).padStart(4, '0') + randomPart()
}
