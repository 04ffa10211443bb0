import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import t, { type Test } from 'tap'
import { createConversation, startApp, type TestApp } from '../helpers/app.ts'

/** The example host's OpenAPI document (GET /docs/json) against the chat's routes and real replies. */

type Doc = { paths: Record<string, Record<string, any>>, components: Record<string, any>, security?: unknown[] }

// Every chat route, with the statuses its document lists.
const ROUTES: Array<[string, string, string[]]> = [
  ['get', '/chat/ws', ['101', '401']],
  ['post', '/chat/conversations', ['201', '400', '401', '413', '429']],
  ['get', '/chat/conversations', ['200', '400', '401']],
  ['get', '/chat/conversations/{id}', ['200', '400', '401', '404']],
  ['delete', '/chat/conversations/{id}', ['204', '400', '401', '403', '404']],
  ['get', '/chat/conversations/{id}/messages', ['200', '400', '401', '404', '501']],
  ['get', '/chat/events', ['200', '400', '401', '404', '429']],
  ['post', '/chat/conversations/{id}/typing', ['204', '400', '401', '404', '429']],
  ['post', '/chat/conversations/{id}/messages/{messageId}/cancel', ['204', '400', '401', '404']],
  ['post', '/chat/conversations/{id}/messages', ['201', '400', '401', '403', '404', '413', '429']],
  ['post', '/chat/conversations/{id}/participants', ['201', '400', '401', '403', '404', '409', '429']],
  ['delete', '/chat/conversations/{id}/participants/{userId}', ['204', '400', '401', '403', '404']],
  ['get', '/chat/health', ['200', '503']],
  ['get', '/chat/metrics', ['200']],
  ['get', '/chat/admin/conversations', ['200', '400', '401', '403']],
  ['get', '/chat/admin/connections', ['200', '401', '403']],
  ['post', '/chat/admin/conversations/{id}/close', ['200', '400', '401', '403', '404']],
  ['delete', '/chat/admin/conversations/{id}', ['204', '400', '401', '403', '404']],
  ['post', '/chat/admin/users/{userId}/disconnect', ['200', '400', '401', '403']],
  ['get', '/chat/admin/audit', ['200', '400', '401', '403']]
]

interface Documented {
  ta: TestApp
  doc: Doc
  /** A request whose reply must match the schema documented for its route and status. */
  call (method: string, path: string, params: Record<string, string>, opts?: { user?: string, admin?: boolean, body?: unknown }): Promise<{ status: number, body: any, headers: Record<string, unknown> }>
}

async function documented (t: Test, chat: Parameters<typeof startApp>[1] = {}): Promise<Documented> {
  const ta = await startApp(t, chat)
  const res = await ta.app.inject({ url: '/docs/json' })
  t.equal(res.statusCode, 200, 'GET /docs/json')
  const doc = res.json() as Doc
  const ajv = new Ajv({ strict: false, allErrors: true })
  addFormats.default(ajv) // a CommonJS module: under nodenext its default export sits on `.default`
  const compiled = new Map<string, ValidateFunction>()

  function validatorFor (method: string, path: string, status: number): ValidateFunction | undefined {
    const key = `${method} ${path} ${status}`
    const response = doc.paths[path]?.[method]?.responses?.[String(status)]
    if (response === undefined) return undefined
    let validate = compiled.get(key)
    if (validate === undefined) {
      // A response without content documents an empty body.
      validate = ajv.compile(response.content?.['application/json']?.schema ?? { type: 'null' })
      compiled.set(key, validate)
    }
    return validate
  }

  return {
    ta,
    doc,
    async call (method, path, params, opts = {}) {
      const url = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name]))
      const token = opts.user === undefined ? undefined : await ta.token(opts.user, { admin: opts.admin })
      const res = await ta.request(method.toUpperCase(), url, { token, body: opts.body })
      const validate = validatorFor(method, path, res.status)
      if (validate === undefined) {
        t.fail(`${method.toUpperCase()} ${url} answered ${res.status}, which its document does not list`)
      } else {
        const body = res.status === 204 ? null : res.body
        t.ok(validate(body), `${method.toUpperCase()} ${path} ${res.status} matches its documented schema`, { errors: validate.errors, body })
      }
      return res
    }
  }
}

