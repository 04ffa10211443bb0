import t from 'tap'
import { createConversation, startApp } from '../helpers/app.ts'

t.test('bad frames get BAD_FRAME, the socket stays usable, nothing is stored', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  const cases: Array<[string, unknown]> = [
    ['invalid JSON', '{"type": "send", '],
    ['not an object', '[1,2,3]'],
    ['a bare string', '"hello"'],
    ['null', 'null'],
    ['no type', { conversationId: conv.id }],
    ['unknown type', { type: 'explode', conversationId: conv.id }],
    ['type not a string', { type: 42 }],
    ['content a number', { type: 'send', conversationId: conv.id, clientMessageId: 'a', content: 5 }],
    ['missing clientMessageId', { type: 'send', conversationId: conv.id, content: 'x' }],
    ['conversationId an object', { type: 'join', conversationId: { $ne: 1 } }],
    ['since negative', { type: 'join', conversationId: conv.id, since: -1 }],
    ['since a string', { type: 'join', conversationId: conv.id, since: '3' }],
    ['metadata an array', { type: 'send', conversationId: conv.id, clientMessageId: 'b', content: 'x', metadata: [1] }],
    ['prototype pollution', '{"type":"ping","__proto__":{"polluted":true}}']
  ]
  for (const [name, frame] of cases) {
    alice.send(frame)
    const err = await alice.next((f) => f.type === 'error')
    t.match(err, { type: 'error', code: 'BAD_FRAME', status: 400, message: String }, name)
  }
  t.equal(({} as any).polluted, undefined, 'no prototype pollution')

  // A bad frame with a ref gets its ref back
  const withRef = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'c', content: 7 })
  t.match(withRef, { type: 'error', code: 'BAD_FRAME' })
  t.match(withRef.message, /content/, 'the message names the field')

  const binary = Buffer.from([1, 2, 3])
  alice.ws.send(binary)
  t.match(await alice.next((f) => f.type === 'error'), { code: 'BAD_FRAME' }, 'binary frame')

  // still usable
  t.match(await alice.call({ type: 'ping' }), { type: 'pong' })
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'ok', content: 'fine' })
  t.equal(ack.type, 'ack')
  t.equal(ack.seq, conv.lastSeq + 1, 'no bad frame took a seq')
  const list = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice') })
  t.same(list.body.items.filter((m: any) => m.kind === 'text').map((m: any) => m.content), ['fine'])
})

t.test('oversize content gets TOO_LARGE; an oversize frame closes with 1009', async (t) => {
  const ta = await startApp(t, { limits: { maxMessageBytes: 100, maxFrameBytes: 4096 } })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  t.equal(alice.frames[0].limits.maxMessageBytes, 100, 'ready announces the limit')
  const big = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'big', content: 'x'.repeat(101) })
  t.match(big, { type: 'error', code: 'TOO_LARGE', status: 413 })
  // multi-byte characters count as bytes
  const wide = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'wide', content: 'é'.repeat(51) })
  t.match(wide, { code: 'TOO_LARGE' })
  const ok = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'fits', content: 'x'.repeat(100) })
  t.equal(ok.seq, conv.lastSeq + 1)

  alice.send({ type: 'send', conversationId: conv.id, clientMessageId: 'huge', content: 'x'.repeat(10_000) })
  const closed = await alice.closed
  t.equal(closed.code, 1009)
  const list = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice') })
  t.equal(list.body.items.filter((m: any) => m.kind === 'text').length, 1, 'only the one that fits was stored')
})

t.test('a socket past its queue limit gets QUEUE_FULL and keeps working', async (t) => {
  const ta = await startApp(t, { limits: { maxQueuedFrames: 2 } })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  // One write so that all frames arrive in the same tick, before the first is handled.
  const frames = Array.from({ length: 20 }, (_, i) => JSON.stringify({ type: 'send', conversationId: conv.id, clientMessageId: `q${i}`, content: `q${i}` }))
  for (const f of frames) alice.ws.send(f)
  await alice.waitFor((f) => f.type === 'error' && f.code === 'QUEUE_FULL')
  t.match(await alice.call({ type: 'ping' }), { type: 'pong' })
  const acks = alice.all('ack').length
  const errors = alice.all('error').filter((e) => e.code === 'QUEUE_FULL').length
  t.equal(acks + errors, 20, 'every frame answered: ack or QUEUE_FULL')
})

t.test('socket: metadata holding a 150,000-element array gets TOO_LARGE, not INTERNAL; the socket stays usable', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  const reply = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'wide', content: 'x', metadata: { list: new Array(150_000).fill(0) } })
  t.match(reply, { type: 'error', code: 'TOO_LARGE', status: 413 })
  t.match(await alice.call({ type: 'ping' }), { type: 'pong' }, 'still usable')
  const list = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice') })
  t.same(list.body.items.filter((m: any) => m.kind === 'text'), [], 'nothing stored')
})

t.test('socket: content of only zero-width or other invisible characters is a BAD_FRAME like blank content', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  const contents = ['\u200B', '\u200B\u200C\u200D\u2060\uFEFF\u00AD', '\u3164\u2800', '\u0301\u0301', '\uFE0F', ' \u200B\n']
  for (const content of contents) {
    const reply = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: `inv${content.codePointAt(0) ?? 0}-${content.length}`, content })
    t.match(reply, { type: 'error', code: 'BAD_FRAME', status: 400, message: /empty|invisible/ }, JSON.stringify(content))
  }
  const ok = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'ok', content: '\u200Bvisible' })
  t.equal(ok.type, 'ack')
  const list = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice') })
  t.same(list.body.items.filter((m: any) => m.kind === 'text').map((m: any) => m.content), ['\u200Bvisible'], 'only the visible one was stored')
})

t.test('a bad frame echoes its ref only when a valid frame could carry it (at most 128 characters)', async (t) => {
  const ta = await startApp(t)
  const alice = await ta.connect('alice')
  alice.send({ type: 'explode', ref: 'r'.repeat(129) })
  const err = await alice.next((f) => f.type === 'error')
  t.match(err, { code: 'BAD_FRAME' })
  t.notOk('ref' in err, 'an overlong ref is not echoed')
  t.match(await alice.call({ type: 'explode' }), { code: 'BAD_FRAME' }, 'a short ref still is')
})

t.test('socket: metadata with a lone surrogate is a BAD_FRAME and nothing is stored', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  const reply = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'ls', content: 'x', metadata: { k: '\uD800' } })
  t.match(reply, { type: 'error', code: 'BAD_FRAME', message: /surrogate/ })
  const lone = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'ls2', content: 'a\uDC00' })
  t.match(lone, { type: 'error', code: 'BAD_FRAME', message: /surrogate/ }, 'in content too')
  const list = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice') })
  t.same(list.body.items.filter((m: any) => m.kind === 'text'), [])
})
