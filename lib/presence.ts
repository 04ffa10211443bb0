import type { Fanout, FanoutEvent } from './fanout/index.ts'
import { newId } from './ids.ts'

export type PresenceEvent = Extract<FanoutEvent, { type: 'presence' | 'heartbeat' | 'hello' }>

export interface Presence {
  /** Online while any socket of the user is open on any instance. */
  isOnline (userId: string): boolean
  /** This instance's first socket of a user opened (true) or its last one closed (false). */
  local (userId: string, online: boolean): void
  /** An event of another instance's presence. */
  receive (event: PresenceEvent): void
  /** Once the fan-out has started: learns who is online elsewhere, then beats every `ttlMs / 3`. */
  start (): Promise<void>
  close (): Promise<void>
}

interface Other { users: Set<string>, seen: number }

/**
 * Who is online across instances. Each instance knows its own sockets; through the fan-out it tells the others
 * when a user comes or goes here, and every `ttlMs / 3` it sends a heartbeat listing its online users (in
 * order with those events, so the list is never older than them).
 *
 * Which instances are alive comes from the fan-out's instance directory when it has one (Redis: a key per
 * instance with a TTL, renewed on each heartbeat): an instance whose key expired is dead, and its users go
 * offline for the others (`onGone` lists those now offline everywhere, so their conversations can be told).
 * While the directory is unreachable nobody is declared dead; once it is back, an instance gets a full TTL to
 * renew its key. A fan-out without a directory falls back to silence: an instance not heard for `ttlMs` is dead.
 */
export function createPresence (deps: {
  fanout: Fanout
  isLocal: (userId: string) => boolean
  localUsers: () => Iterable<string>
  ttlMs: number
  onGone: (userIds: string[]) => void
  onError?: (err: unknown) => void
}): Presence {
  const { fanout, ttlMs } = deps
  const directory = fanout.instances
  const me = newId()
  /** Other instances: their online users and when they were last heard from. */
  const others = new Map<string, Other>()
  let timer: NodeJS.Timeout | undefined
  let ticking: Promise<void> | undefined
  /** When the directory last answered after failing (or first answered): the grace a dead-looking instance gets. */
  let reachableSince: number | undefined

  function instance (id: string): Other {
    let other = others.get(id)
    if (other === undefined) others.set(id, other = { users: new Set(), seen: Date.now() })
    other.seen = Date.now()
    return other
  }

  function isOnline (userId: string): boolean {
    if (deps.isLocal(userId)) return true
    for (const other of others.values()) if (other.users.has(userId)) return true
    return false
  }

  function drop (ids: string[]): void {
    const gone: string[] = []
    for (const id of ids) {
      const other = others.get(id)
      if (other === undefined) continue
      others.delete(id)
      for (const user of other.users) gone.push(user)
    }
    const offline = [...new Set(gone)].filter((user) => !isOnline(user))
    if (offline.length > 0) deps.onGone(offline)
  }

  /** With a directory: renew this instance's key, then drop the instances whose key expired. */
  async function beatAndCheck (): Promise<void> {
    if (directory === undefined) return
    const now = Date.now()
    let alive: Map<string, string[]>
    try {
      await directory.beat(me, [...deps.localUsers()], ttlMs)
      alive = await directory.alive()
    } catch (err) {
      reachableSince = undefined
      deps.onError?.(err)
      return
    }
    reachableSince ??= now
    const dead: string[] = []
    // Users of an instance first seen here; those of known ones come from its ordered heartbeats.
    for (const [id, users] of alive) if (id !== me && !others.has(id)) others.set(id, { users: new Set(users), seen: now })
    // Dead: its key expired, and nothing heard from it for a TTL (not even while the directory was away).
    for (const [id, other] of others) {
      if (!alive.has(id) && now - Math.max(other.seen, reachableSince) >= ttlMs) dead.push(id)
    }
    drop(dead)
  }

  /** Without a directory: an instance silent for `ttlMs` is dead. */
  function dropSilent (): void {
    const now = Date.now()
    const dead: string[] = []
    for (const [id, other] of others) if (now - other.seen >= ttlMs) dead.push(id)
    drop(dead)
  }

  function tick (): void {
    fanout.publish({ type: 'heartbeat', instance: me, users: [...deps.localUsers()] })
    if (directory === undefined) {
      dropSilent()
      return
    }
    ticking ??= beatAndCheck().finally(() => { ticking = undefined })
  }

  return {
    isOnline,
    async start () {
      if (!fanout.shared) return
      timer = setInterval(tick, Math.max(50, Math.floor(ttlMs / 3))).unref()
      if (directory !== undefined) {
        // The directory lists the others and their users: presence is right from the start.
        ticking = beatAndCheck().finally(() => { ticking = undefined })
        await ticking
      } else {
        // Newcomers ask; the others answer with a heartbeat.
        fanout.publish({ type: 'hello', instance: me })
      }
    },
    local (userId, online) {
      if (fanout.shared) fanout.publish({ type: 'presence', instance: me, userId, online })
    },
    receive (event) {
      if (event.instance === me) return
      if (event.type === 'hello') {
        instance(event.instance)
        fanout.publish({ type: 'heartbeat', instance: me, users: [...deps.localUsers()] })
        return
      }
      const other = instance(event.instance)
      if (event.type === 'heartbeat') {
        other.users = new Set(event.users)
      } else if (event.online) {
        other.users.add(event.userId)
      } else {
        other.users.delete(event.userId)
      }
    },
    async close () {
      clearInterval(timer)
      await ticking
      await directory?.remove(me).catch((err: unknown) => { deps.onError?.(err) })
    }
  }
}
