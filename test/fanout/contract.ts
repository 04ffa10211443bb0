import type { Test } from 'tap'
import type { Fanout, FanoutEvent } from '../../lib/fanout/index.ts'
import type { Message } from '../../lib/schemas/entities.ts'

/**
 * The one contract every Fanout keeps (lib/fanout/types.ts), run against each implementation by its test
 * file. `pair()` gives two instances that can hear each other (one deployment), not yet started.
 */
export function fanoutContract (t: Test, pair: () => Promise<[Fanout, Fanout]>): void {
  async function started (t: Test): Promise<{ a: Fanout, b: Fanout, heardByA: FanoutEvent[], heardByB: FanoutEvent[], resyncs: number[] }> {
    const [a, b] = await pair()
    const heardByA: FanoutEvent[] = []
    const heardByB: FanoutEvent[] = []
    const resyncs = [0, 0]
    await a.start({ event: (e) => { heardByA.push(e) }, resync: () => { resyncs[0]++ } })
    await b.start({ event: (e) => { heardByB.push(e) }, resync: () => { resyncs[1]++ } })
    t.teardown(async () => { await a.close(); await b.close() })
    return { a, b, heardByA, heardByB, resyncs }
  }

  /** Resolves once `list` has `n` entries: `b` publishes a marker after them and we wait for it. */
  async function until (list: FanoutEvent[], n: number): Promise<void> {
    for (let spins = 0; list.length < n; spins++) {
      if (spins > 100_000) throw new Error(`only ${list.length} of ${n} events arrived`)
      await new Promise<void>((resolve) => { setImmediate(resolve) })
    }
  }

  const message = (seq: number): Message => ({
    id: `m${seq}`,
    conversationId: 'c1',
    seq,
    kind: 'text',
    sender: { id: 'alice', name: 'Alice', type: 'human' },
    content: `hello ${seq}`,
    createdAt: new Date(0).toISOString(),
    metadata: { nested: { list: [1, 'two', null] } }
  })

  t.test('is connected once started, shared, and says so without waiting', async (t) => {
    const { a, b } = await started(t)
    t.equal(a.shared, true)
    t.equal(a.connected, true)
    t.equal(b.connected, true)
    await a.whenConnected()
    t.type(a.name, 'string')
  })

  t.test('an event reaches the other instance as an equal copy, never its publisher', async (t) => {
    const { a, heardByA, heardByB } = await started(t)
    const event: FanoutEvent = { type: 'message', conversationId: 'c1', message: message(1), extra: ['{"type":"participant"}'] }
    a.publish(event)
    await until(heardByB, 1)
    t.strictSame(heardByB[0], event)
    t.not(heardByB[0], event, 'a copy, not the publisher\'s object')
    t.equal(heardByA.length, 0, 'no echo to the publisher')
  })

  t.test('events from one instance arrive in the order they were published', async (t) => {
    const { a, heardByB } = await started(t)
    const N = 2000
    for (let i = 1; i <= N; i++) a.publish({ type: 'frame', conversationId: 'c1', frame: String(i), except: i % 2 === 0 ? 'bob' : undefined })
    await until(heardByB, N)
    t.same(heardByB.map((e) => e.type === 'frame' ? Number(e.frame) : 0), Array.from({ length: N }, (_, i) => i + 1))
  })

  t.test('every kind of event crosses, both ways', async (t) => {
    const { a, b, heardByA, heardByB } = await started(t)
    const fromA: FanoutEvent[] = [
      { type: 'updated', conversationId: 'c1', message: { ...message(2), kind: 'ai', status: 'complete', parts: [{ x: 1 }] }, frame: '{}' },
      { type: 'changed', conversationId: 'c1', removed: 'bob' },
      { type: 'changed', conversationId: 'c1', deleted: true },
      { type: 'notify', userId: 'bob', frame: '{"type":"participant"}' }
    ]
    for (const e of fromA) a.publish(e)
    b.publish({ type: 'frame', conversationId: 'c2', frame: 'x' })
    await until(heardByB, fromA.length)
    await until(heardByA, 1)
    t.strictSame(heardByB, fromA)
    t.strictSame(heardByA, [{ type: 'frame', conversationId: 'c2', frame: 'x' }])
  })

  t.test('an instance directory, when there is one, lists live instances with their users and forgets one that stops renewing', async (t) => {
    const { a, b } = await started(t)
    if (a.instances === undefined || b.instances === undefined) {
      t.equal(b.instances, a.instances, 'neither has one: presence heartbeats are events')
      return
    }
    await a.instances.beat('instance-a', ['alice', 'bob'], 400)
    await b.instances.beat('instance-b', [], 60_000)
    const seen = await b.instances.alive()
    t.same(seen.get('instance-a'), ['alice', 'bob'], 'another instance reads it, with its users')
    t.ok(seen.has('instance-b'))
    // A's record is not renewed: it expires by itself (waited for, at most a few seconds).
    let alive = await b.instances.alive()
    for (const until = Date.now() + 5000; alive.has('instance-a') && Date.now() < until;) {
      await new Promise<void>((resolve) => { setTimeout(resolve, 50) })
      alive = await b.instances.alive()
    }
    t.notOk(alive.has('instance-a'), 'gone once its TTL passed')
    t.ok(alive.has('instance-b'), 'the renewed one stays')
    await b.instances.remove('instance-b')
    t.notOk((await a.instances.alive()).has('instance-b'), 'removed at once on close')
  })

  t.test('after close, nothing more is heard and publishing does not throw', async (t) => {
    const { a, b, heardByB } = await started(t)
    await b.close()
    a.publish({ type: 'frame', conversationId: 'c1', frame: 'late' })
    // A marker through a third instance proves the event had time to arrive.
    const [c] = await pair()
    const heardByC: FanoutEvent[] = []
    await c.start({ event: (e) => { heardByC.push(e) }, resync: () => {} })
    t.teardown(async () => { await c.close() })
    a.publish({ type: 'frame', conversationId: 'c1', frame: 'marker' })
    await until(heardByC, 1)
    t.equal(heardByB.length, 0)
    t.doesNotThrow(() => { b.publish({ type: 'frame', conversationId: 'c1', frame: 'after close' }) })
  })
}
