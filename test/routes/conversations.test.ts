import t from 'tap'
import type { ChatOptions } from '../../lib/index.ts'
import { createConversation, startApp } from '../helpers/app.ts'

const ERROR_SHAPE = { statusCode: Number, code: String, error: String, message: String }

t.test('POST /conversations creates it: 201, creator is owner, participants listed, title and metadata kept', async (t) => {
  const ta = await startApp(t)
  const alice = await ta.token('alice')
  const res = await ta.request('POST', '/chat/conversations', {
    token: alice,
    body: { title: 'Dinner plans', participants: ['bob', 'carol', 'bob', 'alice'], metadata: { topic: 'food', tags: ['a', 'b'] } }
  })
  t.equal(res.status, 201)
  const conv = res.body
  t.match(conv, {
    id: String,
    title: 'Dinner plans',
    createdBy: 'alice',
    createdAt: String,
    updatedAt: String,
    metadata: { topic: 'food', tags: ['a', 'b'] }
  })
  t.same(conv.participants.map((p: any) => [p.id, p.role, p.type]), [
    ['alice', 'owner', 'human'],
    ['bob', 'member', 'human'],
    ['carol', 'member', 'human']
  ], 'duplicates and the creator are listed once')
  t.equal(conv.participants.every((p: any) => typeof p.online === 'boolean' && typeof p.joinedAt === 'string'), true)
  t.equal(conv.lastSeq, 3, 'one system message per participant')

  // The log alone tells who was there: system messages seq 1..k, one per participant, in order.
  const messages = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: alice })
  t.same(messages.body.items.map((m: any) => m.seq), [1, 2, 3])
  t.same(messages.body.items.map((m: any) => [m.kind, m.sender.type, m.metadata.event, m.metadata.participant.id]), [
    ['system', 'system', 'participant.joined', 'alice'],
    ['system', 'system', 'participant.joined', 'bob'],
    ['system', 'system', 'participant.joined', 'carol']
  ])

  // Every listed participant can read it.
  const asCarol = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token('carol') })
  t.equal(asCarol.status, 200)
  t.same(asCarol.body.participants.map((p: any) => p.id), ['alice', 'bob', 'carol'])
})

t.test('POST /conversations with no body fields: an untitled conversation of one', async (t) => {
  const ta = await startApp(t)
  const res = await ta.request('POST', '/chat/conversations', { token: await ta.token('solo'), body: {} })
  t.equal(res.status, 201)
  t.match(res.body, { title: '', createdBy: 'solo', lastSeq: 1 })
  t.same(res.body.participants.map((p: any) => p.id), ['solo'])
  t.notOk('metadata' in res.body, 'no metadata when none was given')
})

t.test('the creator shows as online while a socket of theirs is open', async (t) => {
  const ta = await startApp(t)
  await ta.connect('alice')
  const conv = await createConversation(ta, 'alice', ['bob'])
  t.same(conv.participants.map((p: any) => [p.id, p.online]), [['alice', true], ['bob', false]])
})

t.test('ai: true without an AI participant configured is 400', async (t) => {
  // The example host configures an AI in its config; `ai: false` opts out (not allowed by the ChatOptions type).
  const ta = await startApp(t, { ai: false } as unknown as Partial<ChatOptions>)
  t.equal(ta.app.chat.options.ai, undefined, 'no AI participant')
  const res = await ta.request('POST', '/chat/conversations', { token: await ta.token('alice'), body: { ai: true, participants: ['bob'] } })
  t.equal(res.status, 400)
  t.match(res.body, { statusCode: 400, code: 'BAD_REQUEST', error: 'Bad Request', message: /AI/ })
  const list = await ta.request('GET', '/chat/conversations', { token: await ta.token('alice') })
  t.same(list.body.items, [], 'nothing was created')
})

