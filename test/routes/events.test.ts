import { EventEmitter } from 'node:events'
import { request as httpRequest, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { setImmediate as nextLoop } from 'node:timers/promises'
import { test, type Test } from 'tap'
import { tokenExpiry } from '../../lib/connection.ts'
import { createEventStreams } from '../../lib/event-stream.ts'
import { createConversation, joinAll, startApp, type Frame, type TestApp } from '../helpers/app.ts'

/** One server-sent event as read off the wire: its fields, and `data` both raw and parsed. */
interface Event { id?: string, event?: string, raw: string, frame: Frame }

/**
 * A real HTTP client of GET /chat/events that records every event and comment from the first byte, and lets a
 * test wait for the event it expects (never a sleep).
 */
class StreamClient {
  readonly events: Event[] = []
  comments = 0
  status = 0
  body = ''
  ended = false
  private cursor = 0
  private waiters: Array<() => void> = []
  private req: ClientRequest | undefined
  readonly ready: Promise<void>

  constructor (url: string, headers: Record<string, string> = {}) {
    this.ready = this.read(url, headers)
  }

  private wake (): void {
    for (const w of this.waiters.splice(0)) w()
  }

  /** Node's http (a connection of its own, closed with the stream): fetch's pool opens a spare one after an abort. */
  private async read (url: string, headers: Record<string, string>): Promise<void> {
    let res: IncomingMessage
    try {
      res = await new Promise<IncomingMessage>((resolve, reject) => {
        this.req = httpRequest(url, { headers, agent: false }, resolve)
        this.req.on('error', reject)
        this.req.end()
      })
    } catch {
      this.ended = true
      this.wake()
      return
    }
    this.status = res.statusCode ?? 0
    res.setEncoding('utf8')
    if (this.status !== 200) {
      for await (const chunk of res) this.body += chunk as string
      this.ended = true
      this.wake()
      return
    }
    let buffer = ''
    let fields: Partial<Event> & { data?: string } = {}
    try {
      for await (const chunk of res) {
        buffer += chunk as string
        let nl: number
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl)
          buffer = buffer.slice(nl + 1)
          if (line === '') {
            if (fields.data !== undefined) this.events.push({ id: fields.id, event: fields.event, raw: fields.data, frame: JSON.parse(fields.data) })
            fields = {}
          } else if (line.startsWith(':')) {
            this.comments++
          } else {
            const colon = line.indexOf(':')
            const name = line.slice(0, colon)
            const value = line.slice(colon + 1).replace(/^ /, '')
            if (name === 'data') fields.data = fields.data === undefined ? value : `${fields.data}\n${value}`
            else if (name === 'id') fields.id = value
            else if (name === 'event') fields.event = value
          }
        }
        this.wake()
      }
    } catch {}
    this.ended = true
    this.wake()
  }

  /** The next event (after the last one returned) that matches; fails after `ms`. */
  async next (match: (e: Event) => boolean = () => true, ms = 5000): Promise<Event> {
    const deadline = Date.now() + ms
    for (;;) {
      while (this.cursor < this.events.length) {
        const e = this.events[this.cursor++]
        if (match(e)) return e
      }
      if (this.ended) throw new Error(`stream ended while waiting (status ${this.status} ${this.body}); last: ${JSON.stringify(this.events.slice(-2).map((e) => e.frame))}`)
      await this.wait(deadline)
    }
  }

  /** Resolves once `check` holds, checked on every chunk; fails after `ms`. */
  async until (check: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms
    while (!check()) await this.wait(deadline)
  }

  private async wait (deadline: number): Promise<void> {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`nothing matched in time; last: ${JSON.stringify(this.events.slice(-2).map((e) => e.frame))}`)
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left)
      this.waiters.push(() => { clearTimeout(timer); resolve() })
    })
  }

  close (): void {
    this.req?.destroy()
  }
}

async function stream (t: Test, ta: TestApp, user: string | undefined, query: string, headers: Record<string, string> = {}): Promise<StreamClient> {
  const auth = user === undefined ? '' : `access_token=${await ta.token(user)}&`
  const client = new StreamClient(`${ta.base}/chat/events?${auth}${query}`, headers)
  t.teardown(() => { client.close() })
  return client
}

