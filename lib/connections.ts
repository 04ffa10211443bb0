import { CLOSE_HEARTBEAT } from './connection.ts'
import type { ChatMetrics } from './metrics.ts'
import { HumanParticipant, type HumanSocket } from './participants/human.ts'
import type { ChatUser } from './schemas/entities.ts'

/** What the registry needs of a live connection: a WebSocket (connection.ts) or an event stream (event-stream.ts). */
export interface LiveConnection extends HumanSocket {
  readonly user: ChatUser
  readonly openedAt: string
  /** The conversations it is subscribed to. */
  readonly conversations: string[]
  /** Cleared by the heartbeat, set by a pong (an event stream, which cannot answer, stays alive). */
  alive: boolean
  /** The heartbeat: a WebSocket ping, or a comment line on an event stream. */
  ping (): void
  /** The first step of a graceful close: resolves once what it received is handled. */
  quiesce (): Promise<void>
}

export interface ConnectionInfo {
  id: string
  userId: string
  openedAt: string
  conversations: string[]
}

/**
 * Sockets the heartbeat pings at a time. A ping is a write system call, and its pong a read: over 10,000
 * sockets a beat in one loop held every message and reply of the process back for 250–375 ms here. The beat
 * goes through them a slice at a time, the slices spread over the first half of the heartbeat interval, so the
 * process goes on serving between them and each socket is still pinged once per interval, at about the same
 * point of it every time. A slice is what a message may wait behind: with 10,000 sockets open, slices of 64
 * gave a ws ping p99 of 2.5–3.8 ms and send → ack 2.6–6.1 ms, slices of 16 1.1–1.3 and 2.3–4.9 (the timers of
 * four times as many slices cost nothing measurable).
 */
export const BEAT_SLICE = 16

/**
 * Every open socket (and event stream) of this process, grouped by user (HumanParticipant), and the one heartbeat that checks
 * them all: a socket that did not answer the previous ping is closed with 4008.
 */
export class ConnectionRegistry {
  private readonly humans = new Map<string, HumanParticipant<LiveConnection>>()
  private readonly heartbeatMs: number
  private readonly metrics: ChatMetrics
  private timer: NodeJS.Timeout | undefined
  private count = 0
  /** The beat under way: the sockets it pings, how far it got, the time between slices, the next slice's timer. */
  private beating: { conns: LiveConnection[], next: number, gapMs: number, slice: NodeJS.Timeout | undefined } | undefined

  private readonly onPresence: (userId: string, online: boolean) => void

  constructor (opts: { heartbeatMs: number, metrics: ChatMetrics, onPresence?: (userId: string, online: boolean) => void }) {
    this.heartbeatMs = opts.heartbeatMs
    this.metrics = opts.metrics
    this.onPresence = opts.onPresence ?? (() => {})
  }

  /** The users with a socket open here. */
  users (): IterableIterator<string> {
    return this.humans.keys()
  }

  get size (): number {
    return this.count
  }

  add (conn: LiveConnection): void {
    let human = this.humans.get(conn.userId)
    if (human === undefined) {
      human = new HumanParticipant<LiveConnection>(conn.userId, conn.user.name)
      this.humans.set(conn.userId, human)
      this.onPresence(conn.userId, true)
    }
    human.sockets.add(conn)
    this.count++
    this.metrics.connections.set(this.count)
    if (this.timer === undefined) {
      this.timer = setInterval(() => { this.beat() }, this.heartbeatMs).unref()
    }
  }

  remove (conn: LiveConnection): void {
    const human = this.humans.get(conn.userId)
    if (human === undefined || !human.sockets.delete(conn)) return
    if (!human.online) {
      this.humans.delete(conn.userId)
      this.onPresence(conn.userId, false)
    }
    this.count--
    this.metrics.connections.set(this.count)
    if (this.count === 0) this.stopBeating()
  }

  isOnline (userId: string): boolean {
    return this.humans.get(userId)?.online ?? false
  }

  /** Sends a frame to every socket of a user. */
  notify (userId: string, frame: Buffer | string): void {
    this.humans.get(userId)?.send(frame)
  }

  /** Closes every socket of a user; returns how many there were. */
  disconnectUser (userId: string, code: number, reason: string): number {
    return this.humans.get(userId)?.disconnect(code, reason) ?? 0
  }

  list (): ConnectionInfo[] {
    const out: ConnectionInfo[] = []
    for (const human of this.humans.values()) {
      for (const conn of human.sockets) {
        out.push({ id: conn.id, userId: conn.userId, openedAt: conn.openedAt, conversations: conn.conversations })
      }
    }
    return out
  }

  /** Every open socket. */
  all (): LiveConnection[] {
    const out: LiveConnection[] = []
    for (const human of this.humans.values()) out.push(...human.sockets)
    return out
  }

  /** Closes everything (server shutting down). */
  closeAll (code: number, reason: string): void {
    this.stopBeating()
    for (const human of [...this.humans.values()]) human.disconnect(code, reason)
  }

  private stopBeating (): void {
    clearInterval(this.timer)
    this.timer = undefined
    clearTimeout(this.beating?.slice)
    this.beating = undefined
  }

  /** One heartbeat over every socket open when it starts, BEAT_SLICE of them at a time (see there). */
  private beat (): void {
    if (this.beating !== undefined) return // the previous beat is still under way: it goes on
    const conns = this.all()
    const slices = Math.ceil(conns.length / BEAT_SLICE)
    this.beating = { conns, next: 0, gapMs: slices > 1 ? this.heartbeatMs / 2 / (slices - 1) : 0, slice: undefined }
    this.beatSlice()
  }

  private beatSlice (): void {
    const beat = this.beating
    if (beat === undefined) return
    const end = Math.min(beat.next + BEAT_SLICE, beat.conns.length)
    for (; beat.next < end; beat.next++) {
      const conn = beat.conns[beat.next]
      if (this.humans.get(conn.userId)?.sockets.has(conn) !== true) continue // closed since the beat began
      if (!conn.alive) {
        conn.close(CLOSE_HEARTBEAT, 'heartbeat timeout')
        continue
      }
      conn.alive = false
      conn.ping()
    }
    if (this.beating !== beat) return // stopped by a close in this slice (the last socket gone, closeAll)
    if (end < beat.conns.length) beat.slice = setTimeout(() => { this.beatSlice() }, beat.gapMs).unref()
    else this.beating = undefined
  }
}
