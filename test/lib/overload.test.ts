import t from 'tap'
import type { AskHandler } from '../../examples/nlweb/handler.ts'
import { createMemoryStorage, type ChatStorage } from '../../lib/index.ts'
import { createConversation, startApp } from '../helpers/app.ts'

t.test('an overloaded conversation sheds its AI answers first, then refuses sends with QUEUE_FULL and retryAfterMs', async (t) => {
  // Stores wait at a gate while it is closed: the conversation's pending stores pile up.
  const inner = createMemoryStorage()
  let gate: Promise<void> | undefined
  let open: () => void = () => {}
  let waiting = 0
  let arrived: () => void = () => {}
  const storage: ChatStorage = {
    ...inner,
    async appendMessage (id, draft, reply) {
      if (gate !== undefined) {
        waiting++
        arrived()
        await gate
      }
      return await inner.appendMessage(id, draft, reply)
    }
  }
  // The AI streams one part, then waits until it is stopped.
  const slow: AskHandler = async (params, sink, options) => {
    const signal = options?.signal as AbortSignal
    await sink.write({ message_type: 'summary', message: 'thinking' })
    await new Promise((resolve) => { signal.addEventListener('abort', resolve) })
  }
  const ta = await startApp(t, { storage, limits: { maxPendingSends: 4 } }, { askHandler: slow })
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: 'soup?' })
  await alice.next((f) => f.type === 'stream.chunk')

  gate = new Promise((resolve) => { open = resolve })
  const token = await ta.token('alice')
  const post = (n: number) => ta.request('POST', `/chat/conversations/${conv.id}/messages`, { token, body: { clientMessageId: `m${n}`, content: `m${n}` } })
  const until = async (n: number): Promise<void> => {
    // eslint-disable-next-line no-unmodified-loop-condition -- `waiting` grows in the storage wrapper, which wakes this loop
    while (waiting < n) await new Promise<void>((resolve) => { arrived = resolve })
  }
  // Two stores pending (half the bound): the next send sheds the AI's answer, and is itself stored.
  const first = [post(1), post(2)]
  await until(2)
  const third = post(3)
  const end = await alice.next((f) => f.type === 'stream.end')
  t.equal(end.message.status, 'cancelled', 'the AI answer was ended to make room')
  await until(3)
  const fourth = post(4)
  await until(4)
  // Four pending: a human send is now refused, with when to come back.
  const refused = await post(5)
  t.match(refused, { status: 429, body: { code: 'QUEUE_FULL', retryAfterMs: Number } })
  t.ok(Number(refused.headers['retry-after']) >= 1, 'REST says when in retry-after')
  const ws = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'w', content: 'w' })
  t.match(ws, { type: 'error', code: 'QUEUE_FULL', status: 429, retryAfterMs: Number })

  gate = undefined
  open()
  const stored = await Promise.all([...first, third, fourth])
  t.same(stored.map((r) => r.status), [201, 201, 201, 201], 'every send that was not refused is stored')
  const list = await ta.request('GET', `/chat/conversations/${conv.id}/messages`, { token })
  const texts = list.body.items.filter((m: any) => m.kind === 'text').map((m: any) => m.content).sort()
  t.same(texts, ['m1', 'm2', 'm3', 'm4', 'soup?'], 'nothing refused was stored')
  const question = list.body.items.find((m: any) => m.content === 'soup?')
  const shed = list.body.items.find((m: any) => m.kind === 'ai' && m.replyTo === question.seq)
  t.equal(shed.status, 'cancelled', 'the shed answer is stored as ended')
  // Once the load is gone, the AI answers again.
  const again = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q2', content: 'and bread?' })
  t.equal(again.type, 'ack')
  t.ok(await alice.waitFor((f) => f.type === 'stream.start' && f.message.replyTo === again.seq))
})
