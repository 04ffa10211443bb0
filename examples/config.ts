import fp from 'fastify-plugin'

/** The example host's own configuration, from the environment. The chat plugin reads its `chat` key. */
export interface HostConfig {
  port: number
  host: string
  jwtSecret: string
  devLogin: boolean
  chat: Record<string, unknown>
}

declare module 'fastify' {
  interface FastifyInstance {
    config: HostConfig
  }
}

export function loadConfig (env: NodeJS.ProcessEnv = process.env): HostConfig {
  const storage = env.CHAT_STORAGE ?? 'sqlite'
  return {
    port: Number(env.PORT ?? 3000),
    host: env.HOST ?? '127.0.0.1',
    jwtSecret: env.JWT_SECRET ?? 'example-host-dev-secret-change-me',
    devLogin: env.NODE_ENV !== 'production',
    chat: {
      storage: storage === 'memory' ? 'memory' : { type: 'sqlite', filename: env.CHAT_DB ?? './data/chat.db' },
      ai: { handler: 'askHandler', id: 'assistant', name: env.CHAT_AI_NAME ?? 'Assistant' }
    }
  }
}

export default fp(async function config (fastify, opts: { config: HostConfig }) {
  fastify.decorate('config', opts.config)
}, { name: 'example-config' })