const seqOf = (e: Event): number | undefined => e.frame.message?.seq

test('events: the stream carries the socket\'s frames, byte for byte: ready, joined, message, typing', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const [socket] = await joinAll(ta, conv.id, ['alice'])
  const sse = await stream(t, ta, 'alice', `conversationId=${conv.id}`)
  const ready = await sse.next()
  t.match(ready.frame, { type: 'ready', userId: 'alice', heartbeatMs: 30_000, limits: { historyWindow: 50 } })
  t.equal(ready.id, undefined, 'ready has no id')
  const joined = await sse.next()
  t.equal(joined.frame.type, 'joined')
  t.equal(joined.id, String(conv.lastSeq), 'joined has the id of the last seq it covers')
  t.same(joined.frame.messages.map((m: Frame) => m.seq), [1, 2])
  t.equal(joined.frame.recovered, false)
  t.equal(joined.frame.ref, undefined)
  t.same(Object.keys(joined.frame).sort(), ['conversation', 'conversationId', 'lastSeq', 'messages', 'recovered', 'type'])

  const bob = await ta.connect('bob')
  const ack = await bob.call({ type: 'send', conversationId: conv.id, clientMessageId: 'b1', content: 'hi alice' })
  const viaSocket = await socket.next((f) => f.type === 'message')
  const viaStream = await sse.next((e) => e.frame.type === 'message')
  t.equal(viaStream.raw, JSON.stringify(viaSocket), 'the same frame, the same bytes')
  t.equal(viaStream.id, String(ack.seq), 'a message event has id: seq')
  t.equal(viaStream.event, undefined, 'frames are plain `message` events')

  // typing over REST (the stream's client has no socket to send it on) reaches the socket; bob's over the socket reaches the stream
  const typed = await ta.request('POST', `/chat/conversations/${conv.id}/typing`, { token: await ta.token('alice') })
  t.equal(typed.status, 204)
  t.match(await bob.waitFor((f) => f.type === 'typing'), { conversationId: conv.id, participantId: 'alice' })
  bob.send({ type: 'typing', conversationId: conv.id })
  const typing = await sse.next((e) => e.frame.type === 'typing')
  t.equal(typing.raw, JSON.stringify(await socket.next((f) => f.type === 'typing')))

  const cancel = await ta.request('POST', `/chat/conversations/${conv.id}/messages/nope/cancel`, { token: await ta.token('alice') })
  t.equal(cancel.status, 404, 'cancel of no running answer: NOT_FOUND, as the socket says')
  t.equal(cancel.body.code, 'NOT_FOUND')
})

test('events: Last-Event-ID resumes after the last message seen, no gap and no repeat, across a burst from another user', async (t) => {
  const ta = await startApp(t, { rateLimit: { max: 0 } })
  const conv = await createConversation(ta, 'alice', ['bob'])
  const alice = { id: 'alice', name: 'alice', roles: [] }
  let n = 0
  const post = async (count: number): Promise<void> => {
    for (const end = n + count; n < end;) await ta.app.chat.postMessage(alice, conv.id, { clientMessageId: `a${n}`, content: `m${n++}` })
  }
  const first = await stream(t, ta, 'bob', `conversationId=${conv.id}`)
  await first.next((e) => e.frame.type === 'joined')
  await post(150)
  const seen: number[] = []
  let last = ''
  while (seen.length < 60) {
    const e = await first.next((e) => e.frame.type === 'message')
    seen.push(seqOf(e) as number)
    last = e.id as string
  }
  first.close()
  // More of the burst while the second stream opens (`since` is stale: Last-Event-ID wins).
  const during = post(150)
  const second = await stream(t, ta, 'bob', `conversationId=${conv.id}&since=1`, { 'last-event-id': last })
  await second.next((e) => e.frame.type === 'ready')
  const joined = await second.next()
  t.equal(joined.frame.type, 'joined')
  t.equal(joined.frame.recovered, true)
  t.ok(joined.frame.messages.length >= 90, 'what was sent after the cut is replayed')
  for (const m of joined.frame.messages) seen.push(m.seq)
  await during
  await post(30)
  const top = conv.lastSeq + n
  let live = 0
  while (seen[seen.length - 1] < top) {
    seen.push(seqOf(await second.next((e) => e.frame.type === 'message')) as number)
    live++
  }
  t.ok(live >= 30, 'then live')
  const expected = Array.from({ length: top - conv.lastSeq }, (_, i) => conv.lastSeq + 1 + i)
  t.same(seen, expected, 'every seq once, in order')
})

