import t, { type Test } from 'tap'
import { CLOSE_HEARTBEAT } from '../../lib/connection.ts'
import { BEAT_SLICE, ConnectionRegistry, type LiveConnection } from '../../lib/connections.ts'
import type { ChatMetrics } from '../../lib/metrics.ts'

/**
 * The heartbeat of lib/connections.ts over many sockets: each is pinged once per beat, one that did not answer
 * the previous ping is closed, and a beat gives the event loop back between slices instead of writing every
 * ping in one go. Sockets here are stand-ins that record what the registry does to them.
 */

const metrics = { connections: { set () {} } } as unknown as ChatMetrics

/** The registry's timers do not hold the process open (a server's sockets do): this stands in for them. */
function keepAlive (t: Test): void {
  const timer = setInterval(() => {}, 1000)
  t.teardown(() => { clearInterval(timer) })
}

interface Stub extends LiveConnection {
  pings: number
  closedWith: number | undefined
  /** Answers every ping (a pong sets alive) unless false. */
  answers: boolean
}

function stub (registry: ConnectionRegistry, i: number, onPing: (s: Stub) => void, onClose: (s: Stub) => void = () => {}): Stub {
  const s: Stub = {
    id: `c${i}`,
    userId: `u${i % 50}`,
    user: { id: `u${i % 50}`, name: `U${i % 50}`, roles: [] },
    openedAt: new Date(0).toISOString(),
    conversations: [],
    alive: true,
    pings: 0,
    closedWith: undefined,
    answers: true,
    ping () {
      s.pings++
      if (s.answers) s.alive = true
      onPing(s)
    },
    close (code) {
      s.closedWith = code
      registry.remove(s)
      onClose(s)
    },
    write () {},
    async quiesce () {}
  }
  return s
}

t.test('a beat over many sockets pings each once, in slices, and closes the ones that did not answer', async (t) => {
  const N = BEAT_SLICE * 8 + 5
  const registry = new ConnectionRegistry({ heartbeatMs: 100, metrics })
  t.teardown(() => { registry.closeAll(1001, 'test over') })
  keepAlive(t)
  let pinged = 0
  let pingsWhenLoopTurned = -1
  let beats = 0
  let beatDone = (): void => {}
  const onPing = (): void => {
    pinged++
    // At the beat's first ping, ask for the next turn of the loop: it must come before the beat's last ping.
    if (pinged % N === 1) setImmediate(() => { if (pingsWhenLoopTurned < 0) pingsWhenLoopTurned = pinged % N === 0 ? N : pinged % N })
    if (pinged % N === 0) { beats++; beatDone() }
  }
  let closed = (): void => {}
  const conns = Array.from({ length: N }, (_, i) => stub(registry, i, onPing, () => { closed() }))
  for (const c of conns) registry.add(c)
  const beat = async (): Promise<void> => { await new Promise<void>((resolve) => { beatDone = resolve }) }

  await beat()
  t.equal(beats, 1)
  t.same(conns.filter((c) => c.pings !== 1).map((c) => c.id), [], 'every socket pinged once by the first beat')
  t.ok(pingsWhenLoopTurned > 0 && pingsWhenLoopTurned <= BEAT_SLICE, `the loop turned after ${pingsWhenLoopTurned} of ${N} pings (a slice is ${BEAT_SLICE})`)

  // Some stop answering: the next beat pings them (alive was cleared), the one after closes them.
  const silent = [conns[3], conns[BEAT_SLICE + 1], conns[N - 1]]
  for (const c of silent) c.answers = false
  await new Promise<void>((resolve) => {
    closed = () => { if (silent.every((c) => c.closedWith !== undefined)) resolve() }
  })
  t.same(silent.map((c) => c.closedWith), silent.map(() => CLOSE_HEARTBEAT), 'the silent sockets closed with 4008')
  t.equal(registry.size, N - silent.length)
  t.same(conns.filter((c) => !silent.includes(c) && c.closedWith !== undefined).map((c) => c.id), [], 'the others stay open')
  t.equal(Math.max(...silent.map((c) => c.pings)), 2, 'a silent socket is pinged once more, then closed')
})

t.test('a socket closed while a beat is under way is not pinged by the rest of it', async (t) => {
  const N = BEAT_SLICE * 3
  const registry = new ConnectionRegistry({ heartbeatMs: 100, metrics })
  t.teardown(() => { registry.closeAll(1001, 'test over') })
  keepAlive(t)
  let pinged = 0
  let done = (): void => {}
  const finished = new Promise<void>((resolve) => { done = resolve })
  const conns: Stub[] = []
  const last = (): Stub => conns[N - 1]
  const onPing = (): void => {
    pinged++
    if (pinged === 1) last().close(1000, 'gone') // closed by its peer between two slices of the beat
    if (pinged === N - 1) setImmediate(done)
  }
  for (let i = 0; i < N; i++) conns.push(stub(registry, i, onPing))
  for (const c of conns) registry.add(c)
  await finished
  t.equal(last().pings, 0, 'the closed socket was skipped')
  t.same(conns.slice(0, N - 1).filter((c) => c.pings !== 1).map((c) => `${c.id}:${c.pings}`), [], 'every other socket pinged once')
  registry.closeAll(1001, 'test over')
  t.equal(registry.size, 0)
})
