// One process of a socket fleet (bench/fleet.ts starts it with `fork`): holds many client sockets, so the
// benchmark's own client work is spread over processes and never rides with the sender's timing.
// Commands arrive over IPC; every time is ms since the epoch, high resolution (timeOrigin + now), comparable
// across processes. Frames are told apart by their first bytes, never parsed: only a tracked `message` is
// decoded whole, and `ws` does not check the server's text for valid UTF-8 (skipUTF8Validation), so the
// fleet's own work stays small beside the server's (a big room's `joined` is ~30 KB).
import WebSocket, { type RawData } from 'ws'
import type { FleetCommand, FleetReply } from './fleet.ts'

const now = (): number => performance.timeOrigin + performance.now()
const READY = '{"type":"ready"'
const JOINED = '{"type":"joined"'
const PARTICIPANT = '{"type":"participant"'
const PRESENCE = '{"type":"presence"' // a big room's presence changes, coalesced
const MESSAGE = '{"type":"message"'
const ERROR = '{"type":"error"'
/** Bytes enough to tell the frames above apart. */
const HEAD = 24

interface Member {
  ws: WebSocket
  readyAt: number
  joinedAt: number
  presence: number
  lastPresenceAt: number
  /** Index of the next tracked message this socket expects. */
  next: number
}

/** Bytes of every frame received here. */
let bytes = 0

const members: Member[] = []
let closing = false
/** Tracked messages: how many of this process's sockets have message k. */
let counts = new Uint32Array(0)
let tracking = false

function reply (msg: FleetReply): void {
  process.send?.(msg)
}

function fail (error: string): void {
  if (!closing) reply({ type: 'fail', error })
}

function open (urls: string[], join: string | undefined, concurrency: number): void {
  let started = 0
  let settled = 0
  const startedAt = now()
  const done = (): void => {
    if (++settled === urls.length) {
      reply({ type: 'opened', startedAt, ...summary() })
      return
    }
    if (started < urls.length) openOne(started++)
  }
  const openOne = (i: number): void => {
    const ws = new WebSocket(urls[i], { perMessageDeflate: false, skipUTF8Validation: true })
    const m: Member = { ws, readyAt: 0, joinedAt: 0, presence: 0, lastPresenceAt: 0, next: 0 }
    members.push(m)
    m.ws.on('message', (data: RawData) => {
      const frame = data as Buffer // text frames arrive as one Buffer
      bytes += frame.length
      const text = frame.toString('latin1', 0, HEAD) // the frame's type, all ASCII
      if (text.startsWith(MESSAGE)) {
        if (tracking) track(m, frame.toString())
      } else if (text.startsWith(PARTICIPANT) || text.startsWith(PRESENCE)) {
        m.presence++
        m.lastPresenceAt = now()
      } else if (text.startsWith(READY) && m.readyAt === 0) {
        m.readyAt = now()
        if (join === undefined) done()
        else m.ws.send(JSON.stringify({ type: 'join', conversationId: join }))
      } else if (text.startsWith(JOINED) && m.joinedAt === 0) {
        m.joinedAt = now()
        done()
      } else if (text.startsWith(ERROR)) {
        fail(`socket ${i} got ${frame.toString().slice(0, 300)}`)
      }
    })
    m.ws.on('error', (err) => { fail(`socket ${i}: ${err.message}`) })
    m.ws.on('close', (code) => { fail(`socket ${i} closed (${code})`) })
  }
  const first = Math.min(concurrency, urls.length)
  for (; started < first; started++) openOne(started)
}

function summary (): Omit<Extract<FleetReply, { type: 'opened' }>, 'type' | 'startedAt'> {
  let readyLast = 0
  let joinedLast = 0
  let joinedFirst = Infinity
  let presence = 0
  let early: Member | undefined
  for (const m of members) {
    readyLast = Math.max(readyLast, m.readyAt)
    joinedLast = Math.max(joinedLast, m.joinedAt)
    if (m.joinedAt > 0 && m.joinedAt < joinedFirst) { joinedFirst = m.joinedAt; early = m }
    presence += m.presence
  }
  return { readyLast, joinedLast, joinedFirst: early?.joinedAt ?? 0, presence, bytes, earlyPresence: early?.presence ?? 0, earlyLastPresenceAt: early?.lastPresenceAt ?? 0 }
}

/** A tracked message: it must be the socket's next (checked by its content marker, `b<k>.`). */
function track (m: Member, text: string): void {
  const k = m.next++
  if (k >= counts.length || !text.includes(`"content":"b${k}.`)) {
    fail(`expected message ${k}, got ${text.slice(0, 200)}`)
    return
  }
  if (++counts[k] === members.length) reply({ type: 'got', k, at: now() })
}

process.on('message', (cmd: FleetCommand) => {
  switch (cmd.cmd) {
    case 'open':
      open(cmd.urls, cmd.join, cmd.concurrency ?? cmd.urls.length)
      break
    case 'track':
      counts = new Uint32Array(cmd.total)
      for (const m of members) m.next = 0
      tracking = true
      reply({ type: 'tracking' })
      break
    case 'stats':
      reply({ type: 'stats', ...summary() })
      break
    case 'cpu': {
      const u = process.cpuUsage()
      reply({ type: 'cpu', ms: (u.user + u.system) / 1000 })
      break
    }
    case 'close':
      closing = true
      for (const m of members) m.ws.terminate()
      process.exit(0)
  }
})
// The parent gone (its IPC channel closed): nothing left to do.
process.on('disconnect', () => { closing = true; process.exit(0) })
reply({ type: 'up' })
