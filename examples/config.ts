import fp from 'fastify-plugin'
import { createUserDirectory, type UserDirectory } from './auth.ts'

/** The example host's own configuration, from the environment. The chat plugin reads its `chat` key. */
export interface HostConfig {
  port: number
  host: string
  jwtSecret: string
  devLogin: boolean
  /** Fastify's `trustProxy`, from TRUST_PROXY: behind a proxy, request.ip is the client's (X-Forwarded-For). */
  trustProxy?: boolean | string
  /** Who the host knows by id: a few demo users, and everyone who signed in with a name. */
  users: UserDirectory
  chat: Record<string, unknown>
}

declare module 'fastify' {
  interface FastifyInstance {
    config: HostConfig
  }
}

/**
 * The chat's storage from CHAT_STORAGE: 'sqlite' (the default, CHAT_DB), 'memory', 'postgres' (DATABASE_URL,
 * CHAT_PG_SCHEMA), or 'azure' (AZURE_STORAGE_CONNECTION_STRING, CHAT_AZURE_TABLE_PREFIX; Azurite's for development).
 */
function storageFrom (env: NodeJS.ProcessEnv): Record<string, unknown> | string {
  const storage = env.CHAT_STORAGE ?? 'sqlite'
  if (storage === 'memory') return 'memory'
  if (storage === 'postgres') {
    const connectionString = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
    return { type: 'postgres', connectionString, ...(env.CHAT_PG_SCHEMA === undefined ? {} : { schema: env.CHAT_PG_SCHEMA }) }
  }
  if (storage === 'azure') {
    const connectionString = env.AZURE_STORAGE_CONNECTION_STRING ?? 'UseDevelopmentStorage=true'
    return { type: 'azure', connectionString, ...(env.CHAT_AZURE_TABLE_PREFIX === undefined ? {} : { tablePrefix: env.CHAT_AZURE_TABLE_PREFIX }) }
  }
  return { type: 'sqlite', filename: env.CHAT_DB ?? './data/chat.db' }
}

/** REDIS_URL turns on the Redis fan-out (CHAT_REDIS_CHANNEL, CHAT_PRESENCE_TTL_MS tune it); without it, one process. */
function fanoutFrom (env: NodeJS.ProcessEnv): Record<string, unknown> | string {
  if (env.REDIS_URL === undefined || env.REDIS_URL === '') return 'local'
  const fanout: Record<string, unknown> = { type: 'redis', url: env.REDIS_URL }
  if (env.CHAT_REDIS_CHANNEL !== undefined) fanout.channel = env.CHAT_REDIS_CHANNEL
  if (env.CHAT_PRESENCE_TTL_MS !== undefined) fanout.presenceTtlMs = Number(env.CHAT_PRESENCE_TTL_MS)
  return fanout
}

export function loadConfig (env: NodeJS.ProcessEnv = process.env): HostConfig {
  const users = createUserDirectory()
  return {
    port: Number(env.PORT ?? 3000),
    host: env.HOST ?? '127.0.0.1',
    jwtSecret: env.JWT_SECRET ?? 'example-host-dev-secret-change-me',
    devLogin: env.NODE_ENV !== 'production',
    ...trustProxyFrom(env.TRUST_PROXY),
    users,
    chat: {
      storage: storageFrom(env),
      // REDIS_URL: several instances of this host share conversations through Redis (docs/scaling.md).
      fanout: fanoutFrom(env),
      // CHAT_RATE_LIMIT: messages per user per 10 s; 0 turns every per-user limit off (benchmarks, load tests).
      ...(env.CHAT_RATE_LIMIT === undefined ? {} : { rateLimit: rateLimitFrom(Number(env.CHAT_RATE_LIMIT)) }),
      ai: { handler: 'askHandler', id: 'assistant', name: env.CHAT_AI_NAME ?? 'Assistant' },
      // People added to a conversation by id are shown by the names the host knows for them.
      users: { resolve: async (ids: string[]) => users.names(ids) }
    }
  }
}

export default fp(async function config (fastify, opts: { config: HostConfig }) {
  fastify.decorate('config', opts.config)
}, { name: 'example-config' })

/** CHAT_RATE_LIMIT=n: n messages per user per 10 s; 0: no per-user limit at all, on any action. */
function rateLimitFrom (max: number) {
  if (max !== 0) return { max }
  const off = { max: 0, windowMs: 1 }
  return { max: 0, conversations: off, participants: off, typing: off, joins: off, rest: off }
}

/**
 * TRUST_PROXY: the proxies' addresses or CIDRs (`127.0.0.1,10.0.0.0/8`), whose X-Forwarded-* headers are
 * believed; `true` believes every hop (only when nothing but the proxy can reach the host). Fastify 5 takes no
 * hop count, and would read `1` as the address 0.0.0.1: a number is refused.
 */
function trustProxyFrom (value: string | undefined): { trustProxy?: boolean | string } {
  if (value === undefined || value === '' || value === 'false') return {}
  if (/^\d+$/.test(value)) throw new Error(`TRUST_PROXY=${value}: give the proxies' addresses (e.g. 127.0.0.1,10.0.0.0/8) or true, not a hop count`)
  return { trustProxy: value === 'true' ? true : value }
}
