import { test } from 'tap'
import WebSocket from 'ws'
import { ChatClient, type FetchLike } from '../../lib/client/index.ts'
import { createConversation, startApp } from '../helpers/app.ts'
import { startProxy } from '../helpers/proxy.ts'
import { clientFor, closeSpareConnections, restVia, TRANSPORTS, until } from '../helpers/transports.ts'

for (const transport of TRANSPORTS) {
  const transports = [transport]

  test(`client [${transport}]: 50+ drops during a 5,000-message burst from another user: 0 lost, 0 doubled, 0 out of order, every send settled`, async (t) => {
    // A small replay limit, so some rejoins answer recovered: false and the client pages the rest over REST.
    const ta = await startApp(t, { rateLimit: { max: 0, rest: { max: 0, windowMs: 1000 } }, limits: { replayLimit: 30 } })
    closeSpareConnections(ta)
    const proxy = await startProxy(Number(new URL(ta.base).port))
    t.teardown(async () => { await proxy.close() })
    const conv = await createConversation(ta, 'alice', ['bob'])

    let restPages = 0
    const countingFetch: FetchLike = async (url, init) => {
      if (url.includes('/messages')) restPages++
      return await fetch(url, init)
    }
    const bobToken = await ta.token('bob')
    const bob = new ChatClient({
      url: `ws://127.0.0.1:${proxy.port}/chat/ws`,
      httpUrl: restVia(transport, ta, proxy),
      token: bobToken,
      WebSocket,
      transports,
      fetch: countingFetch,
      pageSize: 50,
      reconnect: { initialDelayMs: 2, maxDelayMs: 30 }
    })
    t.teardown(() => { bob.close() })
    const alice = await clientFor(t, ta, 'alice', { transports })

    const seqs: number[] = []
    let fromAlice = 0
    let drops = 0
    let sinceJoined = 0
    bob.on('joined', () => { sinceJoined = 0 })
    bob.on('message', (m) => {
      seqs.push(m.seq)
      if (m.sender.id === 'alice') fromAlice++
      // Cut bob's connection once he has had 40 messages on it (replayed, paged or live).
      if (++sinceJoined >= 40 && bob.state === 'open' && proxy.cut() > 0) {
        drops++
        sinceJoined = 0
      }
    })
    await bob.join(conv.id)
    await alice.join(conv.id)

    const TOTAL = 5000
    const BOB_SENDS = 100
    const bobAcks: Array<Promise<unknown>> = []
    const aliceAcks: Array<Promise<unknown>> = []
    for (let i = 0; i < TOTAL; i++) {
      aliceAcks.push(alice.send(conv.id, `a${i}`))
      // Bob sends too, while his socket keeps dropping: resent with the same clientMessageId, stored once.
      if (i % (TOTAL / BOB_SENDS) === 0) bobAcks.push(bob.send(conv.id, `b${i}`))
      if (i % 10 === 9) await aliceAcks[i]
    }
    const aliceSettled = await Promise.allSettled(aliceAcks)
    const bobSettled = await Promise.allSettled(bobAcks)
    t.equal(aliceSettled.filter((r) => r.status === 'fulfilled').length, TOTAL, 'every one of alice\'s sends acked')
    t.equal(bobSettled.filter((r) => r.status === 'fulfilled').length, BOB_SENDS, 'every one of bob\'s sends acked across the drops')

    const stored = await alice.rest.getConversation(conv.id)
    await until(bob, () => seqs.length > 0 && seqs[seqs.length - 1] >= stored.lastSeq, 60_000)
    const expected = Array.from({ length: stored.lastSeq }, (_, i) => i + 1)
    const lost = expected.filter((s) => !seqs.includes(s)).length
    const doubled = seqs.length - new Set(seqs).size
    const outOfOrder = seqs.filter((s, i) => i > 0 && s <= seqs[i - 1]).length
    t.ok(drops >= 50, `dropped ${drops} times`)
    t.equal(lost, 0, 'none lost')
    t.equal(doubled, 0, 'none doubled')
    t.equal(outOfOrder, 0, 'none out of order')
    t.equal(fromAlice, TOTAL, 'each of alice\'s messages seen once')
    t.equal(stored.lastSeq, expected.length)
    let bobStored = 0
    for (let after = 0; after < stored.lastSeq; after += 500) {
      const page = await alice.rest.messages(conv.id, { after, limit: 500 })
      bobStored += page.filter((m) => m.sender.id === 'bob').length
    }
    t.equal(bobStored, BOB_SENDS, 'resends made no second message')
    t.ok(restPages > 0, 'gaps past the replay limit were paged over REST')
    t.comment(`drops=${drops} received=${seqs.length} lastSeq=${stored.lastSeq} restPages=${restPages} connections=${proxy.accepted}`)
  })
}
