import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'

// Writing to a socket's TCP stream beside `ws`: frames made once for every socket they go to, and the corking
// that lets the frames of one tick leave in one write (connection.ts).

/**
 * Each encoded frame made once into a whole WebSocket text frame (RFC 6455: FIN + text opcode, the length,
 * unmasked as a server's are), shared by every socket it is written to: a conversation's message goes to its
 * subscribers as the same bytes, with no framing or allocation per recipient.
 */
const wsFrames = new WeakMap<Buffer, Buffer>()

export function wsTextFrame (payload: Buffer): Buffer {
  let frame = wsFrames.get(payload)
  if (frame !== undefined) return frame
  const header = wsTextHeader(payload.length)
  frame = Buffer.allocUnsafe(header.length + payload.length)
  header.copy(frame)
  payload.copy(frame, header.length)
  wsFrames.set(payload, frame)
  return frame
}

/** The header of an unmasked, final WebSocket text frame of `n` bytes (RFC 6455: FIN + text opcode, the length). */
export function wsTextHeader (n: number): Buffer {
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10
  const header = Buffer.allocUnsafe(head)
  header[0] = 0x81
  if (n < 126) {
    header[1] = n
  } else if (n < 65536) {
    header[1] = 126
    header.writeUInt16BE(n, 2)
  } else {
    header[1] = 127
    header.writeBigUInt64BE(BigInt(n), 2)
  }
  return header
}

/** The `ws` internals the shared frames depend on: no extension (compression) and a sender with nothing queued. */
interface WsInternals {
  _extensions?: Record<string, unknown>
  _sender?: { _state?: unknown, _queue?: unknown[] }
}

/** Whether frames may go to this socket's TCP stream as shared bytes (else `ws` frames them itself). */
export function sharedFramesFit (socket: WebSocket): boolean {
  const ws = socket as unknown as WsInternals
  return ws._extensions !== undefined && Object.keys(ws._extensions).length === 0 &&
    ws._sender !== undefined && typeof ws._sender._state === 'number' && Array.isArray(ws._sender._queue)
}

/** `ws` has nothing of its own queued on this socket: bytes written to the TCP stream now go out in order. */
export function senderIdle (socket: WebSocket): boolean {
  const sender = (socket as unknown as WsInternals)._sender
  return sender?._state === 0 && sender._queue?.length === 0
}

/** Whatever owns a TCP stream written in this tick (a ChatConnection). */
export interface Corked {
  /** Its stream is corked until the tick ends. */
  corked: boolean
  /** It was written in this tick (corked, or its first frame sent at once: see wideFanout). */
  touched: boolean
}

/**
 * Set while one frame is written to the sockets of a big conversation one after another (Channel): a socket's
 * first frame of the tick then leaves at once instead of waiting, corked, for the end of the tick; its next
 * frames in the same tick are corked as usual. Over a thousand sockets each given one frame, the corking's own
 * bookkeeping (a buffered write, then a writev per socket at the end) cost more than it saved and held the
 * last delivery back by 5–15%.
 */
export const wideFanout = { active: false }

// Streams written in this tick (corked, or sent at once while fanning out), uncorked together at its end.
const touched = new Map<Corked, Duplex>()
let tickEndScheduled = false

/**
 * Called before a write to `raw` when `owner` has not corked it yet in this tick. Corks it until the end of the
 * tick (after its promise callbacks), so what is written meanwhile leaves in one write; while fanning out, the
 * tick's first frame, when it is `oneWrite` (a single buffer), is left to go at once (the next one corks).
 */
export function corkForTick (owner: Corked, raw: Duplex, oneWrite: boolean): void {
  if (wideFanout.active && oneWrite && !owner.touched) {
    owner.touched = true
  } else {
    raw.cork()
    owner.corked = true
    owner.touched = true
  }
  touched.set(owner, raw)
  if (!tickEndScheduled) {
    tickEndScheduled = true
    process.nextTick(tickEnd)
  }
}

/** Sends what `owner` wrote in this tick now (it stays in the tick's list: uncorking twice does nothing). */
export function uncork (owner: Corked, raw: Duplex): void {
  if (!owner.corked) return
  owner.corked = false
  raw.uncork()
}

function tickEnd (): void {
  tickEndScheduled = false
  for (const [owner, raw] of touched) {
    owner.touched = false
    uncork(owner, raw)
  }
  touched.clear()
}
