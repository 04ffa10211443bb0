import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import t, { type Test } from 'tap'
import type { HostConfig } from '../../examples/config.ts'
import chat, { type ChatOptions } from '../../lib/index.ts'
import { startApp } from '../helpers/app.ts'

/**
 * People added by id are named by the host's directory (`users.resolve`): in the Conversation, in the
 * participant a `POST …/participants` returns and in the stored `system` messages. A bare host whose auth reads
 * the user from `x-user` (named "<id> (auth)"), with its warn logs captured.
 */

interface Host {
  app: FastifyInstance
  warnings: Array<Record<string, any>>
  as: (user: string) => {
    post: (url: string, payload: object) => Promise<{ status: number, body: any }>
    get: (url: string) => Promise<{ status: number, body: any }>
  }
}

async function host (t: Test, chatOptions: ChatOptions, config?: unknown): Promise<Host> {
  const warnings: Array<Record<string, any>> = []
  const stream = { write (line: string) { warnings.push(JSON.parse(line)) } }
  const app = Fastify({ logger: { level: 'warn', stream } })
  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const id = request.headers['x-user']
    if (typeof id === 'string') Object.assign(request, { user: { id, name: `${id} (auth)`, roles: [] } })
    return undefined
  })
  if (config !== undefined) app.decorate('config', config as HostConfig)
  await app.register(chat, chatOptions)
  t.teardown(async () => { await app.close() })
  await app.ready()
  return {
    app,
    warnings,
    as (user) {
      const headers = { 'x-user': user }
      return {
        async post (url, payload) {
          const res = await app.inject({ method: 'POST', url, headers, payload })
          return { status: res.statusCode, body: res.json() }
        },
        async get (url) {
          const res = await app.inject({ method: 'GET', url, headers })
          return { status: res.statusCode, body: res.json() }
        }
      }
    }
  }
}

/** The stored system messages' [text, participant name] pairs, in seq order. */
async function systemLines (h: Host, user: string, conversationId: string): Promise<Array<[string, string]>> {
  const res = await h.as(user).get(`/chat/conversations/${conversationId}/messages`)
  return res.body.items.filter((m: any) => m.kind === 'system').map((m: any) => [m.content, m.metadata.participant.name])
}

/** A directory whose request (a pending handle, like a socket) only ends when the chat aborts it. */
function slowDirectory (): { resolve: NonNullable<ChatOptions['users'] & object>['resolve'], signals: AbortSignal[] } {
  const signals: AbortSignal[] = []
  return {
    signals,
    async resolve (_ids, { signal }) {
      signals.push(signal)
      return await new Promise((_resolve, reject) => {
        const request = setInterval(() => {}, 60_000)
        signal.addEventListener('abort', () => {
          clearInterval(request)
          reject(signal.reason)
        })
      })
    }
  }
}

const DIRECTORY: Record<string, string> = { bob: 'Bob Baker', carol: 'Carol Chen', dave: 'Dave Doe' }

t.test('a conversation created with participants names them by one call to users.resolve', async (t) => {
  const calls: string[][] = []
  const h = await host(t, {
    users: {
      async resolve (ids) {
        calls.push(ids)
        // Names as strings or objects; ids it does not know are left out.
        return { bob: DIRECTORY.bob, carol: { name: DIRECTORY.carol }, alice: 'Not From Here' }
      }
    }
  })
  const res = await h.as('alice').post('/chat/conversations', { title: 't', participants: ['bob', 'carol', 'bob', 'alice', 'zed'] })
  t.equal(res.status, 201)
  t.same(calls, [['bob', 'carol', 'zed']], 'one batched call: every listed id once, the creator left out')
  t.same(res.body.participants.map((p: any) => [p.id, p.name]), [
    ['alice', 'alice (auth)'],
    ['bob', 'Bob Baker'],
    ['carol', 'Carol Chen'],
    ['zed', 'zed']
  ], 'the creator is named by their auth; an unknown id by itself')
  t.same(await systemLines(h, 'alice', res.body.id), [
    ['alice (auth) joined', 'alice (auth)'],
    ['Bob Baker joined', 'Bob Baker'],
    ['Carol Chen joined', 'Carol Chen'],
    ['zed joined', 'zed']
  ], 'the stored system messages use the same names')
  const asBob = await h.as('bob').get(`/chat/conversations/${res.body.id as string}`)
  t.same(asBob.body.participants.map((p: any) => p.name), ['alice (auth)', 'Bob Baker', 'Carol Chen', 'zed'], 'the names are stored')

  await h.as('alice').post('/chat/conversations', { title: 'alone' })
  t.equal(calls.length, 1, 'no call when nobody is listed')
  t.same(h.warnings, [])
})

t.test('a participant added by id gets its resolved name; a name in the request wins and needs no lookup', async (t) => {
  const calls: string[][] = []
  const h = await host(t, {
    users: {
      resolve (ids) { // a plain return value works as well as a promise
        calls.push(ids)
        return Object.fromEntries(ids.filter((id) => id in DIRECTORY).map((id) => [id, DIRECTORY[id]]))
      }
    }
  })
  const alice = h.as('alice')
  const conv = (await alice.post('/chat/conversations', {})).body
  const url = `/chat/conversations/${conv.id as string}/participants`

  const bob = await alice.post(url, { userId: 'bob' })
  t.equal(bob.status, 201)
  t.match(bob.body, { id: 'bob', name: 'Bob Baker', type: 'human', role: 'member' })
  t.same(calls, [['bob']])

  const carol = await alice.post(url, { userId: 'carol', name: 'CC' })
  t.equal(carol.status, 201)
  t.equal(carol.body.name, 'CC', 'the explicit name wins')
  t.same(calls, [['bob']], 'and the directory is not asked')

  const yan = await alice.post(url, { userId: 'yan' })
  t.equal(yan.body.name, 'yan', 'an id the directory does not know names itself')

  t.equal((await alice.post(url, { userId: 'bob' })).status, 409)
  t.same(calls, [['bob'], ['yan']], 'no lookup for someone already in')

  t.same(await systemLines(h, 'alice', conv.id), [
    ['alice (auth) joined', 'alice (auth)'],
    ['Bob Baker joined', 'Bob Baker'],
    ['CC joined', 'CC'],
    ['yan joined', 'yan']
  ])
  const got = await alice.get(`/chat/conversations/${conv.id as string}`)
  t.same(got.body.participants.map((p: any) => p.name), ['alice (auth)', 'Bob Baker', 'CC', 'yan'])
})

