import { test } from 'tap'
import WebSocket from 'ws'
import type { AskHandler } from '../../examples/nlweb/handler.ts'
import { ChatClient, type Message } from '../../lib/client/index.ts'
import { createConversation, startApp } from '../helpers/app.ts'
import { startProxy } from '../helpers/proxy.ts'
import { closeSpareConnections, restVia, TRANSPORTS } from '../helpers/transports.ts'

/** An ask handler that writes one part each time the test says so, then ends when told (permits are counted). */
function drivenHandler (): { handler: AskHandler, part: () => void, end: () => void } {
  let permits = 0
  let ended = false
  let wake: (() => void) | undefined
  const poke = (): void => { const w = wake; wake = undefined; w?.() }
  const handler: AskHandler = async (_params, sink) => {
    let n = 0
    for (;;) {
      // eslint-disable-next-line no-unmodified-loop-condition -- both change in the test's callbacks, which wake this loop
      while (permits === 0 && !ended) await new Promise<void>((resolve) => { wake = resolve })
      if (permits === 0 && ended) break
      permits--
      await sink.write({ message_type: 'result_batch', results: [{ url: `https://example.com/${n}`, name: `item ${n}`, description: 'd' }] })
      n++
    }
    await sink.write({ message_type: 'summary', message: `${n} items` })
  }
  return {
    handler,
    part: () => { permits++; poke() },
    end: () => { ended = true; poke() }
  }
}

async function next<T> (client: ChatClient, event: 'stream.start' | 'stream.chunk' | 'stream.end' | 'joined' | 'state', match: (v: any) => boolean = () => true): Promise<T> {
  return await new Promise<T>((resolve) => {
    const off = client.on(event, (v: unknown) => { if (match(v)) { off(); resolve(v as T) } })
  })
}

for (const transport of TRANSPORTS) {
  const transports = [transport]

  test(`client [${transport}]: an AI answer is one growing message; a client that joins mid-answer gets the parts so far`, async (t) => {
    const driven = drivenHandler()
    const ta = await startApp(t, {}, { askHandler: driven.handler })
    closeSpareConnections(ta)
    const conv = await createConversation(ta, 'alice', [], { ai: true })
    const alice = new ChatClient({ url: ta.wsUrl, token: await ta.token('alice'), WebSocket, transports })
    t.teardown(() => { alice.close() })
    const answers: Message[] = []
    alice.on('message', (m) => { if (m.kind === 'ai') answers.push(m) })
    await alice.join(conv.id)
    const started = next(alice, 'stream.start')
    await alice.send(conv.id, 'pasta?')
    await started
    for (let i = 0; i < 2; i++) {
      const chunk = next(alice, 'stream.chunk')
      driven.part()
      await chunk
    }

    // A second client of the same user joins now: it has parts 0 and 1 at once, then the live ones.
    const late = new ChatClient({ url: ta.wsUrl, token: await ta.token('alice'), WebSocket, transports })
    t.teardown(() => { late.close() })
    const lateAnswers: Message[] = []
    late.on('message', (m) => { if (m.kind === 'ai') lateAnswers.push(m) })
    await late.join(conv.id)
    t.equal(lateAnswers.length, 1)
    t.equal(lateAnswers[0].status, 'streaming')
    t.equal(lateAnswers[0].parts?.length, 2, 'the parts produced before it joined')

    const chunk = next(late, 'stream.chunk')
    driven.part()
    await chunk
    driven.end()
    const [endA, endL] = await Promise.all([next<Message>(alice, 'stream.end'), next<Message>(late, 'stream.end')])
    t.equal(answers.length, 1, 'one message for the whole answer')
    t.equal(endA, answers[0], 'stream.end updates the very object `message` gave')
    t.equal(endL, lateAnswers[0])
    t.equal(endA.status, 'complete')
    t.equal(endA.parts?.length, 4, 'three result batches and the summary')
    t.same(endL.parts, endA.parts, 'the late joiner has every part once')
  })

  test(`client [${transport}]: an answer that ends while the client is disconnected is settled after the rejoin`, async (t) => {
    const driven = drivenHandler()
    const ta = await startApp(t, {}, { askHandler: driven.handler })
    closeSpareConnections(ta)
    const proxy = await startProxy(Number(new URL(ta.base).port))
    t.teardown(async () => { await proxy.close() })
    const conv = await createConversation(ta, 'alice', [], { ai: true })
    const token = await ta.token('alice')
    // The token function holds the reconnect while `gate` is pending.
    let gate: Promise<void> = Promise.resolve()
    const client = new ChatClient({
      url: `ws://127.0.0.1:${proxy.port}/chat/ws`,
      httpUrl: restVia(transport, ta, proxy),
      token: async () => { await gate; return token },
      WebSocket,
      transports,
      reconnect: { initialDelayMs: 5, maxDelayMs: 5 }
    })
    t.teardown(() => { client.close() })
    const watcher = await ta.connect('alice')
    await watcher.call({ type: 'join', conversationId: conv.id })
    let answer: Message | undefined
    client.on('message', (m) => { if (m.kind === 'ai') answer = m })
    await client.join(conv.id)
    const chunk = next(client, 'stream.chunk')
    await client.send(conv.id, 'pasta?')
    driven.part()
    await chunk

    let open!: () => void
    gate = new Promise<void>((resolve) => { open = resolve })
    const reconnecting = next(client, 'state', (s) => s === 'reconnecting')
    proxy.cut()
    await reconnecting
    driven.end()
    await watcher.waitFor((f) => f.type === 'stream.end') // stored complete while the client is away
    const ended = next<Message>(client, 'stream.end')
    open()
    const final = await ended
    t.equal(final, answer, 'the object the app holds is updated')
    t.equal(final.status, 'complete')
    t.equal(final.parts?.length, 2, 'the chunk it saw and the summary it missed')
  })
}
