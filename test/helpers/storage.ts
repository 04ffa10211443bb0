import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { newId } from '../../lib/ids.ts'
import type { ChatStorage } from '../../lib/storage/types.ts'

/** Fixtures shared by the storage tests beside the contract (not itself a test). */

/** Inits a storage and closes it at the end of the test. */
export async function opened (t: Test, storage: ChatStorage): Promise<ChatStorage> {
  await storage.init()
  t.teardown(() => storage.close())
  return storage
}

export const conversation = (id: string) => ({
  id, title: 'Kept', createdBy: 'alice', createdAt: '2020-01-01T00:00:00.000Z', updatedAt: '2020-01-01T00:00:00.000Z', lastSeq: 0
})
export const participant = { id: 'alice', name: 'Alice', type: 'human', role: 'owner', joinedAt: '2020-01-01T00:00:00.000Z' } as const
export const draft = (content: string, clientMessageId?: string) => ({
  id: newId(),
  kind: 'text',
  sender: { id: 'alice', name: 'Alice', type: 'human' },
  content,
  createdAt: '2020-01-01T00:00:01.000Z',
  ...(clientMessageId === undefined ? {} : { clientMessageId })
}) as const

/** The next message of a child process; rejects if it exits first. */
function reply (child: ChildProcess): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`child exited with ${code} before replying`))
    child.once('exit', exited)
    child.once('message', (message) => { child.off('exit', exited); resolve(message) })
  })
}

/**
 * Runs `count` child processes of `script(n)` (ESM, with tsx): each says 'ready', and all are told to go at
 * once, so their appends overlap. Each answers with the seqs it got; all of them come back, sorted.
 */
export async function raceInChildren (t: Test, script: (n: number) => string, count = 4): Promise<number[]> {
  const children: ChildProcess[] = Array.from({ length: count }, (_, n) => spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(n)],
    { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  t.teardown(() => { for (const c of children) if (c.exitCode === null) c.kill() })
  await Promise.all(children.map(reply))
  const done = children.map(reply)
  for (const c of children) c.send('go')
  return (await Promise.all(done)).flatMap((s) => s as number[]).sort((x, y) => x - y)
}