test('events: refused before anything is streamed: 404 for a non-member or unknown id, 401 without a user, 400 for a bad Last-Event-ID', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const mallory = await stream(t, ta, 'mallory', `conversationId=${conv.id}`)
  await mallory.ready
  t.equal(mallory.status, 404)
  t.equal(JSON.parse(mallory.body).code, 'NOT_FOUND')
  const unknown = await stream(t, ta, 'alice', 'conversationId=nope')
  await unknown.ready
  t.equal(unknown.status, 404)
  t.same(JSON.parse(unknown.body).message, JSON.parse(mallory.body).message, 'the same answer: no probing for ids')
  const anonymous = await stream(t, ta, undefined, `conversationId=${conv.id}`)
  await anonymous.ready
  t.equal(anonymous.status, 401)
  const bad = await stream(t, ta, 'alice', `conversationId=${conv.id}`, { 'last-event-id': 'x' })
  await bad.ready
  t.equal(bad.status, 400)
  t.equal(JSON.parse(bad.body).code, 'BAD_REQUEST')
  // A bearer header works as well as the query's token.
  const header = new StreamClient(`${ta.base}/chat/events?conversationId=${conv.id}`, { authorization: `Bearer ${await ta.token('alice')}` })
  t.teardown(() => { header.close() })
  t.equal((await header.next((e) => e.frame.type === 'joined')).frame.conversationId, conv.id)
})

test('events: a stream without a conversation carries ready and the user\'s notices (added to a conversation)', async (t) => {
  const ta = await startApp(t)
  const notices = await stream(t, ta, 'bob', '')
  t.equal((await notices.next()).frame.type, 'ready')
  const conv = await createConversation(ta, 'alice', ['bob'])
  const added = await notices.next()
  t.match(added.frame, { type: 'participant', event: 'joined', conversationId: conv.id, participant: { id: 'bob' } })
})

test('events: a comment line every heartbeatMs', async (t) => {
  const ta = await startApp(t, { heartbeatMs: 100 })
  const conv = await createConversation(ta, 'alice')
  const sse = await stream(t, ta, 'alice', `conversationId=${conv.id}`)
  await sse.next((e) => e.frame.type === 'joined')
  await sse.until(() => sse.comments >= 3)
  t.equal(sse.ended, false, 'still open after three heartbeats')
})

test('events: app.close() ends the stream with `event: close` 1001, and resolves', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice')
  const sse = await stream(t, ta, 'alice', `conversationId=${conv.id}`)
  await sse.next((e) => e.frame.type === 'joined')
  await ta.app.close()
  const close = await sse.next((e) => e.event === 'close')
  t.same(close.frame, { type: 'close', code: 1001, reason: 'server shutting down' })
  await sse.until(() => sse.ended)
  t.pass('the stream ended')
})

