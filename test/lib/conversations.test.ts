import t from 'tap'
import type { AskHandler } from '../../examples/nlweb/handler.ts'
import { createMemoryStorage, type ChatStorage } from '../../lib/index.ts'
import { createConversation, startApp } from '../helpers/app.ts'

const alice = { id: 'alice', name: 'Alice', roles: [] }

t.test('a conversation reloaded while a send is in flight still hands joins and REST every message', async (t) => {
  // An async storage: the append commits only once a reload of the conversation has read its messages,
  // and that read answers only after the send is done: the reload's snapshot misses the new message.
  const inner = createMemoryStorage()
  let slowId = ''
  let openAppend: () => void = () => {}
  let appendGate: Promise<void> | undefined
  let sendDone: Promise<unknown> = Promise.resolve()
  const storage: ChatStorage = {
    ...inner,
    async appendMessage (id, draft) {
      if (appendGate !== undefined) await appendGate
      return await inner.appendMessage(id, draft)
    },
    async getMessages (id, range) {
      const snapshot = await inner.getMessages(id, range)
      if (id === slowId) {
        slowId = ''
        openAppend()
        await sendDone
      }
      return snapshot
    }
  }
  const ta = await startApp(t, { storage, cache: { max: 1, messages: 200 }, ai: false })
  const chat = ta.app.chat
  const a = await chat.createConversation(alice, { title: 'A' })
  const b = await chat.createConversation(alice, { title: 'B' }) // evicts A
  const listener = await ta.connect('alice')
  await listener.call({ type: 'join', conversationId: a.id }) // loads A again; its channel stays open

  appendGate = new Promise<void>((resolve) => { openAppend = resolve })
  const sending = chat.postMessage(alice, a.id, { clientMessageId: 'c1', content: 'hello' })
  sendDone = sending
  await chat.getConversation(alice, b.id) // evicts A while the append waits
  slowId = a.id
  const reloading = chat.getConversation(alice, a.id)
  const sent = await sending
  await reloading
  appendGate = undefined

  const joiner = await ta.connect('alice')
  const joined = await joiner.call({ type: 'join', conversationId: a.id, since: 0 })
  t.equal(joined.lastSeq, sent.message.seq)
  t.same(joined.messages.map((m: any) => m.seq), [1, sent.message.seq], 'the join history has the message')
  const rest = await ta.request('GET', `/chat/conversations/${a.id}/messages`, { token: await ta.token('alice') })
  t.same(rest.body.items.map((m: any) => m.seq), [1, sent.message.seq], 'so does REST')
  await listener.waitFor((f) => f.type === 'message' && f.message.seq === sent.message.seq)
  await listener.call({ type: 'ping' }) // the socket is in order: anything sent before the pong has arrived
  t.same(listener.all('message').map((f) => f.message.seq), [sent.message.seq], 'the live socket got it once')
})

t.test('metadata is bounded in size and depth; nothing is stored for a refusal', async (t) => {
  const ta = await startApp(t, { limits: { maxMetadataBytes: 100 } })
  const conv = await createConversation(ta, 'alice')
  const client = await ta.connect('alice')
  const big = await client.call({ type: 'send', conversationId: conv.id, clientMessageId: 'big', content: 'x', metadata: { blob: 'y'.repeat(200) } })
  t.match(big, { type: 'error', code: 'TOO_LARGE', status: 413 })
  let deep: Record<string, unknown> = {}
  for (let i = 0; i < 40; i++) deep = { d: deep }
  t.match(await client.call({ type: 'send', conversationId: conv.id, clientMessageId: 'deep', content: 'x', metadata: deep }), { type: 'error', code: 'BAD_FRAME' })
  const rest = await ta.request('POST', `/chat/conversations/${conv.id}/messages`, { token: await ta.token('alice'), body: { clientMessageId: 'deep', content: 'x', metadata: deep } })
  t.equal(rest.status, 400)
  const created = await ta.request('POST', '/chat/conversations', { token: await ta.token('alice'), body: { metadata: { blob: 'y'.repeat(200) } } })
  t.equal(created.status, 413)
  t.match(await client.call({ type: 'send', conversationId: conv.id, clientMessageId: 'blank', content: '   ' }), { code: 'BAD_FRAME' }, 'blank content is a bad frame')
  const ok = await client.call({ type: 'send', conversationId: conv.id, clientMessageId: 'ok', content: 'x', metadata: { a: { b: 1 } } })
  t.equal(ok.seq, conv.lastSeq + 1, 'no refused send took a seq')
})

t.test('an AI listed among the participants joins as the AI', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob', 'assistant'])
  t.same(conv.participants.map((p: any) => [p.id, p.type]), [['alice', 'human'], ['bob', 'human'], ['assistant', 'ai']])
})

t.test('deleting a conversation stops its running AI answer', async (t) => {
  let aborted: (reason: unknown) => void = () => {}
  const seen = new Promise((resolve) => { aborted = resolve })
  let started: () => void = () => {}
  const running = new Promise<void>((resolve) => { started = resolve })
  const handler: AskHandler = async (params, sink, options) => {
    options?.signal?.addEventListener('abort', () => { aborted(options.signal?.reason) })
    started()
    await new Promise(() => {})
  }
  const ta = await startApp(t, {}, { askHandler: handler })
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  const client = await ta.connect('alice')
  await client.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: 'question' })
  await running
  const del = await ta.request('DELETE', `/chat/conversations/${conv.id}`, { token: await ta.token('alice') })
  t.equal(del.status, 204)
  t.ok(await seen, 'the handler was aborted')
  t.match(await client.next((f) => f.type === 'left'), { conversationId: conv.id })
})