t.test('every chat route is documented: tags, summary, its response codes; the socket as a GET that upgrades', async (t) => {
  const { ta, doc } = await documented(t)
  const listed = Object.entries(doc.paths)
    .filter(([path]) => path.startsWith('/chat/'))
    .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`))
  t.same(listed.sort(), ROUTES.map(([method, path]) => `${method} ${path}`).sort(), 'exactly the chat routes')

  for (const [method, path, statuses] of ROUTES) {
    const op = doc.paths[path][method]
    t.same(Object.keys(op.responses).sort(), statuses, `${method} ${path} responses`)
    t.ok(op.tags?.length === 1 && typeof op.summary === 'string' && typeof op.operationId === 'string', `${method} ${path} tagged and summarized`)
    t.ok(ta.app.hasRoute({ method: method.toUpperCase() as 'GET', url: path.replace(/\{(\w+)\}/g, ':$1') }), `${method} ${path} is a real route`)
    for (const status of statuses.filter((s) => s >= '400' && !(path === '/chat/health' && s === '503'))) {
      t.match(op.responses[status].content['application/json'].schema.properties, {
        statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' }
      }, `${method} ${path} ${status} is an ErrorReply`)
    }
  }
  const operationIds = ROUTES.map(([method, path]) => doc.paths[path][method].operationId)
  t.equal(new Set(operationIds).size, operationIds.length, 'operation ids are unique')

  const ws = doc.paths['/chat/ws'].get
  t.match(ws.description, /WebSocket/)
  t.match(ws.description, /docs\/protocol\.md/)
  t.match(ws.parameters, [{ in: 'query', name: 'access_token', required: false, schema: { type: 'string' } }])
  t.notOk(ws.responses['101'].content, '101 has no body')

  t.same(doc.components.securitySchemes.bearerAuth, {
    type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: doc.components.securitySchemes.bearerAuth.description
  })
  t.same(doc.security, [{ bearerAuth: [] }], 'bearer by default')
  t.same(doc.paths['/chat/health'].get.security, [], 'public health needs no token')
  t.same(doc.paths['/chat/metrics'].get.security, [], 'public metrics need no token')
  t.ok(doc.paths['/chat/metrics'].get.responses['200'].content['text/plain'], 'metrics are text')
  t.same(doc.paths['/chat/conversations/{id}/messages'].post.responses['201'].headers['idempotent-replayed'].schema, { const: 'true', type: 'string' })
  t.ok(doc.paths['/chat/conversations/{id}/messages'].post.responses['429'].headers['retry-after'], '429 documents retry-after')
  t.notOk(doc.paths['/docs/json'], 'the document does not list itself')
})

t.test('with publicHealth false, health and metrics are documented behind the token', async (t) => {
  const { doc } = await documented(t, { publicHealth: false })
  for (const path of ['/chat/health', '/chat/metrics']) {
    t.notOk(doc.paths[path].get.security, `${path}: the document's default security`)
    t.ok(doc.paths[path].get.responses['401'], `${path}: 401 documented`)
  }
})