test('events: a slow consumer (not reading) is cut once its unsent bytes pass maxBufferedBytes, and audited', async (t) => {
  const ta = await startApp(t, { rateLimit: { max: 0 }, limits: { maxBufferedBytes: 64 * 1024 } })
  const conv = await createConversation(ta, 'alice', ['bob'])
  const url = new URL(`${ta.base}/chat/events?access_token=${await ta.token('bob')}&conversationId=${conv.id}`)
  // A client that reads the head, then nothing: what the server writes piles up.
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(url, resolve)
    req.on('error', reject)
    req.end()
  })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/event-stream/)
  res.pause()
  const admin = await ta.token('root', { admin: true })
  const registered = async (): Promise<number> => {
    const list = await ta.request('GET', '/chat/admin/connections', { token: admin })
    return list.body.items.filter((c: Frame) => c.userId === 'bob').length
  }
  t.equal(await registered(), 1)
  const alice = { id: 'alice', name: 'alice', roles: [] }
  const content = 'x'.repeat(15_000)
  let n = 0
  // Kernel buffers take a few MB first; the count is a deadline, not a wait.
  while (await registered() === 1 && n < 8000) {
    await Promise.all(Array.from({ length: 50 }, async () => await ta.app.chat.postMessage(alice, conv.id, { clientMessageId: `m${n++}`, content })))
  }
  t.equal(await registered(), 0, `cut after ${n} messages`)
  // Reading again, the client finds its stream ended, short of what was sent.
  let received = 0
  res.setEncoding('utf8')
  res.on('data', (chunk: string) => { received += chunk.split('"type":"message"').length - 1 })
  res.resume()
  await new Promise<void>((resolve) => { res.on('close', resolve); res.on('error', () => {}) })
  t.ok(received < n, `the stream ended after ${received} of ${n}`)
  const audit = await ta.request('GET', '/chat/admin/audit', { token: admin })
  t.ok(audit.body.items.some((e: Frame) => e.action === 'socket.closed' && e.actor === 'bob' && e.details?.code === 4029), 'audited as a 4029')
})

test('events: the stream counts as its user online; a socket user sees online, then offline when it ends', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const [bob] = await joinAll(ta, conv.id, ['bob'])
  const sse = await stream(t, ta, 'alice', `conversationId=${conv.id}`)
  const joined = await sse.next((e) => e.frame.type === 'joined')
  t.equal(joined.frame.conversation.participants.find((p: Frame) => p.id === 'alice').online, true, 'online in its own joined')
  t.match(await bob.next((f) => f.type === 'participant'), { event: 'online', participant: { id: 'alice', online: true } })
  const listed = await ta.request('GET', '/chat/admin/connections', { token: await ta.token('root', { admin: true }) })
  t.same(listed.body.items.find((c: Frame) => c.userId === 'alice').conversations, [conv.id], 'listed as a connection joined to it')
  sse.close()
  t.match(await bob.next((f) => f.type === 'participant'), { event: 'offline', participant: { id: 'alice', online: false } })
})

test('events: removed from the conversation: `left`, then the stream ends', async (t) => {
  const ta = await startApp(t)
  const conv = await createConversation(ta, 'alice', ['bob'])
  const sse = await stream(t, ta, 'bob', `conversationId=${conv.id}`)
  await sse.next((e) => e.frame.type === 'joined')
  const removed = await ta.request('DELETE', `/chat/conversations/${conv.id}/participants/bob`, { token: await ta.token('alice') })
  t.equal(removed.status, 204)
  t.same((await sse.next((e) => e.frame.type === 'left')).frame, { type: 'left', conversationId: conv.id })
  await sse.until(() => sse.ended)
  t.pass('ended')
})

test('events: the token\'s expiry ends the stream with `event: close` 4001', async (t) => {
  const ta = await startApp(t, {
    identify: (request) => {
      const auth = (request as unknown as { user?: { id: string } }).user
      return auth === undefined ? null : { id: auth.id, name: auth.id, roles: [], expiresAt: Date.now() + 300 }
    }
  })
  const conv = await createConversation(ta, 'alice')
  const sse = await stream(t, ta, 'alice', `conversationId=${conv.id}`)
  await sse.next((e) => e.frame.type === 'joined')
  const close = await sse.next((e) => e.event === 'close')
  t.equal(close.frame.code, 4001)
})

