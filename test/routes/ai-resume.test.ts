import t from 'tap'
import type { AskFrame, AskHandler, AskSink } from '../../examples/nlweb/handler.ts'
import { NLWebParticipant, createMemoryStorage, type AgentApi, type ChatStorage, type Message } from '../../lib/index.ts'
import { createConversation, startApp, type Frame, type TestClient } from '../helpers/app.ts'

/** An ask handler the test drives: `write(n)` sends part n, `end()` lets the handler return. */
function drivenHandler (): { handler: AskHandler, started: Promise<void>, write: (n: number) => void, end: () => void } {
  let sink: AskSink | undefined
  let onStart: () => void = () => {}
  let onEnd: () => void = () => {}
  const started = new Promise<void>((resolve) => { onStart = resolve })
  const ended = new Promise<void>((resolve) => { onEnd = resolve })
  return {
    handler: async (params, s) => {
      sink = s
      onStart()
      await ended
    },
    started,
    write (n) {
      if (sink === undefined) throw new Error('the handler has not started')
      void sink.write(part(n))
    },
    end: () => { onEnd() }
  }
}

function part (n: number): AskFrame {
  return { message_type: 'result_batch', results: [{ name: `result ${n}`, url: `https://x.example/${n}` }] }
}

const chunkIndexes = (client: TestClient, messageId: string): number[] =>
  client.all('stream.chunk').filter((f) => f.messageId === messageId).map((f) => f.index)

t.test('a socket joining mid-answer gets the parts so far in joined, then only the later chunks', async (t) => {
  const driven = drivenHandler()
  const ta = await startApp(t, {}, { askHandler: driven.handler })
  const conv = await createConversation(ta, 'alice', ['bob'], { ai: true })
  const alice = await ta.connect('alice')
  await alice.call({ type: 'join', conversationId: conv.id })
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: '@assistant soup ideas?' })
  const start = await alice.next((f) => f.type === 'stream.start')
  const answerId: string = start.message.id
  await driven.started
  for (const n of [0, 1, 2]) driven.write(n)
  await alice.next((f) => f.type === 'stream.chunk' && f.index === 2)

  const bob = await ta.connect('bob')
  const joined = await bob.call({ type: 'join', conversationId: conv.id })
  const snapshot = { ...start.message, parts: [part(0), part(1), part(2)] }
  t.same(joined.streaming, [snapshot], 'the answer, with the parts written so far')
  t.same(joined.messages.find((m: Frame) => m.id === answerId), snapshot, 'its copy in messages agrees')

  driven.write(3)
  driven.write(4)
  driven.end()
  const end = await bob.next((f) => f.type === 'stream.end')
  t.same(chunkIndexes(bob, answerId), [3, 4], 'the chunks after the snapshot, none repeated')
  t.same([...joined.streaming[0].parts, ...bob.all('stream.chunk').map((c) => c.part)], end.message.parts, 'together: every part, in order')
  await alice.next((f) => f.type === 'stream.end')
  t.same(chunkIndexes(alice, answerId), [0, 1, 2, 3, 4], 'a socket joined all along got every chunk once')
  t.equal(end.message.status, 'complete')
})

t.test('a socket rejoining with since = the answer\'s seq mid-answer gets it in streaming', async (t) => {
  const driven = drivenHandler()
  const ta = await startApp(t, {}, { askHandler: driven.handler })
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  const first = await ta.connect('alice')
  await first.call({ type: 'join', conversationId: conv.id })
  await first.call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: 'soup ideas?' })
  const start = await first.next((f) => f.type === 'stream.start')
  await driven.started
  driven.write(0)
  driven.write(1)
  await first.next((f) => f.type === 'stream.chunk' && f.index === 1)
  first.close()

  const again = await ta.connect('alice')
  const joined = await again.call({ type: 'join', conversationId: conv.id, since: start.message.seq })
  t.match(joined, { recovered: true, lastSeq: start.message.seq, messages: [] }, 'nothing after the answer\'s seq')
  t.same(joined.streaming, [{ ...start.message, parts: [part(0), part(1)] }], 'the answer seen at stream.start, with its parts so far')

  driven.write(2)
  driven.end()
  const end = await again.next((f) => f.type === 'stream.end')
  t.same(chunkIndexes(again, start.message.id), [2])
  t.same(end.message.parts, [part(0), part(1), part(2)])

  // Once the answer has ended it is history, not a stream.
  const later = await again.call({ type: 'join', conversationId: conv.id, since: start.message.seq - 1 })
  t.equal(later.streaming, undefined, 'no streaming field when nothing streams')
  t.same(later.messages, [end.message])
})

