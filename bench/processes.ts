// Shared by the benchmarks: server child processes and JSON requests to them.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

const ROOT = new URL('..', import.meta.url).pathname
/** BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' adds node flags to every server process. */
export const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)

/** Every server started here; killed when the benchmark exits, however it exits. */
export const children: ChildProcess[] = []
process.on('exit', () => { for (const child of children) if (child.exitCode === null) child.kill('SIGKILL') })

/** How a server process loads TypeScript: compiled as the published package is (bench/compiled.mjs), not tsx. */
export const COMPILED = ['--import', new URL('./compiled.mjs', import.meta.url).pathname]

/** The example host (bench/server.ts) with the given storage. */
export function chatServerArgs (storage: string): string[] {
  return [...COMPILED, new URL(process.env.BENCH_SERVER ?? './server.ts', import.meta.url).pathname, storage]
}

/** A server process; it prints { port } on its first line and exits when its stdin closes. */
export async function startServer (args: string[]): Promise<{ child: ChildProcess, port: number }> {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
  children.push(child)
  const exited = once(child, 'exit').then(([code]) => { throw new Error(`server ${args.join(' ').slice(0, 60)} exited (${String(code)}) before listening`) })
  const [line] = await Promise.race([once(createInterface({ input: child.stdout as NodeJS.ReadableStream }), 'line'), exited]) as [string]
  return { child, port: (JSON.parse(line) as { port: number }).port }
}

export async function stopServer (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = once(child, 'exit')
  child.stdin?.end()
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 5000)
  await exited
  clearTimeout(timer)
}

/** POST a JSON body (with a bearer token, if given); throws on a non-2xx reply. */
export async function postJson (base: string, path: string, body: unknown, token?: string): Promise<any> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body)
  })
  const json = await res.json() as any
  if (!res.ok) throw new Error(`POST ${path} → ${res.status} ${JSON.stringify(json)}`)
  return json
}
