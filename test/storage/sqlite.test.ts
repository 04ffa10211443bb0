import { join } from 'node:path'
import t, { type Test } from 'tap'
import { newId } from '../../lib/ids.ts'
import { createSqliteStorage } from '../../lib/storage/sqlite.ts'
import type { ChatStorage } from '../../lib/storage/types.ts'
import { storageContract } from '../../lib/storage/contract.ts'
import { conversation, draft, opened, participant, raceInChildren } from '../helpers/storage.ts'

async function open (t: Test, filename: string): Promise<ChatStorage> {
  return await opened(t, createSqliteStorage({ filename }))
}

t.test('contract on a file', async (t) => {
  const dir = t.testdir()
  let n = 0
  // a fresh file per test, in a directory that does not exist yet
  storageContract(t, async () => createSqliteStorage({ filename: join(dir, `db${n++}`, 'chat.db') }))
})

t.test('contract in :memory:', async (t) => {
  storageContract(t, async () => createSqliteStorage({ filename: ':memory:' }))
})

t.test('data survives close and re-open of the same file', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const id = newId()
  const first = createSqliteStorage({ filename })
  await first.init()
  await first.createConversation(conversation(id), [participant])
  await first.appendMessage(id, draft('one', 'c1'))
  await first.appendAudit({ id: newId(), at: '2020-01-01T00:00:02.000Z', actor: 'alice', action: 'create', target: id })
  await first.close()
  await t.rejects(first.ping(), 'a closed storage does not answer')

  const again = await open(t, filename)
  t.match(await again.getConversation(id), { title: 'Kept', lastSeq: 1 })
  t.match(await again.getParticipants(id), [participant])
  t.match(await again.listAudit({ limit: 10 }), [{ actor: 'alice', target: id }])
  t.match(await again.appendMessage(id, draft('repeat', 'c1')), { created: false, message: { seq: 1, content: 'one' } },
    'dedupe holds across restarts')
  t.match(await again.appendMessage(id, draft('two')), { created: true, message: { seq: 2 } }, 'seq goes on')
})

t.test('two connections to one file share one seq', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const a = await open(t, filename)
  const b = await open(t, filename)
  const id = newId()
  await a.createConversation(conversation(id), [participant])
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) =>
    (i % 2 === 0 ? a : b).appendMessage(id, draft(`m${i}`, i % 10 === 0 ? 'same' : undefined))))
  const created = results.filter((r) => r.created).map((r) => r.message.seq).sort((x, y) => x - y)
  t.strictSame(created, Array.from({ length: 91 }, (_, i) => i + 1), 'no gap, no repeat, one "same" stored')
  t.match(await b.getConversation(id), { lastSeq: 91 })
})

t.test('processes appending to one file at once get 1..n with no gap', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const storage = await open(t, filename)
  const id = newId()
  await storage.createConversation(conversation(id), [participant])

  // Each child opens its own connection, says 'ready', and appends when all have: the appends overlap.
  const child = (n: number) => `
    const { createSqliteStorage } = await import(${JSON.stringify(new URL('../../lib/storage/sqlite.ts', import.meta.url).href)})
    const storage = createSqliteStorage({ filename: ${JSON.stringify(filename)} })
    await storage.init()
    process.once('message', async () => {
      const sender = { id: 'p${n}', name: 'P', type: 'human' }
      const seqs = []
      for (let i = 0; i < 100; i++) {
        const draft = { id: 'p${n}-' + i, kind: 'text', sender, content: 'x', createdAt: new Date().toISOString(), clientMessageId: 'c' + i }
        seqs.push((await storage.appendMessage(${JSON.stringify(id)}, draft)).message.seq)
      }
      await storage.close()
      process.send(seqs, () => process.disconnect())
    })
    process.send('ready')`
  const seqs = await raceInChildren(t, child)

  t.strictSame(seqs, Array.from({ length: 400 }, (_, i) => i + 1))
  t.match(await storage.getConversation(id), { lastSeq: 400 })
})
