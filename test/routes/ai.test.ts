import t from 'tap'
import type { AskHandler, AskParams } from '../../examples/nlweb/handler.ts'
import { createConversation, startApp, joinAll } from '../helpers/app.ts'

t.test('1+1: the AI answers every human message with a streamed answer', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  t.same(conv.participants.map((p: any) => [p.id, p.type, p.online]), [['alice', 'human', false], ['assistant', 'ai', true]])
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q1', content: 'pasta recipes' })
  const start = await alice.next((f) => f.type === 'stream.start')
  t.match(start.message, { kind: 'ai', status: 'streaming', content: '', replyTo: ack.seq, seq: ack.seq + 1, sender: { id: 'assistant', type: 'ai' } })
  const end = await alice.next((f) => f.type === 'stream.end')
  const chunks = alice.all('stream.chunk')
  t.ok(chunks.length >= 3, 'result batches, summary, complete')
  t.same(chunks.map((c) => c.index), chunks.map((_, i) => i), 'chunk indexes 0, 1, 2...')
  t.ok(chunks.every((c) => c.messageId === start.message.id))
  t.same(end.message.parts, chunks.map((c) => c.part), 'parts are the frames, in order')
  t.match(end.message, { id: start.message.id, seq: start.message.seq, status: 'complete', replyTo: ack.seq })
  const summary = chunks.find((c) => c.part.message_type === 'summary')
  t.equal(end.message.content, summary?.part.message, 'content is the readable summary')
  const stored = await ta.request('GET', `/chat/conversations/${conv.id}/messages?after=${ack.seq}`, { token: await ta.token('alice') })
  t.same(stored.body.items, [end.message], 'the stored message equals stream.end')

  // A follow-up carries the conversation as prev / last_ans: the answer is about vegetarian pasta.
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q2', content: 'and vegetarian ones?' })
  const second = await alice.next((f) => f.type === 'stream.end')
  const results = second.message.parts.filter((p: any) => p.message_type === 'result_batch').flatMap((p: any) => p.results)
  t.ok(results.length > 0)
  t.ok(results.every((r: any) => JSON.stringify(r.schema_object.suitableForDiet ?? '').includes('Vegetarian') || JSON.stringify(r.schema_object.suitableForDiet ?? '').includes('Vegan')), 'vegetarian results')
})

t.test('two humans and the AI: a mention gets one streamed answer both see in the same order', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'], { ai: true })
  const [alice, bob] = await joinAll(ta, conv.id, ['alice', 'bob'])

  const plain = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'hi', content: 'hi bob, what shall we cook?' })
  const asked = await bob.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: 'let us ask @ASSISTANT for chocolate dessert ideas' })
  const endA = await alice.next((f) => f.type === 'stream.end')
  const endB = await bob.next((f) => f.type === 'stream.end')
  t.same(endA, endB)
  t.equal(endA.message.replyTo, asked.seq, 'it answered the mention, not the plain message')
  const seqOf = (frames: any[]): string[] => frames.filter((f) => ['message', 'stream.start', 'stream.chunk', 'stream.end'].includes(f.type))
    .map((f) => `${f.type}:${f.message?.seq ?? f.index}`)
  t.same(seqOf(alice.frames), seqOf(bob.frames), 'both saw the same frames in the same order')
  t.equal(alice.all('stream.start').length, 1, 'one answer only')
  t.ok(plain.seq < asked.seq)
  const stored = await ta.request('GET', `/chat/conversations/${conv.id}/messages?after=${asked.seq}`, { token: await ta.token('bob') })
  t.same(stored.body.items, [endA.message], 'stored equals stream.end')
  t.match(endA.message.content, /chocolate/i)
})

