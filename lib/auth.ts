import type { FastifyReply, FastifyRequest } from 'fastify'
import { CHAT_ERR_FORBIDDEN, CHAT_ERR_UNAUTHORIZED } from './errors.ts'
import type { ResolvedOptions } from './options.ts'
import type { ChatUser } from './schemas/entities.ts'

export interface ChatAuth {
  /** onRequest hook after the host's: 401 unless the host's hook left a user on the request. */
  requireUser (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /** onRequest hook for admin routes: 403 unless the user has the admin role. */
  requireAdmin (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /** The user of a request that passed requireUser. */
  user (request: FastifyRequest): ChatUser
  /** Whether no person may act under this id (an AI participant's, `system`). */
  isReserved (id: string): boolean
  /** The user of a request, if the host's auth hook left one (audit). */
  peek (request: FastifyRequest): ChatUser | undefined
}

function asString (value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0) return value
  if (typeof value === 'number') return String(value)
  return undefined
}

/**
 * The plugin has no auth of its own: it reads the user the host's auth hook set, through the `user` option's
 * property names (or the `identify` function), and keeps it per request. Ids in `reserved` (the AI
 * participants', `system`) are refused: no person may act under them.
 */
export function createAuth (options: ResolvedOptions, reserved: ReadonlySet<string> = new Set()): ChatAuth {
  const users = new WeakMap<FastifyRequest, ChatUser>()
  const map = options.user

  function identify (request: FastifyRequest): ChatUser | null {
    if (options.identify !== undefined) return options.identify(request)
    const raw = (request as unknown as Record<string, unknown>)[map.property]
    if (typeof raw !== 'object' || raw === null) return null
    const source = raw as Record<string, unknown>
    const id = asString(source[map.id]) ?? asString(source.sub)
    if (id === undefined) return null
    const roles = source[map.roles]
    const user: ChatUser = {
      id,
      name: asString(source[map.name]) ?? id,
      roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : typeof roles === 'string' ? [roles] : []
    }
    const exp = source[map.expires]
    // Seconds since the epoch, as in a JWT; a value this large can only be milliseconds already.
    if (typeof exp === 'number' && Number.isFinite(exp)) user.expiresAt = exp > 1e11 ? exp : exp * 1000
    return user
  }

  return {
    async requireUser (request) {
      const user = identify(request)
      if (user === null) throw new CHAT_ERR_UNAUTHORIZED()
      // A host whose auth does not check expiry still gets none past it.
      if (user.expiresAt !== undefined && user.expiresAt <= Date.now()) throw new CHAT_ERR_UNAUTHORIZED()
      // A person never acts under the id of an AI participant or of the system's messages.
      if (reserved.has(user.id)) throw new CHAT_ERR_FORBIDDEN(`the user id "${user.id}" is reserved for the chat's own participants`)
      users.set(request, user)
      if (options.allow !== undefined && !(await options.allow(user, request))) {
        throw new CHAT_ERR_FORBIDDEN('chat is not enabled for this user')
      }
    },
    async requireAdmin (request) {
      const user = users.get(request)
      if (user === undefined) throw new CHAT_ERR_UNAUTHORIZED()
      if (!user.roles.includes(options.adminRole)) throw new CHAT_ERR_FORBIDDEN('admin role required')
    },
    isReserved (id) {
      return reserved.has(id)
    },
    peek (request) {
      return users.get(request)
    },
    user (request) {
      const user = users.get(request)
      if (user === undefined) throw new CHAT_ERR_UNAUTHORIZED()
      return user
    }
  }
}
