import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

const require = createRequire(import.meta.url)

// Plain CommonJS, evaluated in the worker: its own connection to the same file, checkpointing on a timer.
const WORKER = `
const { workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const db = new Database(workerData.filename)
db.pragma('busy_timeout = 50')
setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)') } catch {}
}, workerData.intervalMs)
`

/**
 * Moves WAL checkpoints off the event loop. better-sqlite3 is synchronous: a checkpoint run by a commit on
 * the main connection stalls every socket for its duration. A worker thread with its own connection copies
 * the WAL into the database in the background (PASSIVE: it never blocks writers), and the main connection
 * only checkpoints itself past a large safety threshold.
 */
export function startCheckpointer (filename: string, intervalMs = 1000): { stop: () => Promise<void> } {
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { filename, intervalMs, driver: require.resolve('better-sqlite3') }
  })
  worker.unref()
  worker.on('error', () => {}) // the main connection's own threshold still bounds the WAL
  return {
    async stop () {
      await worker.terminate()
    }
  }
}
