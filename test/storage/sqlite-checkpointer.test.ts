import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setImmediate as turn, setTimeout } from 'node:timers/promises'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
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

/**
 * A database in WAL mode that only the worker checkpoints, with a table of 4 KB rows (one WAL frame each):
 * its file, the connection (closed at the end of the test) and the insert of one row.
 */
function walTable (t: Test, opts: Database.Options = {}): { filename: string, db: Database.Database, insert: Database.Statement } {
  const filename = join(t.testdir(), 'chat.db')
  const db = new Database(filename, opts)
  t.teardown(() => { if (db.open) db.close() })
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('wal_autocheckpoint = 0') // only the worker checkpoints
  db.exec('CREATE TABLE t (x BLOB)')
  return { filename, db, insert: db.prepare('INSERT INTO t (x) VALUES (zeroblob(4000))') }
}

t.test('under a steady write load the WAL starts over, without the writing connection checkpointing', async (t) => {
  const { filename, insert } = walTable(t)
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
  const { filename, insert } = walTable(t, { timeout: 0 }) // a writer that waits for nobody: a held write lock is SQLITE_BUSY
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

t.test('stop lets the worker close its connection: the last one closed, it checkpoints and removes the WAL', async (t) => {
  const { filename, db, insert } = walTable(t)
  const checkpointer = startCheckpointer(filename, 10, 1_000_000)
  for (let i = 0; i < 100; i++) insert.run()
  // The worker is connected once the database file grows: only its checkpoints copy the WAL into the file.
  while (statSync(filename).size < 100 * 4000) await setTimeout(5)
  db.close() // the worker still has the file open: the WAL stays
  t.ok(existsSync(`${filename}-wal`), 'the WAL is there while the worker is connected')
  await checkpointer.stop()
  t.notOk(existsSync(`${filename}-wal`), 'the WAL is gone: the worker closed its connection')
  const reopened = new Database(filename, { readonly: true })
  t.teardown(() => { reopened.close() })
  t.same(reopened.prepare('SELECT count(*) AS n FROM t').get(), { n: 100 }, 'every row is in the database file')
})

t.test('stopping while checkpoints run back to back never takes the process down', async (t) => {
  const { filename, db, insert } = walTable(t)
  let written = 0
  for (let round = 0; round < 30; round++) {
    const checkpointer = startCheckpointer(filename, 1, 10) // a pass every millisecond, RESTART past 10 frames
    for (const end = performance.now() + 10; performance.now() < end;) {
      for (let i = 0; i < 20; i++) { insert.run(); written++ }
      await turn()
    }
    await checkpointer.stop()
  }
  t.same(db.prepare('SELECT count(*) AS n FROM t').get(), { n: written }, `the process is still here, and every one of the ${written} rows`)
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
