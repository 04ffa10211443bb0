import t from 'tap'
import type { AgentApi, AgentParticipant } from '../../lib/index.ts'
import { NLWebParticipant } from '../../lib/index.ts'
import type { Message } from '../../lib/schemas/entities.ts'
import { createConversation, startApp } from '../helpers/app.ts'

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

t.test('NLWebParticipant answers a message that reached it without a stored placeholder', async (t) => {
  const calls: string[] = []
  const posted: unknown[] = []
  const finished: unknown[] = []
  const api: AgentApi = {
    async participants () { return [{ id: 'alice', name: 'Alice', type: 'human', role: 'owner', joinedAt: '' }] },
    async recentMessages () { return [] },
    async post (conversationId, draft) {
      posted.push(draft)
      return { ...draft, id: draft.id ?? 'x', conversationId, seq: 2, createdAt: '' }
    },
    broadcast (conversationId, frame) { calls.push(frame) },
    flush () {},
    async finish (conversationId, messageId, patch) {
      finished.push(patch)
      return null
    }
  }
  let done: () => void = () => {}
  const ended = new Promise<void>((resolve) => { done = resolve })
  const ai = new NLWebParticipant({
    handler: async (params, sink) => {
      await sink.write({ message_type: 'summary', message: `about ${params.query}` })
      done()
    }
  })
  ai.attach(api)
  const question: Message = { id: 'q', conversationId: 'c', seq: 1, kind: 'text', sender: { id: 'alice', name: 'Alice', type: 'human' }, content: 'soup', createdAt: '' }
  ai.onMessage('c', question)
  await ended
  await ai.close()
  t.match(posted, [{ kind: 'ai', status: 'streaming', replyTo: 1 }], 'it posted its own placeholder')
  t.match(finished, [{ status: 'complete', content: 'about soup' }])
  t.equal(calls.length, 1)
  t.match(JSON.parse(calls[0]), { type: 'stream.chunk', index: 0, part: { message_type: 'summary' } })
  t.equal(ai.replyDraft('c', { ...question, id: 'n' }, 2), undefined, 'two humans, no mention: no answer')
  t.notOk(new NLWebParticipant({ handler: async () => {} }).replyDraft('c', question, 1), 'not attached: no answer')
})
