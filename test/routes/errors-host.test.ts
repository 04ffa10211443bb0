import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify'
import t, { type Test } from 'tap'
import chat, { CHAT_ERR_UNAVAILABLE, createMemoryStorage, withRetryAfter, type ChatStorage } from '../../lib/index.ts'

/**
 * Errors on chat routes as a host sees them: its onError hooks (error trackers) see what was thrown, while the
 * client gets the protocol's body; a dependency that is down is 503 UNAVAILABLE with when to come back.
 */

/** A bare host: `authenticate` reads the user from `x-user`; an onError hook records what it sees. */
async function host (t: Test, storage: ChatStorage): Promise<{ app: FastifyInstance, seen: FastifyError[] }> {
  const app = Fastify({ logger: false })
  const seen: FastifyError[] = []
  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const id = request.headers['x-user']
    if (typeof id === 'string') Object.assign(request, { user: { id, name: id, roles: [] } })
  })
  app.addHook('onError', async (_request, _reply, err) => { seen.push(err) })
  await app.register(chat, { storage })
  t.teardown(async () => { await app.close() })
  return { app, seen }
}

/** Memory storage whose message writes fail as a database that is down does, and whose listing fails with a bug. */
function failingStorage (): ChatStorage {
  const storage = createMemoryStorage()
  storage.appendMessage = async () => { throw withRetryAfter(new CHAT_ERR_UNAVAILABLE('storage is unavailable'), 2500) }
  storage.listConversations = async () => { throw new Error('secret detail at /srv/db.js:42') }
  return storage
}

const as = (user: string) => ({ 'x-user': user })

t.test('a host onError hook sees the errors thrown on chat routes; the client gets the protocol shape', async (t) => {
  const { app, seen } = await host(t, failingStorage())

  const missing = await app.inject({ method: 'GET', url: '/chat/conversations/nope', headers: as('alice') })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: 'Conversation not found' })
  t.match(seen.at(-1), { code: 'CHAT_ERR_NOT_FOUND', statusCode: 404 }, 'the hook saw the chat error')

  const bug = await app.inject({ method: 'GET', url: '/chat/conversations', headers: as('alice') })
  t.equal(bug.statusCode, 500)
  t.same(bug.json(), { statusCode: 500, code: 'INTERNAL', error: 'Internal Server Error', message: 'Internal error' }, 'no detail on the wire')
  t.match(seen.at(-1), { message: /secret detail/ }, 'the hook saw the real error, details included')

  const invalid = await app.inject({ method: 'POST', url: '/chat/conversations', headers: as('alice'), payload: { title: { not: 'a string' } } })
  t.equal(invalid.statusCode, 400)
  t.match(invalid.json(), { statusCode: 400, code: 'BAD_REQUEST', error: 'Bad Request' })
  t.match(seen.at(-1), { code: 'FST_ERR_VALIDATION' }, 'schema failures reach the hook too')
  t.equal(seen.length, 3, 'once per error')
})

t.test('a 503 UNAVAILABLE on REST carries retry-after and retryAfterMs', async (t) => {
  const { app, seen } = await host(t, failingStorage())
  // Creating a conversation stores the owner's joining as a system message: the storage refuses it.
  const res = await app.inject({ method: 'POST', url: '/chat/conversations', headers: as('alice'), payload: { title: 'x' } })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { statusCode: 503, code: 'UNAVAILABLE', error: 'Service Unavailable', message: 'storage is unavailable', retryAfterMs: 2500 })
  t.equal(res.headers['retry-after'], '3', 'retry-after in whole seconds, rounded up')
  t.match(seen.at(-1), { code: 'CHAT_ERR_UNAVAILABLE', retryAfterMs: 2500 }, 'the host\'s hook saw it')
})
