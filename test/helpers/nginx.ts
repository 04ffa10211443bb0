import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/**
 * A real nginx in front of a test host, configured from the guide's own docs/nginx.conf (rendered as the guide
 * says), run in the foreground in a temporary prefix, and stopped at teardown. Not a test.
 */

export const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx'
export const CHAT_CONF = new URL('../../docs/nginx.conf', import.meta.url)
/** The template's placeholders (docs/nginx.conf explains them). */
export const PLACEHOLDERS = ['CHAT_LISTEN', 'CHAT_UPSTREAM'] as const

export interface RenderOptions {
  /** `listen`'s argument, e.g. `127.0.0.1:8080`. */
  listen: string
  /** The host, `host:port`. */
  upstream: string
  /** Replaces every `proxy_read_timeout` of the template (tests of the idle timeout use a short one). */
  readTimeout?: string
}

/**
 * docs/nginx.conf rendered as its header says (each `${NAME}` replaced, nginx's own `$variables` left), with
 * its access logs off. Fails when a placeholder is missing from the template, or one is left unrendered.
 */
export function renderChatConf (template: string, opts: RenderOptions): string {
  const values: Record<(typeof PLACEHOLDERS)[number], string> = { CHAT_LISTEN: opts.listen, CHAT_UPSTREAM: opts.upstream }
  let out = template
  for (const name of PLACEHOLDERS) {
    if (!template.includes(`\${${name}}`)) throw new Error(`docs/nginx.conf has no \${${name}} placeholder`)
    out = out.replaceAll(`\${${name}}`, values[name])
  }
  const left = /\$\{[A-Za-z_]+\}/.exec(out.replace(/#.*$/gm, '')) // in a directive, not in the comments
  if (left !== null) throw new Error(`docs/nginx.conf: ${left[0]} is not a placeholder the guide explains`)
  out = out.replace(/^(\s*)access_log\s[^;]*;/gm, '$1access_log off;')
  if (opts.readTimeout !== undefined) {
    const before = out
    out = out.replace(/^(\s*)proxy_read_timeout\s[^;]*;/gm, `$1proxy_read_timeout ${opts.readTimeout};`)
    if (out === before) throw new Error('docs/nginx.conf sets no proxy_read_timeout')
  }
  return out
}

/** The directives of one `location` block of the template (`location = /chat/ws`), by name. */
export function locationDirectives (template: string, location: string): Map<string, string> {
  const start = template.search(new RegExp(`^\\s*location\\s+${location.replace(/[/.*+?^$()|[\]\\]/g, '\\$&')}\\s*\\{`, 'm'))
  if (start === -1) throw new Error(`docs/nginx.conf has no "location ${location}"`)
  const body = template.slice(template.indexOf('{', start) + 1, template.indexOf('}', start))
  const directives = new Map<string, string>()
  for (const line of body.split('\n')) {
    const m = /^\s*([a-z_]+)\s+([^;]*);/.exec(line)
    if (m !== null) directives.set(m[1], m[2].trim())
  }
  return directives
}

/** nginx's time syntax (`75s`, `2m`, `500ms`, `1m30s`) in milliseconds. */
export function nginxMs (value: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
  let total = 0
  const parts = value.match(/\d+(ms|s|m|h|d)?/g) ?? []
  if (parts.join('') !== value) throw new Error(`not an nginx time: ${value}`)
  for (const part of parts) {
    const m = /^(\d+)(ms|s|m|h|d)?$/.exec(part) as RegExpExecArray
    total += Number(m[1]) * units[m[2] ?? 's']
  }
  return total
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

async function accepts (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
}

export interface Nginx {
  port: number
  /** The master's pid. */
  pid: number
  /** The worker processes' pids now (the master's children). */
  workers (): number[]
  /** `nginx -s reload` with the same prefix, config and globals; resolves when the master has new workers. */
  reload (): Promise<void>
  /** What nginx wrote to its error log so far. */
  errors (): string
}

/**
 * Starts nginx in front of 127.0.0.1:`upstreamPort` with the rendered guide config, listening on a free port
 * of 127.0.0.1. Old workers drop their connections 1 s after a reload (`worker_shutdown_timeout`). Stopped,
 * workers included, and its directory removed at teardown, also when the test fails.
 */
export async function startNginx (t: Test, opts: { upstreamPort: number, readTimeout?: string }): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-nginx-'))
  chmodSync(dir, 0o755) // run as root, nginx's workers run as nobody
  const conf = join(dir, 'nginx.conf')
  const errorLog = join(dir, 'error.log')
  const globals = `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${errorLog} info;`
  const base = ['-p', dir, '-c', conf, '-g', globals]
  const template = readFileSync(CHAT_CONF, 'utf8')

  let child: ChildProcess | undefined
  let port = 0
  let output = ''
  const kill = (): void => {
    // The master leads a process group of its own (detached): its workers go with it.
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
    }
  }
  process.once('exit', kill)
  t.teardown(async () => {
    process.removeListener('exit', kill)
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => { child?.once('exit', () => { resolve() }) })
      child.kill('SIGTERM') // fast shutdown: the master stops every worker, old ones too
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => { resolve(true) }, 5000) })
      if (await Promise.race([exited.then(() => false), late])) kill()
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  })

  // A free port may be taken between the check and nginx's bind: then try another.
  for (let attempt = 0; ; attempt++) {
    port = await freePort()
    writeFileSync(join(dir, 'chat.conf'), renderChatConf(template, { listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${opts.upstreamPort}`, readTimeout: opts.readTimeout }))
    writeFileSync(conf, [
      'worker_processes 1;',
      'worker_shutdown_timeout 1s;',
      'events { worker_connections 512; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${join(dir, kind)};`),
      `  include ${join(dir, 'chat.conf')};`,
      '}',
      ''
    ].join('\n'))
    output = ''
    const started = spawn(NGINX, base, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    child = started
    started.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    started.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const exited = new Promise<void>((resolve) => { started.once('exit', () => { resolve() }) })
    const deadline = Date.now() + 10_000
    let up = false
    while (!up && started.exitCode === null && started.signalCode === null && Date.now() < deadline) {
      up = await accepts(port)
      if (!up) await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20))]) // polls the port until nginx binds it
    }
    if (up) break
    const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : ''
    kill()
    if (attempt < 3 && /Address already in use/.test(log + output)) continue
    throw new Error(`nginx did not start: ${output}${log}`)
  }

  const master = child
  const pid = master.pid as number
  const workers = (): number[] => {
    const out: number[] = []
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      try {
        // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry))
      } catch {} // gone meanwhile
    }
    return out
  }

  return {
    port,
    pid,
    workers,
    async reload () {
      const before = new Set(workers())
      await new Promise<void>((resolve, reject) => {
        execFile(NGINX, [...base, '-s', 'reload'], (err, stdout, stderr) => {
          if (err !== null) reject(new Error(`nginx -s reload: ${err.message} ${stdout}${stderr}`))
          else resolve()
        })
      })
      // The master starts the new workers when it handles the signal: wait for one that was not there before.
      const deadline = Date.now() + 10_000
      while (!workers().some((w) => !before.has(w))) {
        if (Date.now() > deadline) throw new Error(`nginx started no new worker after the reload: ${readFileSync(errorLog, 'utf8')}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    errors () {
      return existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : ''
    }
  }
}
