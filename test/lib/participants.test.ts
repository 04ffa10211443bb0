import t from 'tap'
import type { AgentApi, AgentParticipant } from '../../lib/index.ts'
import { NLWebParticipant } from '../../lib/index.ts'
import type { Message } from '../../lib/schemas/entities.ts'
import { createMemoryStorage, type ChatStorage } from '../../lib/index.ts'
import { createConversation, startApp } from '../helpers/app.ts'
import { writesOf } from '../helpers/socket-writes.ts'
import type { AskHandler } from '../../examples/nlweb/handler.ts'

/** An agent of the host's own, through the same seam as the NLWeb one: it echoes every human message. */
class EchoAgent implements AgentParticipant {
  readonly id = 'echo'
  readonly name = 'Echo'
  private api: AgentApi | undefined
  readonly heard: Message[] = []
  attach (api: AgentApi): void { this.api = api }
  onMessage (conversationId: string, message: Message): void {
    this.heard.push(message)
    if (message.sender.type !== 'human' || this.api === undefined) return
    void this.api.post(conversationId, { kind: 'ai', sender: { id: this.id, name: this.name, type: 'ai' }, content: `echo: ${message.content}`, status: 'complete', replyTo: message.seq })
  }

  cancel (): boolean { return false }
  async close (): Promise<void> {}
}

/** The calls an agent makes, answered in memory (for unit tests of one agent alone). */
function apiWith (over: Partial<AgentApi>): AgentApi {
  return {
    async participants () { return [] },
    async recentMessages () { return [] },
    async post () { throw new Error('not used: the placeholder is stored with the question') },
    broadcast () {},
    flush () {},
    async finish () { return null },
    ...over
  }
}

t.test('an agent of the host plugs in through the participant seam', async (t) => {
  const echo = new EchoAgent()
  const ta = await startApp(t, { ai: false, agents: [echo] })
  const conv = await createConversation(ta, 'alice', ['echo'])
  t.match(conv.participants.find((p: any) => p.id === 'echo'), { type: 'ai', name: 'Echo', online: true })
  const alice = await ta.connect('alice')
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'a', content: 'hello' })
  const reply = await alice.next((f) => f.type === 'message' && f.message.sender.id === 'echo')
  t.match(reply.message, { kind: 'ai', content: 'echo: hello', replyTo: ack.seq, seq: ack.seq + 1, status: 'complete' })
  t.ok(echo.heard.some((m) => m.id === ack.messageId), 'the agent heard the question')
})

t.test('NLWebParticipant answers only the questions it claimed, into the placeholder stored with them', async (t) => {
  const chunks: string[] = []
  const finished: unknown[] = []
  let done: () => void = () => {}
  const ended = new Promise<void>((resolve) => { done = resolve })
  const api = apiWith({
    broadcast (conversationId, frame) { chunks.push(frame) },
    async finish (conversationId, messageId, patch) {
      finished.push({ messageId, ...patch })
      done()
      return null
    }
  })
  const asked: string[] = []
  const ai = new NLWebParticipant({
    handler: async (params, sink) => {
      asked.push(params.query)
      await sink.write({ message_type: 'summary', message: `about ${params.query}` })
    }
  })
  t.equal(ai.replyDraft('c', { id: 'q', kind: 'text', sender: { id: 'alice', name: 'Alice', type: 'human' }, content: 'soup', createdAt: '' }, 1), undefined, 'not attached: no answer')
  ai.attach(api)
  const question: Message = { id: 'q', conversationId: 'c', seq: 1, kind: 'text', sender: { id: 'alice', name: 'Alice', type: 'human' }, content: 'soup', createdAt: '' }
  t.equal(ai.replyDraft('c', question, 2), undefined, 'two humans, no mention: no answer')
  const draft = ai.replyDraft('c', question, 1)
  t.match(draft, { kind: 'ai', status: 'streaming', content: '', sender: { id: 'assistant' } }, 'one human: it claims the answer')

  ai.onMessage('c', question) // not claimed here: not answered here
  const reply: Message = { ...(draft as Message), conversationId: 'c', seq: 2, replyTo: 1 }
  ai.onMessage('c', question, reply)
  await ended
  await ai.close()
  t.same(asked, ['soup'], 'asked once')
  t.match(finished, [{ messageId: reply.id, status: 'complete', content: 'about soup' }])
  t.equal(chunks.length, 1)
  t.match(JSON.parse(chunks[0]), { type: 'stream.chunk', messageId: reply.id, index: 0, part: { message_type: 'summary' } })
})

