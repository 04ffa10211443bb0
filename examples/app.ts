import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import chat, { type ChatOptions } from '../lib/index.ts'
import auth from './auth.ts'
import config, { loadConfig, type HostConfig } from './config.ts'
import { createAskHandler, type AskHandler } from './nlweb/handler.ts'
import askRoutes from './nlweb/route.ts'
import page from './page.ts'
import openapi from './openapi.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The host's natural-language search: the same function serves /ask and the chat's AI participant. */
    askHandler: AskHandler
  }
}

let sharedHandler: AskHandler | undefined

export interface BuildOptions {
  config?: HostConfig
  /** false: the host as it was before it adopted chat. */
  chat?: boolean | ChatOptions
  logger?: FastifyServerOptions['logger']
  /** Another ask handler (tests); by default the recipes search, built once per process. */
  askHandler?: AskHandler
}

/**
 * The example "existing app": its config, its auth, its /ask, its page — then the chat plugin, mounted.
 * The chat's AI participant answers through the same `askHandler` the host serves /ask with (named in the
 * host config's `chat.ai.handler`).
 */
export async function buildApp (opts: BuildOptions = {}): Promise<FastifyInstance> {
  const hostConfig = opts.config ?? loadConfig()
  const { trustProxy } = hostConfig
  const app = Fastify({ logger: opts.logger ?? false, ...(trustProxy === undefined ? {} : { trustProxy }) })
  await app.register(config, { config: hostConfig })
  await app.register(auth)

  const handler = opts.askHandler ?? (sharedHandler ??= createAskHandler())
  app.decorate('askHandler', handler)
  await app.register(askRoutes, { handler })

  await app.register(page) // the chat page at /, its script bundled at /chat.js

  await app.register(openapi) // before the chat, so its routes are documented
  if (opts.chat !== false) {
    await app.register(chat, typeof opts.chat === 'object' ? opts.chat : {})
  }
  return app
}
