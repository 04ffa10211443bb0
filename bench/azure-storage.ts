// The Azure Tables storage for the benchmarks, when AZURE_STORAGE_CONNECTION_STRING names an account (Azurite,
// for example) and this tree has the storage (lib/storage/azure.ts). Anything else is a reason to skip,
// returned as a sentence rather than thrown, so a benchmark can print it in place of the column.
import { existsSync } from 'node:fs'
import type { ChatStorage } from '../lib/storage/types.ts'

const MODULE = new URL('../lib/storage/azure.ts', import.meta.url)
/** The tables the storage keeps, after its prefix. */
const TABLES = ['chat', 'chatindex']

export const azureConnectionString = (): string | undefined => process.env.AZURE_STORAGE_CONNECTION_STRING || undefined

/** A storage (to `init`) whose tables start with `prefix` (letters and digits), or why there is none. */
export async function azureStorage (prefix: string): Promise<ChatStorage | string> {
  const connectionString = azureConnectionString()
  if (connectionString === undefined) return 'skipped: AZURE_STORAGE_CONNECTION_STRING is not set'
  if (!existsSync(MODULE)) return 'skipped: this tree has no Azure storage (lib/storage/azure.ts)'
  // Loaded by URL: the module, and its driver, only when an account is named.
  const mod = await import(MODULE.href) as { createAzureTableStorage?: (opts: { connectionString: string, tablePrefix: string }) => ChatStorage }
  if (mod.createAzureTableStorage === undefined) return 'skipped: lib/storage/azure.ts has no createAzureTableStorage'
  return mod.createAzureTableStorage({ connectionString, tablePrefix: prefix })
}

/** Deletes the tables of `prefix` (the benchmark's own); a table that is not there is fine. */
export async function dropAzureTables (prefix: string): Promise<void> {
  const connectionString = azureConnectionString()
  if (connectionString === undefined) return
  const { TableClient } = await import('@azure/data-tables')
  const allowInsecureConnection = /(^|;)\s*(DefaultEndpointsProtocol=http|TableEndpoint=http:)/i.test(connectionString)
  await Promise.all(TABLES.map(async (name) => {
    await TableClient.fromConnectionString(connectionString, prefix + name, { allowInsecureConnection }).deleteTable()
  }))
}