test('events: a peer that takes no bytes (not reading, as one gone without FIN) is ended by the heartbeat and goes offline', async (t) => {
  // No slow-consumer cut here (a huge maxBufferedBytes): only the heartbeat can find the stream dead.
  const ta = await startApp(t, { heartbeatMs: 100, rateLimit: { max: 0 }, limits: { maxBufferedBytes: 1024 ** 3 } })
  const conv = await createConversation(ta, 'alice', ['bob'])
  const url = new URL(`${ta.base}/chat/events?access_token=${await ta.token('bob')}&conversationId=${conv.id}`)
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, resolve)
    req.on('error', reject)
    req.end()
  })
  t.equal(res.statusCode, 200)
  // The reader stops reading: once the kernel buffers are full, nothing the server writes leaves.
  res.pause()
  const admin = await ta.token('root', { admin: true })
  const registered = async (): Promise<number> => {
    const list = await ta.request('GET', '/chat/admin/connections', { token: admin })
    return list.body.items.filter((c: Frame) => c.userId === 'bob').length
  }
  const online = async (): Promise<boolean> => {
    const got = await ta.request('GET', `/chat/conversations/${conv.id}`, { token: await ta.token('alice') })
    return got.body.participants.find((p: Frame) => p.id === 'bob').online
  }
  t.equal(await registered(), 1)
  t.equal(await online(), true, 'online while the stream is open')
  const alice = { id: 'alice', name: 'alice', roles: [] }
  const content = 'x'.repeat(15_000)
  let n = 0
  // The kernel buffers take a few MB, then the rest waits in the server; the count is a bound, not a wait.
  // Each round yields to the event loop (the stores and requests here never leave it), so heartbeats run.
  while (await registered() === 1 && n < 3000) {
    await Promise.all(Array.from({ length: 50 }, async () => await ta.app.chat.postMessage(alice, conv.id, { clientMessageId: `m${n++}`, content })))
    await nextLoop()
  }
  const ended = await registered() === 0
  t.ok(ended, `ended after ${n} messages`)
  t.equal(await online(), false, 'and its user offline')
  const audit = await ta.request('GET', '/chat/admin/audit', { token: admin })
  t.notOk(audit.body.items.some((e: Frame) => e.actor === 'bob' && e.details?.code === 4029), 'not cut as a slow consumer')
  res.on('error', () => {})
  if (!ended) {
    res.destroy()
    return
  }
  // Reading again, the client finds its connection ended.
  res.resume()
  await new Promise<void>((resolve) => { res.on('close', resolve) })
  t.pass('the connection ended')
})

test('events: a stream whose client went away while its join was pending arms no expiry timer', async (t) => {
  let subscribed!: () => void
  const called = new Promise<void>((resolve) => { subscribed = resolve })
  let finish!: (result: unknown) => void
  const left: string[] = []
  const removed: unknown[] = []
  const manager = {
    spendJoin: async () => {},
    member: async () => {},
    subscribe: async () => await new Promise((resolve) => { finish = resolve; subscribed() }),
    leave: (_sub: unknown, id: string) => { left.push(id) }
  }
  const connections = { add: () => {}, remove: (s: unknown) => { removed.push(s) } }
  const res = Object.assign(new EventEmitter(), { destroyed: false, writableLength: 0, socket: null, destroy () {} })
  const streams = createEventStreams({
    manager: manager as unknown as Parameters<typeof createEventStreams>[0]['manager'],
    connections: connections as unknown as Parameters<typeof createEventStreams>[0]['connections'],
    options: { heartbeatMs: 30_000, limits: { maxBufferedBytes: 1 << 20 } } as unknown as Parameters<typeof createEventStreams>[0]['options'],
    log: { debug () {} } as unknown as Parameters<typeof createEventStreams>[0]['log']
  })
  const user = { id: 'alice', name: 'alice', roles: [], expiresAt: Date.now() + 3_600_000 }
  const scheduled = tokenExpiry.size
  const opening = streams.open(res as unknown as ServerResponse, user, { conversationId: 'c1' })
  await called
  res.emit('close') // the client aborted
  finish({ conversation: { id: 'c1', participants: [] }, lastSeq: 0, messages: [], recovered: true })
  const stream = await opening
  t.equal(stream.isOpen, false)
  t.equal(removed.length, 1, 'taken out of the registry once')
  t.same(left, ['c1'], 'unsubscribed')
  t.equal(tokenExpiry.size, scheduled, 'no expiry scheduled for the closed stream')
  t.equal((stream as unknown as { expiresAt?: number }).expiresAt, undefined)
})