/**
 * Follows one answer through a client's frames as a client would: a `joined` resets it to the snapshot, a chunk
 * must carry the next index, stream.end must agree. Returns what went wrong, and the snapshot sizes seen.
 */
function replay (frames: Frame[], answerId: string): { errors: string[], snapshots: number[], parts: unknown[] | undefined, done: boolean } {
  const errors: string[] = []
  const snapshots: number[] = []
  let parts: unknown[] | undefined
  let done = false
  for (const f of frames) {
    if (f.type === 'joined') {
      const live = f.streaming?.find((m: Frame) => m.id === answerId)
      const history = f.messages.find((m: Frame) => m.id === answerId)
      if (live !== undefined) {
        if (history !== undefined && JSON.stringify(history) !== JSON.stringify(live)) errors.push('messages and streaming disagree')
        parts = [...live.parts]
        done = false
        snapshots.push(parts.length)
      } else if (history !== undefined) {
        if (history.status === 'streaming') errors.push('a streaming answer in messages but not in streaming')
        parts = history.parts
        done = true
      } else {
        // Not started yet, or (with `since` at or above its seq) over: not followed from here.
        parts = undefined
        done = false
      }
    } else if (f.type === 'stream.start' && f.message.id === answerId) {
      parts = []
    } else if (f.type === 'stream.chunk' && f.messageId === answerId) {
      if (parts === undefined || done) errors.push(`chunk ${f.index} outside the stream`)
      else if (f.index !== parts.length) errors.push(`chunk ${f.index} where ${parts.length} was next`)
      else parts.push(f.part)
    } else if (f.type === 'stream.end' && f.message.id === answerId) {
      if (parts === undefined || done) errors.push('stream.end outside the stream')
      else if (JSON.stringify(parts) !== JSON.stringify(f.message.parts)) errors.push(`stream.end after ${parts.length} parts of ${f.message.parts.length}`)
      parts = f.message.parts
      done = true
    }
  }
  return { errors, snapshots, parts, done }
}