t.test('creating over the participant limit is 429 PARTICIPANT_LIMIT; a long title over maxTitleLength is 400', async (t) => {
  const ta = await startApp(t, { limits: { maxParticipants: 3, maxTitleLength: 10 } })
  const alice = await ta.token('alice')
  const full = await ta.request('POST', '/chat/conversations', { token: alice, body: { participants: ['b', 'c', 'd'] } })
  t.equal(full.status, 429)
  t.match(full.body, { statusCode: 429, code: 'PARTICIPANT_LIMIT', error: 'Too Many Requests', message: /3/ })
  const fits = await ta.request('POST', '/chat/conversations', { token: alice, body: { participants: ['b', 'c', 'b'] } })
  t.equal(fits.status, 201, 'duplicates do not count')

  const long = await ta.request('POST', '/chat/conversations', { token: alice, body: { title: 'x'.repeat(11) } })
  t.equal(long.status, 400)
  t.match(long.body, { code: 'BAD_REQUEST', message: /title/ })
  t.equal((await ta.request('POST', '/chat/conversations', { token: alice, body: { title: 'x'.repeat(10) } })).status, 201)
})

t.test('body and query validation: 400 with { statusCode, code: BAD_REQUEST, error, message }', async (t) => {
  const ta = await startApp(t)
  const alice = await ta.token('alice')
  const bad: Array<[string, unknown]> = [
    ['participants not an array of ids', { participants: [{ id: 'bob' }] }],
    ['an empty participant id', { participants: [''] }],
    ['ai not a boolean', { ai: 'perhaps' }],
    ['metadata not an object', { metadata: 'x' }],
    ['title over 200 characters', { title: 'x'.repeat(201) }],
    ['a body that is not an object', ['bob']]
  ]
  for (const [name, body] of bad) {
    const res = await ta.request('POST', '/chat/conversations', { token: alice, body })
    t.equal(res.status, 400, name)
    t.match(res.body, { ...ERROR_SHAPE, statusCode: 400, code: 'BAD_REQUEST', error: 'Bad Request' }, name)
    t.same(Object.keys(res.body).sort(), ['code', 'error', 'message', 'statusCode'], `${name}: nothing else in the body`)
  }
  const notJson = await ta.app.inject({
    method: 'POST',
    url: '/chat/conversations',
    headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
    payload: '{"title": '
  })
  t.equal(notJson.statusCode, 400)
  t.match(notJson.json(), { statusCode: 400, code: 'BAD_REQUEST' })

  for (const query of ['limit=0', 'limit=201', 'limit=abc']) {
    const res = await ta.request('GET', `/chat/conversations?${query}`, { token: alice })
    t.equal(res.status, 400, query)
    t.match(res.body, { statusCode: 400, code: 'BAD_REQUEST', error: 'Bad Request', message: /limit/ }, query)
  }
  const list = await ta.request('GET', '/chat/conversations', { token: alice })
  t.same(list.body.items, [], 'no bad request created anything')
})

t.test('GET /conversations lists the caller\'s own, newest first, paged by limit and cursor', async (t) => {
  const ta = await startApp(t)
  const alice = await ta.token('alice')
  const mine: string[] = []
  for (let i = 0; i < 5; i++) mine.push((await createConversation(ta, 'alice', [], { title: `a${i}` })).id)
  await createConversation(ta, 'bob', ['carol'], { title: 'not alice\'s' })
  mine.push((await createConversation(ta, 'bob', ['alice'], { title: 'bob invited alice' })).id)
  mine.push((await createConversation(ta, 'alice', ['bob'], { title: 'a5' })).id)
  await createConversation(ta, 'carol', [], { title: 'carol alone' })

  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const url: string = `/chat/conversations?limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`
    const res = await ta.request('GET', url, { token: alice })
    t.equal(res.status, 200)
    t.ok(res.body.items.length <= 2, 'at most limit items')
    for (const c of res.body.items) {
      t.ok(c.participants.some((p: any) => p.id === 'alice'), `${c.title}: alice takes part`)
      seen.push(c.id)
    }
    cursor = res.body.nextCursor
    pages++
    t.ok(pages < 10, 'the paging ends')
  } while (cursor !== null && pages < 10)

  t.equal(pages, 4, '7 conversations in pages of 2')
  t.equal(new Set(seen).size, seen.length, 'no repeats')
  t.same(seen, [...mine].reverse(), 'every one of alice\'s, newest first')

  const all = await ta.request('GET', '/chat/conversations', { token: alice })
  t.equal(all.body.items.length, 7)
  t.equal(all.body.nextCursor, null, 'one page holds them all at the default limit')
  t.match(all.body.items[0], { title: 'a5', participants: Array, lastSeq: 2 })

  const exact = await ta.request('GET', '/chat/conversations?limit=7', { token: alice })
  t.equal(exact.body.items.length, 7)
  t.equal(exact.body.nextCursor, null, 'no empty page after an exact fit')

  const nobody = await ta.request('GET', '/chat/conversations', { token: await ta.token('dave') })
  t.same(nobody.body, { items: [], nextCursor: null })
})

