import type { ResolvedOptions } from '../options.ts'
import { createMemoryStorage } from './memory.ts'
import type { ChatStorage } from './types.ts'

export type * from './types.ts'
export { createMemoryStorage }

/** The storage the options name; a ready instance passes through. Drivers load only when used. */
export async function createStorage (config: ResolvedOptions['storage']): Promise<ChatStorage> {
  if (typeof config === 'object' && 'appendMessage' in config) return config
  const type = typeof config === 'string' ? config : config.type
  if (type === 'sqlite' && typeof config === 'object' && 'filename' in config) {
    const { createSqliteStorage } = await import('./sqlite.ts')
    return createSqliteStorage({ filename: config.filename })
  }
  return createMemoryStorage()
}
