import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import pg from 'pg'
import { test, type Test } from 'tap'
import { TestClient, type Frame } from './app.ts'

/**
 * Three example-host processes, as `npm start` runs them, on one storage and the machine's Redis (a pub/sub
 * channel of their own): one deployment of three instances. Not a test: test/fanout/processes-*.test.ts run it,
 * one storage per file (each in a process of its own).
 */

const repo = new URL('../..', import.meta.url).pathname

interface Host { proc: ChildProcess, port: number, base: string }

async function startHost (env: Record<string, string>): Promise<Host> {
  // node itself runs the server (tsx as a loader), so a signal reaches the server and not a wrapper.
  const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/server.ts'], {
    cwd: repo,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  // Its log is read to the end (a full pipe would stall the host); the listening line gives the port.
  const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream })
  const port = await new Promise<number>((resolve, reject) => {
    lines.on('line', (line) => {
      if (process.env.DEBUG_HOSTS !== undefined) process.stderr.write(`${line.slice(0, 300)}\n`)
      const m = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line)
      if (m !== null) resolve(Number(m[1]))
    })
    proc.once('exit', () => { reject(new Error('the host exited before listening')) })
  })
  return { proc, port, base: `http://127.0.0.1:${port}` }
}

async function token (host: Host, userId: string): Promise<string> {
  const res = await fetch(`${host.base}/auth/dev-login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId }) })
  return ((await res.json()) as { token: string }).token
}

async function connect (host: Host, userId: string): Promise<TestClient> {
  const client = new TestClient(`ws://127.0.0.1:${host.port}/chat/ws?access_token=${await token(host, userId)}`)
  await client.next((f) => f.type === 'ready')
  return client
}

/** Each storage the instances can share: a SQLite file, or a PostgreSQL schema of its own (dropped after). */
export const storages: Record<string, (t: Test) => { env: Record<string, string>, drop?: () => Promise<void> }> = {
  'one SQLite file': (t) => ({ env: { CHAT_STORAGE: 'sqlite', CHAT_DB: join(t.testdir(), 'chat.db') } }),
  'one PostgreSQL': () => {
    const schema = `chat_test_${randomUUID().replaceAll('-', '')}`
    return {
      env: { CHAT_STORAGE: 'postgres', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres', CHAT_PG_SCHEMA: schema },
      async drop () {
        const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' })
        await admin.connect()
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        await admin.end()
      }
    }
  }
}

export function threeInstances (storageName: keyof typeof storages): void {
  const storageEnv = storages[storageName]
  test(`three instances on ${storageName} and Redis: one order everywhere, live; a SIGKILLed instance loses no acked message and its users go offline`, { timeout: 240_000 }, async (t) => {
    const storage = storageEnv(t)
    const env = {
      ...storage.env,
      REDIS_URL: 'redis://127.0.0.1:6379',
      CHAT_REDIS_CHANNEL: `test-${randomUUID()}`,
      CHAT_PRESENCE_TTL_MS: '1500',
      CHAT_RATE_LIMIT: '0',
      JWT_SECRET: `secret-${randomUUID()}`
    }
    const hosts = [await startHost(env), await startHost(env), await startHost(env)]
    t.teardown(async () => {
      const exits = hosts.filter((h) => h.proc.exitCode === null && h.proc.signalCode === null).map(async (h) => { await once(h.proc, 'exit') })
      for (const h of hosts) h.proc.kill('SIGKILL')
      await Promise.all(exits)
      await storage.drop?.()
    })
    const clients: TestClient[] = []
    t.teardown(() => { for (const c of clients) c.close() })

    // Tokens from one instance are good on the others (shared JWT_SECRET).
    const created = await fetch(`${hosts[0].base}/chat/conversations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(hosts[0], 'alice')}` },
      body: JSON.stringify({ title: 'three', participants: ['bob', 'carol'] })
    })
    const conv = await created.json() as { id: string, lastSeq: number }
    const users = ['alice', 'bob', 'carol']
    for (let i = 0; i < 3; i++) {
      const c = await connect(hosts[i], users[i])
      clients.push(c)
      const joined = await c.call({ type: 'join', conversationId: conv.id })
      t.equal(joined.type, 'joined', `${users[i]} joins on instance ${i + 1}`)
    }
    const [alice, bob, carol] = clients

    // Presence crosses: alice on instance 1 sees bob and carol online.
    const view = await fetch(`${hosts[0].base}/chat/conversations/${conv.id}`, { headers: { authorization: `Bearer ${await token(hosts[0], 'alice')}` } })
    const participants = ((await view.json()) as { participants: Array<{ id: string, online: boolean }> }).participants
    t.same(participants.filter((p) => p.online).map((p) => p.id).sort(), ['alice', 'bob', 'carol'], 'online on any instance is online')

    // 300 concurrent sends from each instance.
    const N = 300
    for (let i = 0; i < N; i++) {
      for (let u = 0; u < 3; u++) clients[u].send({ type: 'send', conversationId: conv.id, clientMessageId: `${users[u]}-${i}`, content: `${users[u]} ${i}` })
    }
    const last = conv.lastSeq + 3 * N
    const orders = await Promise.all(clients.map(async (c) => {
      await c.waitFor((f) => f.type === 'message' && f.message.seq === last, 60_000)
      return c.all('message').map((f: Frame) => f.message.seq)
    }))
    const expected = Array.from({ length: 3 * N }, (_, i) => conv.lastSeq + 1 + i)
    for (let u = 0; u < 3; u++) t.same(orders[u], expected, `${users[u]} sees all ${3 * N} in one gap-free order`)
    t.equal(clients.reduce((n, c) => n + c.all('ack').length, 0), 3 * N, 'every send acked')

    // Typing crosses instances.
    carol.send({ type: 'typing', conversationId: conv.id })
    await alice.waitFor((f) => f.type === 'typing' && f.participantId === 'carol')
    await bob.waitFor((f) => f.type === 'typing' && f.participantId === 'carol')

    // SIGKILL instance 3 during a burst from carol (on it) and alice.
    for (let i = 0; i < 200; i++) {
      carol.send({ type: 'send', conversationId: conv.id, clientMessageId: `burst-c-${i}`, content: `burst c ${i}` })
      alice.send({ type: 'send', conversationId: conv.id, clientMessageId: `burst-a-${i}`, content: `burst a ${i}` })
    }
    await carol.waitFor((f) => f.type === 'ack' && f.clientMessageId === 'burst-c-20', 20_000)
    hosts[2].proc.kill('SIGKILL')
    await once(hosts[2].proc, 'exit')
    const ackedByCarol = carol.all('ack').filter((f) => String(f.clientMessageId).startsWith('burst-c-')).map((f) => f.seq as number)
    await alice.waitFor((f) => f.type === 'ack' && f.clientMessageId === 'burst-a-199', 20_000)
    const aliceLast = alice.all('ack').find((f) => f.clientMessageId === 'burst-a-199')?.seq as number
    // Everything acked, by either, reaches the sockets on the surviving instances, in order.
    const top = Math.max(aliceLast, ...ackedByCarol)
    for (const c of [alice, bob]) {
      await c.waitFor((f) => f.type === 'message' && f.message.seq >= top, 20_000)
      const seqs = c.all('message').map((f: Frame) => f.message.seq as number)
      t.same(seqs, Array.from({ length: seqs.length }, (_, i) => conv.lastSeq + 1 + i), 'gap-free, in order, nothing doubled')
      for (const s of ackedByCarol) if (!seqs.includes(s)) t.fail(`acked seq ${s} from the killed instance never arrived`)
    }
    t.ok(ackedByCarol.length > 0, `${ackedByCarol.length} of carol's burst acked before the kill, all delivered`)
    // Her instance is gone without a word: she goes offline for the others within the presence TTL.
    const offline = await alice.waitFor((f) => f.type === 'participant' && f.event === 'offline' && f.participant.id === 'carol', 10_000)
    t.equal(offline.participant.online, false)

    // Bob drops from instance 2 and resumes on instance 1 with `since`: exactly what he missed.
    const seen = bob.all('message').map((f: Frame) => f.message.seq as number)
    const lastSeen = seen[seen.length - 1]
    bob.close()
    const acks: Frame[] = []
    for (let i = 0; i < 30; i++) {
      acks.push(await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: `missed-${i}`, content: `missed ${i}` }))
    }
    t.same(new Set(acks.map((f) => f.type)), new Set(['ack']), 'sent while bob is away')
    const missedTop = Math.max(...acks.map((f) => f.seq as number))
    const bob2 = await connect(hosts[0], 'bob')
    clients.push(bob2)
    const resumed = await bob2.call({ type: 'join', conversationId: conv.id, since: lastSeen })
    const replay = resumed.messages.map((m: { seq: number }) => m.seq as number)
    t.equal(resumed.recovered, true)
    t.equal(replay.at(-1) ?? resumed.lastSeq, resumed.lastSeq, 'the replay ends at the joined lastSeq')
    // Acked is stored, not yet delivered here: what this instance had not delivered when bob joined (it comes
    // back through Redis) follows `joined` as live frames. Together: exactly the missed ones, in order, once.
    if (resumed.lastSeq < missedTop) await bob2.waitFor((f) => f.type === 'message' && f.message.seq >= missedTop, 20_000)
    const live = bob2.all('message').map((f: Frame) => f.message.seq as number)
    const got = [...replay, ...live].filter((seq) => seq > lastSeen)
    t.same(got, Array.from({ length: missedTop - lastSeen }, (_, i) => lastSeen + 1 + i), 'exactly the missed ones, in order, nothing doubled')
    t.ok(got.length >= 30)
  })
}
