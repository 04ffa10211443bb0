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
