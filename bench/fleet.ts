// Many client sockets spread over child processes (bench/fleet-child.ts), so that on the benchmark's side no
// single event loop handles every frame: the client work is split, and the process that sends and times
// stays free. Every time the children report is ms since the epoch (performance.timeOrigin + now()).
import { fork, type ChildProcess } from 'node:child_process'
import { children } from './processes.ts'

export type FleetCommand =
  | { cmd: 'open', urls: string[], join?: string, concurrency?: number }
  | { cmd: 'track', total: number }
  | { cmd: 'stats' }
  | { cmd: 'cpu' }
  | { cmd: 'close' }

interface Summary {
  /** When the last socket had `ready`, and (with a join) `joined`; the first `joined`. */
  readyLast: number
  joinedLast: number
  joinedFirst: number
  /** `participant` frames received by all sockets; by the one whose `joined` came first, and the last one's time. */
  presence: number
  /** Bytes of every frame the sockets received. */
  bytes: number
  earlyPresence: number
  earlyLastPresenceAt: number
}

export type FleetReply =
  | { type: 'up' }
  | ({ type: 'opened', startedAt: number } & Summary)
  | ({ type: 'stats' } & Summary)
  | { type: 'tracking' }
  | { type: 'got', k: number, at: number }
  | { type: 'cpu', ms: number }
  | { type: 'fail', error: string }

export const epochNow = (): number => performance.timeOrigin + performance.now()

const CHILD = new URL('./fleet-child.ts', import.meta.url).pathname

class Member {
  readonly proc: ChildProcess
  private readonly waiters = new Map<string, (reply: FleetReply) => void>()

  constructor (fleet: Fleet) {
    this.proc = fork(CHILD, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.push(this.proc)
    this.proc.on('message', (reply: FleetReply) => {
      if (reply.type === 'fail') { fleet.fail(new Error(`fleet: ${reply.error}`)); return }
      if (reply.type === 'got') { fleet.got(reply.k, reply.at); return }
      const waiter = this.waiters.get(reply.type)
      this.waiters.delete(reply.type)
      waiter?.(reply)
    })
    this.proc.on('exit', (code) => { if (!fleet.closing) fleet.fail(new Error(`fleet: a child process exited (${String(code)})`)) })
  }

  async request<T extends FleetReply['type']> (cmd: FleetCommand | undefined, type: T, failed: Promise<never>): Promise<Extract<FleetReply, { type: T }>> {
    const replied = new Promise<FleetReply>((resolve) => { this.waiters.set(type, resolve) })
    if (cmd !== undefined) this.proc.send(cmd)
    return await Promise.race([replied, failed]) as Extract<FleetReply, { type: T }>
  }
}

/** `procs` child processes sharing the sockets round-robin. */
export class Fleet {
  readonly members: Member[]
  closing = false
  /** For tracked messages: how many children have reported message k, and the latest report's time. */
  private reported = new Uint8Array(0)
  readonly doneAt: Float64Array
  private waiting: { k: number, resolve: () => void } | undefined
  private failNow: (err: Error) => void = () => {}
  readonly failed = new Promise<never>((resolve, reject) => { this.failNow = reject })

  constructor (procs: number, tracked = 0) {
    this.failed.catch(() => {})
    this.members = Array.from({ length: procs }, () => new Member(this))
    this.reported = new Uint8Array(tracked)
    this.doneAt = new Float64Array(tracked)
  }

  fail (err: Error): void {
    this.failNow(err)
  }

  async up (): Promise<void> {
    await Promise.all(this.members.map(async (m) => await m.request(undefined, 'up', this.failed)))
  }

  /** Opens the sockets (round-robin over the children) and waits for every `ready` (and `joined`, with `join`). */
  async open (urls: string[], opts: { join?: string, concurrency?: number } = {}): Promise<Summary & { startedAt: number }> {
    const n = this.members.length
    const parts = this.members.map((_, i) => urls.filter((__, j) => j % n === i))
    const per = opts.concurrency === undefined ? undefined : Math.max(1, Math.ceil(opts.concurrency / n))
    const replies = await Promise.all(this.members.map(async (m, i) => await m.request({ cmd: 'open', urls: parts[i], join: opts.join, concurrency: per }, 'opened', this.failed)))
    return { startedAt: Math.min(...replies.map((r) => r.startedAt)), ...merge(replies) }
  }

  async stats (): Promise<Summary> {
    return merge(await Promise.all(this.members.map(async (m) => await m.request({ cmd: 'stats' }, 'stats', this.failed))))
  }

  /** From now on, message frames are checked and counted: message k carries content `b<k>.`. */
  async track (): Promise<void> {
    await Promise.all(this.members.map(async (m) => await m.request({ cmd: 'track', total: this.doneAt.length }, 'tracking', this.failed)))
  }

  got (k: number, at: number): void {
    this.doneAt[k] = Math.max(this.doneAt[k], at)
    if (++this.reported[k] === this.members.length && this.waiting?.k === k) {
      const { resolve } = this.waiting
      this.waiting = undefined
      resolve()
    }
  }

  /** Resolves once every socket of the fleet has message k. */
  async delivered (k: number): Promise<void> {
    if (this.reported[k] === this.members.length) return
    await Promise.race([new Promise<void>((resolve) => { this.waiting = { k, resolve } }), this.failed])
  }

  /** CPU time (ms) the children have used so far, summed. */
  async cpuMs (): Promise<number> {
    const replies = await Promise.all(this.members.map(async (m) => await m.request({ cmd: 'cpu' }, 'cpu', this.failed)))
    return replies.reduce((sum, r) => sum + r.ms, 0)
  }

  close (): void {
    this.closing = true
    for (const m of this.members) if (m.proc.connected) m.proc.send({ cmd: 'close' })
  }
}

function merge (parts: Summary[]): Summary {
  // The process whose first `joined` came first holds the early joiner (0: nothing joined there).
  const early = parts.reduce((a, b) => (b.joinedFirst > 0 && (a.joinedFirst === 0 || b.joinedFirst < a.joinedFirst) ? b : a))
  return {
    readyLast: Math.max(...parts.map((p) => p.readyLast)),
    joinedLast: Math.max(...parts.map((p) => p.joinedLast)),
    joinedFirst: early.joinedFirst,
    presence: parts.reduce((sum, p) => sum + p.presence, 0),
    bytes: parts.reduce((sum, p) => sum + p.bytes, 0),
    earlyPresence: early.earlyPresence,
    earlyLastPresenceAt: early.earlyLastPresenceAt
  }
}

/** Ends a benchmark at once: its fleets closed, every server it started killed, the process exited with `code`. */
export function exitNow (fleets: Fleet[], code: number): never {
  for (const fleet of fleets) fleet.close()
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  process.exit(code)
}
