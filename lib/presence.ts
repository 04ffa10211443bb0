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
  close (): void
}

/**
 * Who is online across instances. Each instance knows its own sockets; through the fan-out it tells the others
 * when a user comes or goes here, and every `ttlMs / 3` sends a heartbeat listing its online users. An instance
 * not heard from for `ttlMs` is taken as dead: its users go offline for the others (`onGone` lists those now
 * offline everywhere, so their conversations can be told).
 */
export function createPresence (deps: {
  fanout: Fanout
  isLocal: (userId: string) => boolean
  localUsers: () => Iterable<string>
  ttlMs: number
  onGone: (userIds: string[]) => void
}): Presence {
  const { fanout } = deps
  const me = newId()
  /** Other instances: their online users and when they were last heard. */
  const others = new Map<string, { users: Set<string>, seen: number }>()
  let timer: NodeJS.Timeout | undefined

  function heartbeat (): void {
    fanout.publish({ type: 'heartbeat', instance: me, users: [...deps.localUsers()] })
  }

  function sweep (): void {
    const now = Date.now()
    const gone: string[] = []
    for (const [id, other] of others) {
      if (now - other.seen < deps.ttlMs) continue
      others.delete(id)
      for (const user of other.users) gone.push(user)
    }
    const offline = gone.filter((user) => !isOnline(user))
    if (offline.length > 0) deps.onGone(offline)
  }

  function instance (id: string): { users: Set<string>, seen: number } {
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

  if (fanout.shared) {
    timer = setInterval(() => { heartbeat(); sweep() }, Math.max(50, Math.floor(deps.ttlMs / 3))).unref()
    // Newcomers ask; the others answer with a heartbeat, so presence is right from the start.
    fanout.publish({ type: 'hello', instance: me })
  }

  return {
    isOnline,
    local (userId, online) {
      if (fanout.shared) fanout.publish({ type: 'presence', instance: me, userId, online })
    },
    receive (event) {
      if (event.instance === me) return
      if (event.type === 'hello') {
        instance(event.instance)
        heartbeat()
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
    close () {
      clearInterval(timer)
    }
  }
}
