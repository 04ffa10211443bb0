import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { AskHandler } from '../../examples/nlweb/handler.ts'
import { createLocalFanout } from '../../lib/fanout/index.ts'
import { newId } from '../../lib/ids.ts'
import type { Message } from '../../lib/schemas/entities.ts'
import { createSqliteStorage } from '../../lib/storage/sqlite.ts'
import type { ChatStorage, MessageDraft } from '../../lib/storage/types.ts'
import { createConversation, startApp, type TestApp } from '../helpers/app.ts'

/** A second connection to the app's SQLite file: what another instance (or this one before a crash) wrote. */
async function openFile (t: Test, filename: string): Promise<ChatStorage> {
  const storage = createSqliteStorage({ filename })
  await storage.init()
  t.teardown(() => storage.close())
  return storage
}

/**
 * A conversation of alice and the assistant holding a question and its answer's placeholder, stored as the
 * instance answering it leaves them when it dies mid-answer: the placeholder still 'streaming'.
 */
async function abandonedAnswer (storage: ChatStorage, startedAt: Date): Promise<Message> {
  const at = startedAt.toISOString()
  const id = newId()
  await storage.createConversation({ id, title: 'crashed', createdBy: 'alice', createdAt: at, updatedAt: at, lastSeq: 0 }, [
    { id: 'alice', name: 'alice', type: 'human', role: 'owner', joinedAt: at },
    { id: 'assistant', name: 'Assistant', type: 'ai', role: 'member', joinedAt: at }
  ])
  const question: MessageDraft = { id: newId(), kind: 'text', sender: { id: 'alice', name: 'alice', type: 'human' }, content: 'pasta?', createdAt: at }
  const { reply } = await storage.appendMessage(id, question, (q) => ({
    id: newId(),
    kind: 'ai',
    sender: { id: 'assistant', name: 'Assistant', type: 'ai' },
    content: '',
    parts: [{ message_type: 'result_batch', results: [] }],
    status: 'streaming',
    replyTo: q.seq,
    createdAt: at
  }))
  if (reply === undefined) throw new Error('no placeholder stored')
  return reply
}

async function messages (ta: TestApp, conversationId: string): Promise<Message[]> {
  const res = await ta.request('GET', `/chat/conversations/${conversationId}/messages`, { token: await ta.token('alice') })
  if (res.status !== 200) throw new Error(`messages: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.items
}

t.test('a restart after a crash mid-answer leaves no answer streaming', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const before = await openFile(t, filename)
  const justNow = await abandonedAnswer(before, new Date())
  const longAgo = await abandonedAnswer(before, new Date(Date.now() - 3_600_000))
  await before.close()

  const ta = await startApp(t, { storage: { type: 'sqlite', filename } })
  for (const left of [justNow, longAgo]) {
    const [question, answer] = await messages(ta, left.conversationId)
    t.equal(question.kind, 'text')
    t.strictSame(answer, { ...left, status: 'failed' }, 'failed at start-up, the rest as stored')
  }
})

t.test('an instance sharing its storage leaves recent answers to their owners at start-up', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  const before = await openFile(t, filename)
  const owned = await abandonedAnswer(before, new Date()) // another instance may still be streaming it
  const stale = await abandonedAnswer(before, new Date(Date.now() - 3_600_000))

  const ta = await startApp(t, { storage: { type: 'sqlite', filename }, fanout: createLocalFanout(new EventEmitter()) })
  t.match((await messages(ta, owned.conversationId)).at(-1), { id: owned.id, status: 'streaming' }, 'not taken from its owner')
  t.match((await messages(ta, stale.conversationId)).at(-1), { id: stale.id, status: 'failed' }, 'older than timeoutMs and its grace')
})

t.test('the periodic sweep ends a dead instance\'s answer for live viewers and leaves answers running here alone', async (t) => {
  const filename = join(t.testdir(), 'chat.db')
  let release = (): void => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  const slow: AskHandler = async (params, sink) => {
    await sink.write({ message_type: 'result_batch', query_id: params.query_id, results: [] })
    await released
    await sink.write({ message_type: 'summary', query_id: params.query_id, message: 'done' })
  }
  // The sweep runs every timeoutMs / 2; the answer running here has the whole timeoutMs.
  const ta = await startApp(t, { storage: { type: 'sqlite', filename }, ai: { timeoutMs: 4000 } as any }, { askHandler: slow })
  const live = await createConversation(ta, 'alice', [], { ai: true })
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: live.id })
  await alice.call({ type: 'send', conversationId: live.id, clientMessageId: 'q', content: 'pasta' })
  const running = (await alice.next((f) => f.type === 'stream.start')).message as Message
  await alice.next((f) => f.type === 'stream.chunk')

  // Another instance, on the same file, died an hour into an answer.
  const other = await openFile(t, filename)
  const dead = await abandonedAnswer(other, new Date(Date.now() - 3_600_000))
  const joined = await alice.call({ type: 'join', conversationId: dead.conversationId })
  t.match(joined.messages.at(-1), { id: dead.id, status: 'streaming' }, 'listed as stored while nobody has swept it')

  const end = await alice.waitFor((f) => f.type === 'stream.end' && f.message.id === dead.id)
  t.strictSame(end, { type: 'stream.end', conversationId: dead.conversationId, message: { ...dead, status: 'failed' } })
  t.match((await messages(ta, dead.conversationId)).at(-1), { id: dead.id, status: 'failed' }, 'stored failed')

  t.notOk(alice.frames.some((f) => f.type === 'stream.end' && f.message.id === running.id), 'the answer running here goes on')
  t.match((await messages(ta, live.id)).at(-1), { id: running.id, status: 'streaming' })
  release()
  const finished = await alice.waitFor((f) => f.type === 'stream.end' && f.message.id === running.id)
  t.match(finished.message, { status: 'complete', content: 'done' })
})
