import { randomBytes } from 'node:crypto'

let lastMs = 0
let counter = 0

/**
 * A unique id that sorts by creation time (within this process, strictly): 9 chars of milliseconds, 4 of a
 * per-millisecond counter, 10 random. Conversations are listed newest first by id, so cursors stay stable.
 */
export function newId (): string {
  const now = Date.now()
  if (now === lastMs) counter++
  else { lastMs = now; counter = 0 }
  return now.toString(36).padStart(9, '0') + counter.toString(36).padStart(4, '0') + randomBytes(8).toString('base64url').slice(0, 10)
}
