import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

const require = createRequire(import.meta.url)

/** WAL frames (pages, ~4 KB each) from which the worker starts the WAL over: about 32 MB. */
export const RESTART_FRAMES = 8000
/** What was appended during a PASSIVE pass, at most, for the RESTART that follows to be short. */
const SETTLED_FRAMES = 64
/** How long `stop` waits for the worker to end by itself before terminating it. */
const STOP_GRACE_MS = 5000
/** PASSIVE passes before the RESTART, at most (each copies what was appended during the one before). */
const MAX_PASSES = 4

// Plain CommonJS, evaluated in the worker: its own connection to the same file, checkpointing on a timer.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const db = new Database(workerData.filename)
db.pragma('busy_timeout = 50')
const passive = () => db.pragma('wal_checkpoint(PASSIVE)')[0]
// Asked to stop, between two passes: the connection is closed here and the thread ends with nothing left to do.
parentPort.once('message', () => {
  clearInterval(timer)
  try { db.close() } catch {}
  parentPort.close()
})
const timer = setInterval(() => {
  try {
    let last = passive()
    if (last.log < workerData.restartFrames) return
    for (let pass = 1; pass < workerData.maxPasses; pass++) {
      const now = passive()
      // A checkpoint that could not run at all answers log = checkpointed = -1: nothing is known, no RESTART.
      if (now.log < 0) return
      const appended = now.log - last.log
      last = now
      if (appended <= workerData.settledFrames) break
    }
    // A reader on an old snapshot (another process, a backup, a long query) keeps frames from being copied:
    // a RESTART would hold the write lock waiting for it. Only when PASSIVE copied nearly all.
    if (last.log - last.checkpointed <= workerData.settledFrames) db.pragma('wal_checkpoint(RESTART)')
  } catch {}
}, workerData.intervalMs)
`

/**
 * Moves WAL checkpoints off the event loop. better-sqlite3 is synchronous: a checkpoint run by a commit on
 * the main connection stalls every socket for its duration (copying the WAL and three fsyncs: 15–100 ms on
 * a busy machine). A worker thread with its own connection copies the WAL into the database in the
 * background (PASSIVE: it never blocks writers).
 *
 * PASSIVE alone never lets the WAL start over under steady writes: a writer restarts it only when every frame
 * was copied, and some are always appended during the copy. The WAL then fills up to the main connection's
 * safety threshold (`wal_autocheckpoint`), and a commit checkpoints on the event loop each time it does (with
 * AI answers streaming back to back: every 2 s or so). So once
 * the WAL holds `restartFrames`, the worker copies it in PASSIVE passes until one leaves little behind, then
 * checkpoints with RESTART: it copies that remainder holding the write lock (writers wait for it, retrying
 * with timers, off the event loop), and the next write starts the WAL over. Not while a reader keeps frames
 * from being copied (the last PASSIVE left more than a few): RESTART would hold the lock until the reader ends. The main connection's threshold
 * stays as the bound should the worker fall behind.
 */
export function startCheckpointer (filename: string, intervalMs = 1000, restartFrames = RESTART_FRAMES): { stop: () => Promise<void> } {
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: {
      filename,
      intervalMs,
      restartFrames,
      settledFrames: SETTLED_FRAMES,
      maxPasses: MAX_PASSES,
      driver: require.resolve('better-sqlite3')
    }
  })
  worker.unref()
  worker.on('error', () => {}) // the main connection's own threshold still bounds the WAL
  const exited = new Promise<void>((resolve) => { worker.once('exit', () => { resolve() }) })
  return {
    /**
     * Asks the worker to close its connection and end, and waits for it. Not `terminate()`: a thread terminated
     * in the middle of a checkpoint that fails (the connection torn down under it) aborts the whole process in
     * the driver (FATAL ERROR: v8::ToLocalChecked Empty MaybeLocal, seen when closing the storage). A worker
     * that does not end within STOP_GRACE_MS (a checkpoint stuck on the disk) is terminated after all.
     */
    async stop () {
      worker.ref() // until it has ended: the process waits for it
      worker.postMessage('stop')
      const grace = setTimeout(() => { worker.terminate().catch(() => {}) }, STOP_GRACE_MS)
      grace.unref()
      await exited
      clearTimeout(grace)
    }
  }
}
