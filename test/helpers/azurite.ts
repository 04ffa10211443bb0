import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

/** Azurite's well-known development account key (public, in Microsoft's docs). */
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

export const connectionStringFor = (port: number): string =>
  `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${DEV_KEY};TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`

/** The port of a table endpoint in a connection string. */
export const portOf = (connectionString: string): number => Number(/TableEndpoint=https?:\/\/[^:/;]+:(\d+)/i.exec(connectionString)?.[1] ?? 10002)

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  return typeof address === 'object' && address !== null ? address.port : 0
}

/**
 * An Azurite Table endpoint for a test file (not a test): `AZURE_STORAGE_CONNECTION_STRING` when set (CI
 * starts one), else an Azurite of its own, in memory on a free port, stopped when `t` ends. Every storage
 * made in tests takes a `freshPrefix()`, so runs and tests never share tables.
 */
export async function azurite (t: Test): Promise<{ connectionString: string, freshPrefix: () => string }> {
  const freshPrefix = () => `t${randomBytes(6).toString('hex')}`
  const given = process.env.AZURE_STORAGE_CONNECTION_STRING
  if (given !== undefined && given !== '') return { connectionString: given, freshPrefix }

  const port = await freePort()
  const bin = fileURLToPath(new URL('../../node_modules/.bin/azurite-table', import.meta.url))
  const child = spawn(bin, ['--tablePort', String(port), '--inMemoryPersistence', '--silent', '--skipApiVersionCheck', '--disableTelemetry'],
    { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(async () => {
    if (child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill()
    await exited
  })
  // Azurite says so on stdout once it listens.
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      if (/successfully (started|listening)/i.test(out)) { child.stdout?.off('data', onData); child.stdout?.resume(); resolve() }
    }
    child.stdout?.on('data', onData)
    child.once('exit', (code) => { reject(new Error(`azurite-table exited with ${code}: ${out}`)) })
  })
  return { connectionString: connectionStringFor(port), freshPrefix }
}