t.test('a resolver that throws, rejects, times out or answers nonsense names people by id and warns once', async (t) => {
  const cases: Array<[string, ChatOptions['users']]> = [
    ['throws', { resolve () { throw new Error('directory down') } }],
    ['rejects', { async resolve () { throw new Error('directory down') } }],
    ['answers an array', { resolve: () => ['Bob'] as any }],
    ['answers null', { resolve: () => null as any }],
    ['takes too long', { resolve: slowDirectory().resolve, timeoutMs: 20 }]
  ]
  for (const [name, users] of cases) {
    const h = await host(t, { users })
    const res = await h.as('alice').post('/chat/conversations', { participants: ['bob', 'carol'] })
    t.equal(res.status, 201, `${name}: created`)
    t.same(res.body.participants.map((p: any) => p.name), ['alice (auth)', 'bob', 'carol'], `${name}: named by id`)
    t.same(await systemLines(h, 'alice', res.body.id), [
      ['alice (auth) joined', 'alice (auth)'], ['bob joined', 'bob'], ['carol joined', 'carol']
    ], `${name}: system messages by id`)
    t.equal(h.warnings.length, 1, `${name}: one warning`)
    t.match(h.warnings[0], { level: 40, msg: /users\.resolve/, ids: 2 }, name)

    const added = await h.as('alice').post(`/chat/conversations/${res.body.id as string}/participants`, { userId: 'dave' })
    t.equal(added.status, 201, `${name}: added`)
    t.equal(added.body.name, 'dave', `${name}: added by id`)
    t.equal(h.warnings.length, 2, `${name}: one warning per failed lookup`)
  }
})

t.test('a resolver that takes too long is told to stop through its signal', async (t) => {
  const slow = slowDirectory()
  const h = await host(t, { users: { resolve: slow.resolve, timeoutMs: 10 } })
  const res = await h.as('alice').post('/chat/conversations', { participants: ['bob'] })
  t.equal(res.body.participants[1].name, 'bob')
  t.equal(slow.signals.length, 1)
  t.equal(slow.signals[0].aborted, true, 'aborted once the chat stopped waiting')
  t.match(h.warnings, [{ level: 40, err: { message: /within 10 ms/ } }], 'the warning says it timed out')
})

t.test('resolved names are trimmed and capped; blank ones fall back to the id', async (t) => {
  const h = await host(t, { users: { resolve: () => ({ bob: '  Bob  ', carol: '   ', dave: { name: 42 } as any, erin: 'E'.repeat(500) }) } })
  const res = await h.as('alice').post('/chat/conversations', { participants: ['bob', 'carol', 'dave', 'erin'] })
  t.same(res.body.participants.map((p: any) => p.name), ['alice (auth)', 'Bob', 'carol', 'dave', 'E'.repeat(200)])
})

t.test('users from the host config apply; false turns them off', async (t) => {
  const config = { chat: { users: { resolve: () => ({ bob: 'Bob from config' }) } } }
  const withConfig = await host(t, {}, config)
  const named = await withConfig.as('alice').post('/chat/conversations', { participants: ['bob'] })
  t.equal(named.body.participants[1].name, 'Bob from config')
  t.equal(withConfig.app.chat.options.users?.timeoutMs, 2000, 'the default timeout')

  const off = await host(t, { users: false }, config)
  const plain = await off.as('alice').post('/chat/conversations', { participants: ['bob'] })
  t.equal(plain.body.participants[1].name, 'bob')
  t.equal(off.app.chat.options.users, undefined)
})

t.test('the example host names demo users and people who signed in with a name', async (t) => {
  const ta = await startApp(t)
  await ta.token('frank', { name: 'Frank F.' }) // signs in once, with a name
  const alice = await ta.token('alice', { name: 'Alice' })
  const res = await ta.request('POST', '/chat/conversations', { token: alice, body: { participants: ['grace', 'frank', 'gus'] } })
  t.equal(res.status, 201)
  t.same(res.body.participants.map((p: any) => p.name), ['Alice', 'Grace Hopper', 'Frank F.', 'gus'])
  const added = await ta.request('POST', `/chat/conversations/${res.body.id as string}/participants`, { token: alice, body: { userId: 'ada' } })
  t.equal(added.body.name, 'Ada Lovelace')
  const messages = await ta.request('GET', `/chat/conversations/${res.body.id as string}/messages`, { token: alice })
  t.same(messages.body.items.map((m: any) => m.content), ['Alice joined', 'Grace Hopper joined', 'Frank F. joined', 'gus joined', 'Ada Lovelace joined'])

  // A known user who signs in without a name gets the directory's name on their own messages too.
  const grace = await ta.request('POST', `/chat/conversations/${res.body.id as string}/messages`, {
    token: await ta.token('grace'),
    body: { clientMessageId: 'g1', content: 'hi' }
  })
  t.match(grace.body, { sender: { id: 'grace', name: 'Grace Hopper' } })
})
