import type { ServerFrame } from '../schemas/server-frames.ts'

/**
 * What the client needs of a WebSocket: the browser's and `ws`'s both fit. The handlers take `never` so that
 * either implementation's own event types are accepted; the client reads only the fields named in socket.ts.
 */
export interface WebSocketLike {
  readonly readyState: number
  send: (data: string) => void
  close: (code?: number, reason?: string) => void
  onmessage: ((event: never) => void) | null
  onclose: ((event: never) => void) | null
  onerror: ((event: never) => void) | null
}

/** `new WebSocket(url)`; `ws` also takes `{ headers }` as its second argument. */
export type WebSocketConstructor = new (url: string, options?: any) => WebSocketLike

export interface SocketLike {
  send: (data: string) => void
  close: (code: number, reason: string) => void
}

interface SocketOptions {
  url: string
  tokenIn?: 'query' | 'header'
  WebSocket?: WebSocketConstructor
}

const OPEN = 1
const decoder = typeof TextDecoder === 'undefined' ? undefined : new TextDecoder()

function text (data: unknown): string | undefined {
  if (typeof data === 'string') return data
  if (decoder !== undefined && (data instanceof ArrayBuffer || ArrayBuffer.isView(data))) return decoder.decode(data as ArrayBuffer)
  return undefined
}

/**
 * Opens one socket. `message` gets each parsed server frame; `close` is called once, however the socket ends
 * (closed by either side, failed to open, or errored).
 */
export function openSocket (opts: SocketOptions, token: string | undefined, on: {
  message: (frame: ServerFrame) => void
  close: (code: number) => void
}): SocketLike {
  const Ctor = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (Ctor === undefined) throw new TypeError('no WebSocket: pass one in the options (in Node: `import { WebSocket } from \'ws\'`)')
  let url = opts.url
  let ws: WebSocketLike
  if (token !== undefined && opts.tokenIn === 'header') {
    ws = new Ctor(url, { headers: { authorization: `Bearer ${token}` } })
  } else {
    if (token !== undefined) url += `${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}`
    ws = new Ctor(url)
  }
  let ended = false
  const end = (code: number): void => {
    if (ended) return
    ended = true
    on.close(code)
  }
  ws.onmessage = (event: { data: unknown }) => {
    const body = text(event.data)
    if (body === undefined) return
    let frame: ServerFrame
    try {
      frame = JSON.parse(body) as ServerFrame
    } catch {
      return
    }
    on.message(frame)
  }
  ws.onclose = (event: { code: number }) => { end(event.code) }
  ws.onerror = () => {
    // A failed upgrade (401, refused) reports an error, then a close; some implementations only the error.
    if (ws.readyState !== OPEN) end(1006)
  }
  return {
    send (data) {
      if (ws.readyState === OPEN) ws.send(data)
    },
    close (code, reason) {
      ended = true
      try {
        ws.close(code, reason)
      } catch {
        ws.close()
      }
    }
  }
}
