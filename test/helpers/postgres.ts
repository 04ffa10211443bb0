import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'
import { quoteIdent } from '../../lib/storage/postgres-migrations.ts'

/** The machine's PostgreSQL for tests (`PG_TEST_URL`); each run works in schemas of its own. Not a test. */
export const url = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/**
 * An admin pool, and schema names no other run uses, all dropped when `t` (a test file's top level) ends.
 */
export function pgSchemas (t: Test): { admin: pg.Pool, freshSchema: () => string, dropLater: (schema: string) => void } {
  const admin = new pg.Pool({ connectionString: url, max: 2 })
  const schemas: string[] = []
  t.teardown(async () => {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(s)} CASCADE`)
    await admin.end()
  })
  return {
    admin,
    dropLater (schema) { schemas.push(schema) },
    freshSchema () {
      const name = `chat_test_${randomBytes(6).toString('hex')}`
      schemas.push(name)
      return name
    }
  }
}