t.test('real replies match the documented schemas, errors included', async (t) => {
  const api = await documented(t, { limits: { maxParticipants: 3 } })
  const created = await api.call('post', '/chat/conversations', {}, { user: 'alice', body: { title: 'docs', participants: ['bob'], metadata: { topic: 'x' } } })
  t.equal(created.status, 201)
  const id: string = created.body.id
  t.equal((await api.call('get', '/chat/conversations/{id}', { id: 'nope' }, { user: 'alice' })).status, 404)
  t.equal((await api.call('get', '/chat/conversations/{id}', { id }, { user: 'carol' })).status, 404, 'not a participant: 404')
  t.equal((await api.call('get', '/chat/conversations/{id}', { id })).status, 401)
  t.equal((await api.call('post', '/chat/conversations', {}, { user: 'alice', body: { ai: 'maybe' } })).status, 400)
  t.equal((await api.call('post', '/chat/conversations', {}, { user: 'alice', body: { participants: ['b', 'c', 'd'] } })).status, 429)
  t.equal((await api.call('get', '/chat/conversations', {}, { user: 'alice' })).status, 200)
  t.equal((await api.call('get', '/chat/conversations/{id}', { id }, { user: 'bob' })).status, 200)

  const sent = await api.call('post', '/chat/conversations/{id}/messages', { id }, { user: 'alice', body: { clientMessageId: 'm1', content: 'hello', metadata: { a: 1 } } })
  t.equal(sent.status, 201)
  const again = await api.call('post', '/chat/conversations/{id}/messages', { id }, { user: 'alice', body: { clientMessageId: 'm1', content: 'hello' } })
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.equal((await api.call('post', '/chat/conversations/{id}/messages', { id }, { user: 'alice', body: { clientMessageId: 'm2', content: '  ' } })).status, 400)
  t.equal((await api.call('post', '/chat/conversations/{id}/messages', { id }, { user: 'alice', body: { clientMessageId: 'm3', content: 'x'.repeat(20000) } })).status, 413)
  t.equal((await api.call('get', '/chat/conversations/{id}/messages', { id }, { user: 'bob' })).status, 200)

  t.equal((await api.call('post', '/chat/conversations/{id}/participants', { id }, { user: 'alice', body: { userId: 'carol' } })).status, 201)
  t.equal((await api.call('post', '/chat/conversations/{id}/participants', { id }, { user: 'alice', body: { userId: 'carol' } })).status, 409)
  t.equal((await api.call('post', '/chat/conversations/{id}/participants', { id }, { user: 'alice', body: { userId: 'dave' } })).status, 429)
  t.equal((await api.call('delete', '/chat/conversations/{id}/participants/{userId}', { id, userId: 'carol' }, { user: 'bob' })).status, 403)
  t.equal((await api.call('delete', '/chat/conversations/{id}/participants/{userId}', { id, userId: 'carol' }, { user: 'carol' })).status, 204)
  t.equal((await api.call('delete', '/chat/conversations/{id}', { id }, { user: 'bob' })).status, 403)

  t.equal((await api.call('get', '/chat/health', {})).status, 200)
  const metrics = await api.ta.request('GET', '/chat/metrics')
  t.match(metrics.headers['content-type'], /^text\/plain/)

  await api.ta.connect('bob')
  const admin = { user: 'root', admin: true }
  t.equal((await api.call('get', '/chat/admin/conversations', {}, { user: 'alice' })).status, 403)
  t.equal((await api.call('get', '/chat/admin/conversations', {}, admin)).status, 200)
  t.equal((await api.call('get', '/chat/admin/connections', {}, admin)).status, 200)
  t.equal((await api.call('post', '/chat/admin/conversations/{id}/close', { id }, admin)).status, 200)
  t.equal((await api.call('post', '/chat/conversations/{id}/messages', { id }, { user: 'alice', body: { clientMessageId: 'm4', content: 'closed?' } })).status, 403)
  t.equal((await api.call('post', '/chat/admin/users/{userId}/disconnect', { userId: 'bob' }, admin)).status, 200)
  const audit = await api.call('get', '/chat/admin/audit', {}, admin)
  t.equal(audit.status, 200)
  t.ok(audit.body.items.length > 0, 'with entries')
  t.equal((await api.call('delete', '/chat/admin/conversations/{id}', { id }, admin)).status, 204)
  t.equal((await api.call('delete', '/chat/admin/conversations/{id}', { id }, admin)).status, 404)
})

t.test('replies keep every field: metadata with any key, parts, status, replyTo, closedAt as the socket sends them', async (t) => {
  const ta = await startApp(t)
  const alice = await ta.token('alice')
  // Keys a `^(.*)$` pattern would not match (a line break) and values of every JSON type.
  const metadata = { 'line\nbreak': 1, '': 'empty key', nested: { list: [1, { b: null }], deep: { s: 'x' } }, flag: false, n: 1.5 }
  const conv = await createConversation(ta, 'alice', [], { ai: true, metadata })
  t.same(conv.metadata, metadata, 'conversation metadata comes back whole')

  const client = await ta.connect('alice')
  const joined = await client.call({ type: 'join', conversationId: conv.id })
  const sent = await ta.request('POST', `/chat/conversations/${conv.id}/messages`, { token: alice, body: { clientMessageId: 'q1', content: 'pasta recipes', metadata } })
  t.equal(sent.status, 201)
  t.same(sent.body.metadata, metadata, 'message metadata comes back whole')
  const live = await client.next((f) => f.type === 'message' && f.message.id === sent.body.id)
  t.strictSame(sent.body, live.message, 'the 201 body is the message the socket got')
  const end = await client.next((f) => f.type === 'stream.end')
  t.match(end.message, { kind: 'ai', status: 'complete', replyTo: sent.body.seq, parts: Array })

  const history = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: alice })
  t.strictSame(history.body.items, [...joined.messages, live.message, end.message], 'history is what the socket got, AI parts included')

  const closed = await ta.request('POST', `/chat/admin/conversations/${conv.id}/close`, { token: await ta.token('root', { admin: true }) })
  t.type(closed.body.closedAt, 'string')
  const view = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: alice })
  const rejoined = await client.call({ type: 'join', conversationId: conv.id })
  t.strictSame(view.body, rejoined.conversation, 'the conversation is what `joined` carries, closedAt included')
  t.same(view.body.metadata, metadata)
})