t.test('an answer that cannot be stored still ends its stream, as failed, for every viewer', async (t) => {
  // A store that takes the question and its placeholder but cannot store the finished answer.
  const inner = createMemoryStorage()
  const storage: ChatStorage = {
    ...inner,
    async updateMessage () { throw new Error('disk full') }
  }
  const ta = await startApp(t, { storage }, { askHandler: async (params, sink) => { await sink.write({ message_type: 'summary', message: 'x' }) } })
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })
  const ack = await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: '@assistant soup' })
  const start = await alice.next((f) => f.type === 'stream.start')
  const end = await alice.next((f) => f.type === 'stream.end')
  t.match(end.message, { id: start.message.id, status: 'failed', seq: ack.seq + 1, replyTo: ack.seq, parts: [{ message_type: 'summary' }] })
  // A socket joining afterwards is not shown a stream that will not finish.
  const bob = await ta.connect('alice')
  const joined = await bob.call({ type: 'join', conversationId: conv.id })
  t.same(joined.streaming ?? [], [], 'nothing listed as streaming')
})

/** A handler that writes its two frames in one tick, as the example's does. */
const twoFrames: AskHandler = async (params, sink) => {
  await sink.write({ message_type: 'result_batch', results: [{ name: 'soup', url: 'https://x.example/soup' }] })
  await sink.write({ message_type: 'summary', message: 'about soup' })
}

t.test('the last chunks of an answer leave with its stream.end, in one write, once it is stored', async (t) => {
  // The placeholder's update is the only step between the chunks and stream.end.
  const ta = await startApp(t, {}, { askHandler: twoFrames })
  const writes = writesOf(ta.app.server)
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: 'soup' })
  const end = await alice.next((f) => f.type === 'stream.end')
  t.equal(end.message.status, 'complete')
  const [socketWrites] = [...writes.values()]
  const last = socketWrites.find((w) => w.includes('"type":"stream.end"')) ?? ''
  t.match(last, /"type":"stream\.chunk"[^]*"index":0[^]*"type":"stream\.chunk"[^]*"index":1[^]*"type":"stream\.end"/,
    'both chunks and the end in the same write, in order')
  t.notOk(socketWrites.some((w) => w !== last && w.includes('"type":"stream.chunk"')), 'no chunk went out alone')
})

t.test('a store that takes its time does not hold the chunks back: they arrive before the answer is stored', async (t) => {
  const inner = createMemoryStorage()
  let release = (): void => {}
  const stored = new Promise<void>((resolve) => { release = resolve })
  let updating = (): void => {}
  const updateStarted = new Promise<void>((resolve) => { updating = resolve })
  const storage: ChatStorage = {
    ...inner,
    async updateMessage (...args) {
      updating()
      await stored
      return await inner.updateMessage(...args)
    }
  }
  const ta = await startApp(t, { storage }, { askHandler: twoFrames })
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: 'soup' })
  await updateStarted
  const chunks = [await alice.next((f) => f.type === 'stream.chunk'), await alice.next((f) => f.type === 'stream.chunk')]
  t.same(chunks.map((c) => c.part.message_type), ['result_batch', 'summary'], 'both chunks, while the update waits')
  t.equal(alice.all('stream.end').length, 0, 'no end before the store')
  release()
  const end = await alice.next((f) => f.type === 'stream.end')
  t.match(end.message, { status: 'complete', content: 'about soup' })
})
