import { once } from 'node:events'
import type { Duplex } from 'node:stream'
import t from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { wsTextFrame } from '../../lib/ws-frames.ts'

/**
 * The shared frames a conversation's message goes out as, written straight to sockets' TCP streams: a real
 * `ws` client must read each as the text message it carries, at every length encoding (7-bit, 16-bit, 64-bit).
 */
t.test('a pre-framed text frame reads back as its payload at every length', async (t) => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => { server.close() })
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const sizes = [0, 1, 125, 126, 127, 65535, 65536, 200_000]
  const payloads = sizes.map((n, i) => Buffer.from(JSON.stringify({ i, pad: 'é'.repeat(Math.max(0, Math.floor((n - 20) / 2))) }).slice(0, Math.max(n, 2))))
  server.on('connection', (socket) => {
    const raw = (socket as unknown as { _socket: Duplex })._socket
    for (const p of payloads) raw.write(wsTextFrame(p))
  })
  const client = new WebSocket(`ws://127.0.0.1:${port}`)
  t.teardown(() => { client.terminate() })
  const got: Array<{ data: Buffer, isBinary: boolean }> = []
  await new Promise<void>((resolve, reject) => {
    client.on('message', (data, isBinary) => {
      got.push({ data: data as Buffer, isBinary })
      if (got.length === payloads.length) resolve()
    })
    client.on('error', reject)
  })
  t.equal(got.length, payloads.length)
  for (let i = 0; i < payloads.length; i++) {
    t.equal(got[i].isBinary, false, `frame ${i} is text`)
    t.equal(got[i].data.length, payloads[i].length, `length ${payloads[i].length}`)
    t.ok(got[i].data.equals(payloads[i]), `payload ${i} intact`)
  }
  t.equal(wsTextFrame(payloads[3]), wsTextFrame(payloads[3]), 'framed once, the same bytes for every socket')
})
