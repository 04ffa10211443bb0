import { openSync, readSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { setImmediate as turn } from 'node:timers/promises'
import Database from 'better-sqlite3'
import t from 'tap'
import { startCheckpointer } from '../../lib/storage/sqlite-checkpointer.ts'

/** The WAL header's salts: a WAL that starts over gets new ones, written with its first frame. */
function walSalts (filename: string): string {
  const fd = openSync(`${filename}-wal`, 'r')
  try {
    const header = Buffer.alloc(32)
    readSync(fd, header, 0, 32, 0)
    return header.subarray(16, 24).toString('hex')
  } finally {
    closeSync(fd)
  }
}

t.test('under a steady write load the WAL starts over, without the writing connection checkpointing', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const db = new Database(filename)
  t.teardown(() => { db.close() })
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('wal_autocheckpoint = 0') // only the worker checkpoints
  db.exec('CREATE TABLE t (x BLOB)')
  const insert = db.prepare('INSERT INTO t (x) VALUES (zeroblob(4000))')
  insert.run()
  const first = walSalts(filename)

  const checkpointer = startCheckpointer(filename, 10, 50)
  t.teardown(() => checkpointer.stop())
  // Writes back to back, 20 ms at a time: a PASSIVE checkpoint never copies every frame before the next write
  // (one that did would let that write start the WAL over), so a WAL that starts over was restarted by the worker.
  // It does so within about a second of writing (some 20 000 writes here); PASSIVE checkpoints alone let one
  // start over only by chance, after hundreds of thousands.
  let writes = 0
  while (walSalts(filename) === first && writes < 100_000) {
    const burst = performance.now() + 20
    while (performance.now() < burst) {
      insert.run()
      writes++
    }
    await turn()
  }
  t.not(walSalts(filename), first, `the WAL started over (after ${writes} writes)`)
})

t.test('while a reader keeps old frames from being copied, the worker does not hold the write lock for it (no RESTART)', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const db = new Database(filename, { timeout: 0 }) // a writer that waits for nobody: a held write lock is SQLITE_BUSY
  t.teardown(() => { db.close() })
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('wal_autocheckpoint = 0')
  db.exec('CREATE TABLE t (x BLOB)')
  const insert = db.prepare('INSERT INTO t (x) VALUES (zeroblob(4000))')
  insert.run()
  // A reader on the snapshot of now (a long query, a backup): the frames written from here on stay in the WAL.
  const reader = new Database(filename)
  t.teardown(() => { reader.close() })
  reader.prepare('BEGIN').run()
  reader.prepare('SELECT count(*) FROM t').get()

  const checkpointer = startCheckpointer(filename, 10, 50)
  t.teardown(() => checkpointer.stop())
  let writes = 0
  let busy = 0
  for (const end = performance.now() + 1500; performance.now() < end;) {
    const burst = performance.now() + 20
    while (performance.now() < burst) {
      try {
        insert.run()
        writes++
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err
        busy++
      }
    }
    await turn()
  }
  t.ok(writes > 1000, `${writes} writes, the WAL far past the worker's threshold`)
  t.equal(busy, 0, `no write found the lock held (${busy} did)`)
})

t.test('stop ends the worker', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const db = new Database(filename)
  db.pragma('journal_mode = WAL')
  db.close()
  const checkpointer = startCheckpointer(filename, 10, 50)
  await checkpointer.stop()
  t.pass('stopped')
})