t.test('GET /conversations/:id: a participant gets it; others and unknown ids 404', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'], { title: 'hello', metadata: { x: 1 } })
  const got = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token('bob') })
  t.equal(got.status, 200)
  t.same({ ...got.body, participants: undefined }, { ...conv, participants: undefined })
  t.same(got.body.participants.map((p: any) => p.id), ['alice', 'bob'])

  const stranger = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token('eve') })
  t.equal(stranger.status, 404)
  t.match(stranger.body, { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: String })
  const unknown = await ta.request('GET', '/chat/conversations/0000000000000', { token: await ta.token('bob') })
  t.same(unknown.body, stranger.body, 'an unknown id and someone else\'s look the same')
})

t.test('DELETE /conversations/:id: owner 204 then 404; a member 403; an admin 204; a stranger 404', async (t) => {
  const ta = await startApp(t)
  const alice = await ta.token('alice')
  const bob = await ta.token('bob')

  const owned = await createConversation(ta, 'alice', ['bob'])
  const byMember = await ta.request('DELETE', `/chat/conversations/${owned.id}`, { token: bob })
  t.equal(byMember.status, 403)
  t.match(byMember.body, { statusCode: 403, code: 'FORBIDDEN', error: 'Forbidden' })
  const byStranger = await ta.request('DELETE', `/chat/conversations/${owned.id}`, { token: await ta.token('eve') })
  t.equal(byStranger.status, 404)
  t.equal((await ta.request('GET', `/chat/conversations/${owned.id}`, { token: bob })).status, 200, 'still there')

  const byOwner = await ta.request('DELETE', `/chat/conversations/${owned.id}`, { token: alice })
  t.equal(byOwner.status, 204)
  t.equal(byOwner.body, '')
  t.equal((await ta.request('GET', `/chat/conversations/${owned.id}`, { token: alice })).status, 404)
  t.equal((await ta.request('GET', `/chat/conversations/${owned.id}/messages`, { token: bob })).status, 404)
  t.equal((await ta.request('DELETE', `/chat/conversations/${owned.id}`, { token: alice })).status, 404, 'deleting again')
  t.same((await ta.request('GET', '/chat/conversations', { token: bob })).body.items, [], 'gone from the list')

  const other = await createConversation(ta, 'bob', ['carol'])
  const byAdmin = await ta.request('DELETE', `/chat/conversations/${other.id}`, { token: await ta.token('root', { admin: true }) })
  t.equal(byAdmin.status, 204, 'an admin who is not a participant')
  t.equal((await ta.request('GET', `/chat/conversations/${other.id}`, { token: bob })).status, 404)
})

t.test('deleting a conversation ends the subscriptions of joined sockets', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const bob = await ta.connect('bob')
  await bob.call({ type: 'join', conversationId: conv.id })
  t.equal((await ta.request('DELETE', `/chat/conversations/${conv.id}`, { token: await ta.token('alice') })).status, 204)
  t.match(await bob.next((f) => f.type === 'left'), { type: 'left', conversationId: conv.id })
  const send = await bob.call({ type: 'send', conversationId: conv.id, clientMessageId: 'x', content: 'anyone?' })
  t.match(send, { type: 'error', code: 'NOT_FOUND' })
})

t.test('limits.maxTitleLength above 200 lets longer titles through', async (t) => {
  const ta = await startApp(t, { limits: { maxTitleLength: 300 } })
  const res = await ta.request('POST', '/chat/conversations', { token: await ta.token('alice'), body: { title: 'x'.repeat(250) } })
  t.equal(res.status, 201)
  t.equal(res.body.title.length, 250)
  const over = await ta.request('POST', '/chat/conversations', { token: await ta.token('alice'), body: { title: 'x'.repeat(301) } })
  t.match(over, { status: 400, body: { code: 'BAD_REQUEST', message: /300/ } })
})