t.test('the handler gets the context of the conversation as prev and last_ans', async (t) => {
  const calls: AskParams[] = []
  const handler: AskHandler = async (params, sink) => {
    calls.push(params)
    await sink.write({ message_type: 'result_batch', query_id: params.query_id, results: [{ name: `hit for ${params.query}`, url: `https://x.example/${calls.length}` }] })
    await sink.write({ message_type: 'summary', query_id: params.query_id, message: `about ${params.query}` })
    await sink.write({ message_type: 'complete', query_id: params.query_id })
  }
  const ta = await startApp(t, {}, { askHandler: handler })
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  const alice = await ta.connect('alice')
  for (const q of ['pasta recipes', 'vegetarian ones?', 'quick ones']) {
    await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: q, content: q })
    await alice.next((f) => f.type === 'stream.end')
  }
  t.equal(calls.length, 3)
  t.same(calls[0].prev, undefined)
  t.same(calls[2].prev, ['pasta recipes', 'vegetarian ones?'])
  t.same(calls[2].last_ans, [{ title: 'hit for vegetarian ones?', url: 'https://x.example/2' }])
  t.equal(calls[2].query, 'quick ones')
  t.type(calls[2].query_id, 'string')
})

t.test('cancel ends the answer with status cancelled; the conversation goes on', async (t) => {
  let aborted = false
  const handler: AskHandler = async (params, sink, options) => {
    await sink.write({ message_type: 'result_batch', query_id: params.query_id, results: [] })
    await new Promise<void>((resolve) => {
      options?.signal?.addEventListener('abort', () => { aborted = true; resolve() })
    })
    throw options?.signal?.reason
  }
  const ta = await startApp(t, {}, { askHandler: handler })
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  const alice = await ta.connect('alice')
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: 'slow question' })
  const start = await alice.next((f) => f.type === 'stream.start')
  await alice.next((f) => f.type === 'stream.chunk')
  alice.send({ type: 'cancel', conversationId: conv.id, messageId: start.message.id })
  const end = await alice.next((f) => f.type === 'stream.end')
  t.equal(end.message.status, 'cancelled')
  t.equal(aborted, true, 'the handler saw its signal abort')
  t.equal(end.message.parts.length, 1)
  // cancelling again: nothing running
  t.match(await alice.call({ type: 'cancel', conversationId: conv.id, messageId: start.message.id }), { type: 'error', code: 'NOT_FOUND' })
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q2', content: 'still here' })
  t.equal(ack.seq, end.message.seq + 1)
})

t.test('a handler that never ends times out; one that throws fails with a safe message', async (t) => {
  const hang: AskHandler = async () => { await new Promise(() => {}) }
  const ta = await startApp(t, { ai: { timeoutMs: 50 } as any }, { askHandler: hang })
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  const alice = await ta.connect('alice')
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: 'anything' })
  const end = await alice.next((f) => f.type === 'stream.end')
  t.equal(end.message.status, 'timeout')

  const boom: AskHandler = async () => { throw new Error('secret internal detail at /srv/app.js:12') }
  const tb = await startApp(t, {}, { askHandler: boom })
  const conv2 = await createConversation(tb, 'alice', [], { ai: true })
  const alice2 = await tb.connect('alice')
  await alice2.call({ type: 'send', conversationId: conv2.id, clientMessageId: 'q', content: 'anything' })
  const failed = await alice2.next((f) => f.type === 'stream.end')
  t.equal(failed.message.status, 'failed')
  t.notMatch(JSON.stringify(alice2.frames), /secret internal detail|srv\/app/, 'no detail leaks')
  t.ok(failed.message.content.length > 0)
  const ack = await alice2.call({ type: 'send', conversationId: conv2.id, clientMessageId: 'q2', content: 'again' })
  t.equal(ack.type, 'ack', 'the conversation still works')
})

t.test('the AI can be added to an existing conversation by its id', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const added = await ta.request('POST', `/chat/conversations/${conv.id}/participants`, { token: await ta.token('alice'), body: { userId: 'assistant' } })
  t.match(added.body, { id: 'assistant', type: 'ai', name: 'Assistant', online: true })
})
