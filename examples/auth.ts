import jwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

/** The example host's own auth: bearer JWTs. The chat plugin reuses `authenticate` as it is. */

export interface HostUser {
  id: string
  name: string
  roles: string[]
}

/** People the demo knows before anyone signs in: add them to a conversation by id. */
export const DEMO_USERS: Readonly<Record<string, string>> = { ada: 'Ada Lovelace', grace: 'Grace Hopper', margaret: 'Margaret Hamilton' }

export type UserDirectory = ReturnType<typeof createUserDirectory>

/**
 * The host's user directory, in memory for the demo: the known users plus the name each user last signed in
 * with. The chat names people added by id from it (`users.resolve` in the host config); a real host would
 * query its user store here.
 */
export function createUserDirectory (known: Readonly<Record<string, string>> = DEMO_USERS) {
  const names = new Map(Object.entries(known))
  return {
    remember (id: string, name: string): void {
      names.set(id, name)
    },
    name (id: string): string | undefined {
      return names.get(id)
    },
    /** The names it has for these ids; the others are left out. */
    names (ids: string[]): Record<string, string> {
      const found: Record<string, string> = {}
      for (const id of ids) {
        const name = names.get(id)
        if (name !== undefined) found[id] = name
      }
      return found
    }
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: HostUser
    user: HostUser
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>
  }
}

function bearer (request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (typeof header === 'string' && header.startsWith('Bearer ')) return header.slice(7)
  // Browsers cannot set headers on a WebSocket: the token may ride in the query string of the upgrade.
  const query = request.query as Record<string, unknown> | undefined
  return typeof query?.access_token === 'string' ? query.access_token : undefined
}

export default fp(async function auth (fastify) {
  await fastify.register(jwt, {
    secret: fastify.config.jwtSecret,
    sign: { expiresIn: '12h' },
    verify: { extractToken: (request: FastifyRequest) => bearer(request) }
  })

  fastify.decorate('authenticate', async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    try {
      await request.jwtVerify()
    } catch {
      return await reply.code(401).send({ statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized', message: 'a valid bearer token is required' })
    }
    return undefined
  })

  if (fastify.config.devLogin) {
    fastify.post<{ Body: { userId: string, name?: string, admin?: boolean } }>('/auth/dev-login', {
      schema: {
        body: {
          type: 'object',
          required: ['userId'],
          properties: {
            userId: { type: 'string', minLength: 1, maxLength: 128 },
            name: { type: 'string', minLength: 1, maxLength: 200 },
            admin: { type: 'boolean' }
          }
        }
      }
    }, async (request) => {
      const { userId, name, admin } = request.body
      const { users } = fastify.config
      if (name !== undefined) users.remember(userId, name)
      const token = fastify.jwt.sign({ id: userId, name: name ?? users.name(userId) ?? userId, roles: admin === true ? ['admin'] : [] })
      return { token }
    })
  }
}, { name: 'example-auth', dependencies: ['example-config'] })
