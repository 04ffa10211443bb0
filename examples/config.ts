import fp from 'fastify-plugin'
import { createUserDirectory, type UserDirectory } from './auth.ts'

/** The example host's own configuration, from the environment. The chat plugin reads its `chat` key. */
export interface HostConfig {
  port: number
  host: string
  jwtSecret: string
  devLogin: boolean
  /** Who the host knows by id: a few demo users, and everyone who signed in with a name. */
  users: UserDirectory
  chat: Record<string, unknown>
}

declare module 'fastify' {
  interface FastifyInstance {
    config: HostConfig
  }
}

export function loadConfig (env: NodeJS.ProcessEnv = process.env): HostConfig {
  const storage = env.CHAT_STORAGE ?? 'sqlite'
  const users = createUserDirectory()
  return {
    port: Number(env.PORT ?? 3000),
    host: env.HOST ?? '127.0.0.1',
    jwtSecret: env.JWT_SECRET ?? 'example-host-dev-secret-change-me',
    devLogin: env.NODE_ENV !== 'production',
    users,
    chat: {
      storage: storage === 'memory' ? 'memory' : { type: 'sqlite', filename: env.CHAT_DB ?? './data/chat.db' },
      ai: { handler: 'askHandler', id: 'assistant', name: env.CHAT_AI_NAME ?? 'Assistant' },
      // People added to a conversation by id are shown by the names the host knows for them.
      users: { resolve: async (ids: string[]) => users.names(ids) }
    }
  }
}

export default fp(async function config (fastify, opts: { config: HostConfig }) {
  fastify.decorate('config', opts.config)
}, { name: 'example-config' })