t.test('joins racing chunk broadcasts lose no part and repeat none', async (t) => {
  // History reads that wait a turn of the event loop: chunks go out between a join's subscription and its reply.
  const memory = createMemoryStorage()
  const storage: ChatStorage = {
    ...memory,
    async getMessages (id, query) {
      await new Promise(setImmediate)
      return await memory.getMessages(id, query)
    }
  }
  const total = 200
  const handler: AskHandler = async (params, sink) => {
    for (let n = 0; n < total; n++) {
      await new Promise(setImmediate)
      await sink.write(part(n))
    }
  }
  // A one-message cache window: a join without `since` reads its history from storage.
  // Joins in a tight loop: the per-user join budget is off here.
  const ta = await startApp(t, { storage, cache: { messages: 1 }, rateLimit: { joins: { max: 0, windowMs: 1 } } }, { askHandler: handler })
  const conv = await createConversation(ta, 'alice', [], { ai: true })
  const clients: TestClient[] = []
  for (let i = 0; i < 4; i++) clients.push(await ta.connect('alice'))
  for (const c of clients) await c.call({ type: 'join', conversationId: conv.id })
  await clients[0].call({ type: 'send', conversationId: conv.id, clientMessageId: 'q', content: 'soup ideas?' })
  const start = await clients[0].next((f) => f.type === 'stream.start')
  const answerId: string = start.message.id

  // Seen the answer end: its stream.end, or its final copy in a `joined` (a join that came after the end).
  const last = (c: TestClient): Frame | undefined => {
    for (let i = c.frames.length - 1; i >= 0; i--) {
      const f = c.frames[i]
      if ((f.type === 'stream.end' && f.message.id === answerId) || f.type === 'joined') return f
    }
    return undefined
  }
  const over = (c: TestClient): boolean => {
    const f = last(c)
    return f?.type === 'stream.end' || f?.messages?.some((m: Frame) => m.id === answerId && m.status !== 'streaming') === true
  }
  await Promise.all(clients.map(async (c, i) => {
    // Join again and again (with and without `since`) until this socket has seen the answer end.
    for (let j = 0; !over(c) && j < 5000; j++) {
      await c.call({ type: 'join', conversationId: conv.id, ...((i + j) % 2 === 0 ? {} : { since: start.message.seq }) })
    }
  }))

  const end = await clients[0].waitFor((f) => f.type === 'stream.end')
  t.equal(end.message.parts.length, total)
  const snapshots: number[] = []
  for (const [i, c] of clients.entries()) {
    const followed = replay(c.frames, answerId)
    t.same(followed.errors, [], `socket ${i}: every chunk in order, after its snapshot`)
    t.same(followed.parts, end.message.parts, `socket ${i}: ends with parts 0..${total - 1}`)
    snapshots.push(...followed.snapshots)
  }
  t.ok(snapshots.some((n) => n > 0 && n < total), 'some joins came in the middle of the answer')
})

t.test('the AI participant lists an answer with each part as its chunk goes out, until its stream.end goes out', async (t) => {
  const listedAtChunk: number[] = []
  const listed: Record<string, number> = {}
  let finished: () => void = () => {}
  const done = new Promise<void>((resolve) => { finished = resolve })
  // eslint-disable-next-line prefer-const -- assigned below, after the closures that read it
  let ai: NLWebParticipant | undefined
  const count = (): number => ai?.streaming('c')[0]?.parts?.length ?? -1
  const api: AgentApi = {
    async participants () { return [] },
    async recentMessages () { return [] },
    async post () { throw new Error('not used') },
    broadcast (conversationId, frame) { listedAtChunk.push(JSON.parse(frame).index, count()) },
    flush () {},
    async finish (conversationId, messageId, patch, encoded, ended) {
      listed.beforeEnd = count()
      const message = { ...(reply as Message), ...patch }
      ended?.(message) // the step stream.end goes out in
      listed.afterEnd = count()
      finished()
      return message
    }
  }
  ai = new NLWebParticipant({
    handler: async (params, sink) => {
      await sink.write(part(0))
      await sink.write(part(1))
    }
  })
  ai.attach(api)
  const question: Message = { id: 'q', conversationId: 'c', seq: 1, kind: 'text', sender: { id: 'alice', name: 'Alice', type: 'human' }, content: 'soup', createdAt: '' }
  const reply = { ...ai.replyDraft('c', question, 1), conversationId: 'c', seq: 2, replyTo: 1 } as Message
  t.same(ai.streaming('c'), [], 'nothing before the answer starts')
  ai.onMessage('c', question, reply)
  t.same(ai.streaming('c'), [{ ...reply, parts: [] }], 'listed from the moment it is delivered')
  t.same(ai.streaming('other'), [], 'per conversation')
  await done
  await ai.close()
  t.same(listedAtChunk, [0, 1, 1, 2], 'chunk n is counted when it is broadcast')
  t.same(listed, { beforeEnd: 2, afterEnd: -1 }, 'listed with every part until stream.end goes out')
  t.same(ai.streaming('c'), [])
})
