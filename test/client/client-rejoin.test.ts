import { test } from 'tap'
import WebSocket from 'ws'
import { ChatClient, type Message } from '../../lib/client/index.ts'
import { createConversation, startApp } from '../helpers/app.ts'
import { startProxy } from '../helpers/proxy.ts'
import { closeSpareConnections, restVia, TRANSPORTS } from '../helpers/transports.ts'

for (const transport of TRANSPORTS) {
  const transports = [transport]

  test(`client [${transport}]: a rejoin refused for now (over the join budget) is tried again when the server says, not given up`, async (t) => {
    const ta = await startApp(t, { rateLimit: { joins: { max: 2, windowMs: 2000 } } })
    closeSpareConnections(ta)
    const proxy = await startProxy(Number(new URL(ta.base).port))
    t.teardown(async () => { await proxy.close() })
    const first = await createConversation(ta, 'alice', ['bob'])
    const second = await createConversation(ta, 'alice', ['bob'])
    const client = new ChatClient({ url: `ws://127.0.0.1:${proxy.port}/chat/ws`, httpUrl: restVia(transport, ta, proxy), token: await ta.token('alice'), WebSocket, transports })
    t.teardown(() => { client.close() })
    const left: unknown[] = []
    client.on('left', (e) => { left.push(e) })
    const seen: Message[] = []
    client.on('message', (m) => { seen.push(m) })
    await client.join(first.id)
    await client.join(second.id)

    // The budget is spent: after the drop, the two rejoins are refused with RATE_LIMITED, then retried.
    const rejoined = new Promise<void>((resolve) => {
      let n = 0
      client.on('joined', () => { if (++n === 2) resolve() })
    })
    proxy.cut()
    await rejoined
    t.same(left, [], 'no conversation given up')

    const bob = await ta.connect('bob')
    for (const conv of [first, second]) {
      const ack = await bob.call({ type: 'send', conversationId: conv.id, clientMessageId: `b-${conv.id}`, content: `in ${conv.id}` })
      t.equal(ack.type, 'ack')
    }
    await new Promise<void>((resolve) => {
      const check = (): void => { if (seen.filter((m) => m.sender.id === 'bob').length === 2) resolve() }
      client.on('message', check)
      check()
    })
    t.same(seen.filter((m) => m.sender.id === 'bob').map((m) => m.conversationId).sort(), [first.id, second.id].sort(), 'live again in both')
  })
}
