import { CHAT_ERR_MISSING_DEPENDENCY } from '../errors.ts'
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
    const { createSqliteStorage } = await loadDriver('better-sqlite3', 'SQLite storage', async () => await import('./sqlite.ts'))
    return createSqliteStorage(config) // filename, and lockTimeoutMs / maxSizeBytes when the options allow them
  }
  if (type === 'postgres' && typeof config === 'object' && 'type' in config && config.type === 'postgres') {
    const { createPostgresStorage } = await loadDriver('pg', 'PostgreSQL storage', async () => await import('./postgres.ts'))
    return createPostgresStorage(config)
  }
  if (type === 'azure' && typeof config === 'object' && 'type' in config && config.type === 'azure') {
    const { createAzureTableStorage } = await loadDriver('@azure/data-tables', 'Azure Table storage', async () => await import('./azure.ts'))
    return createAzureTableStorage(config)
  }
  return createMemoryStorage()
}

/**
 * Imports a storage module whose driver is an optional peer dependency, so hosts that never choose that
 * storage never install it. A missing driver fails startup with the package's name, not a bare resolve error.
 */
export async function loadDriver<T> (pkg: string, purpose: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if ((e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && e.message.includes(`'${pkg}'`)) {
      throw new CHAT_ERR_MISSING_DEPENDENCY(pkg, purpose, pkg)
    }
    throw err
  }
}
