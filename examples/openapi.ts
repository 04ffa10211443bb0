import swagger from '@fastify/swagger'
import type { FastifySchema } from 'fastify'
import fp from 'fastify-plugin'
import { readFileSync } from 'node:fs'

/**
 * The example host's OpenAPI document, built by @fastify/swagger from the chat routes' own schemas and served
 * at GET /docs/json. Register it before the chat plugin: swagger documents the routes registered after it.
 */

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }

// How this host's auth (examples/auth.ts) reads a token on the upgrade, where browsers cannot set headers.
const AccessToken = {
  type: 'object',
  properties: {
    access_token: { type: 'string', description: 'The bearer token, for clients that cannot set the Authorization header (browsers)' }
  }
}

export default fp(async function openapi (fastify) {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'fastify-nlweb-chat',
        version,
        description: 'Chat for humans and an AI participant, mounted on the example host. The WebSocket protocol ' +
          '(frames, errors, close codes) is in docs/protocol.md; errors over REST are `{ statusCode, code, error, message }`.'
      },
      tags: [
        { name: 'conversations', description: 'Conversations the caller takes part in' },
        { name: 'messages', description: 'Message history and sending over REST' },
        { name: 'participants', description: 'Adding and removing participants' },
        { name: 'websocket', description: 'The live side: one socket for every conversation' },
        { name: 'health', description: 'Health and metrics' },
        { name: 'admin', description: 'Needs the admin role' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'A token of the host\'s auth (in development, from POST /auth/dev-login)'
          }
        }
      },
      security: [{ bearerAuth: [] }]
    },
    // @fastify/websocket hides its routes from swagger; /chat/ws has a schema of its own (a GET answered 101),
    // shown here with the host's way of passing the token.
    transform ({ schema, url, route }) {
      if (route.websocket !== true) return { schema, url }
      return { schema: { ...schema, hide: false, querystring: AccessToken } as FastifySchema, url }
    }
  })

  fastify.get('/docs/json', { schema: { hide: true } }, async () => fastify.swagger())
}, { name: 'example-openapi' })
