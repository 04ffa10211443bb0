import type { ServerFrame } from '../schemas/server-frames.ts'
import type { SocketLike } from './socket.ts'

/**
 * The fallback transport, for networks that block WebSockets: the socket's frames in, over `GET /chat/events`
 * streams, and the client's frames out, over REST. It looks like a socket to the client (SocketLike): `join`
 * opens a stream for that conversation (resuming with `since`), `leave` closes it, `send` posts the message
 * (the reply becomes the `ack`), `typing` and `cancel` post theirs. A stream with no conversation gives `ready`
 * and the user's notices. Any stream or request failing ends the whole transport, as a dropped socket does:
 * the client reconnects and rejoins with `since`, and resends what was not acked.
 *
 * Streams are read with `fetch` (no EventSource: it can set no header, and reconnects on its own), in
 * browsers and in Node 20 alike.
 */

export interface StreamResponse {
  ok: boolean
  status: number
  headers: { get: (name: string) => string | null }
  body: { getReader: () => { read: () => Promise<{ done: boolean, value?: Uint8Array }>, cancel: () => Promise<void> } } | null
  text: () => Promise<string>
}

export type StreamFetch = (url: string, init: { method: string, headers: Record<string, string>, body?: string, signal?: AbortSignal }) => Promise<StreamResponse>

interface Stream {
  conversationId: string | undefined
  abort: AbortController
  /** Ended on purpose (left, or `leave`): its end is no drop. */
  done: boolean
  /** When it last gave anything, a heartbeat included. */
  heard: number
}

const DROPPED = 1006

/** One parsed event of a stream: its `event:` name (undefined for a frame) and data. */
type OnEvent = (name: string | undefined, data: string) => void

/** Reads an event stream's bytes into events; comment lines (heartbeats) only count as heard. */
async function readEvents (res: StreamResponse, stream: Stream, onEvent: OnEvent): Promise<void> {
  if (res.body === null) throw new Error('no response body')
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let name: string | undefined
  let data: string | undefined
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    stream.heard = Date.now()
    buffer += decoder.decode(value, { stream: true })
    for (let nl = buffer.search(/\r\n|\r|\n/); nl >= 0; nl = buffer.search(/\r\n|\r|\n/)) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(buffer.startsWith('\r\n', nl) ? nl + 2 : nl + 1)
      if (line === '') {
        if (data !== undefined) onEvent(name, data)
        name = undefined
        data = undefined
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'data') data = data === undefined ? value : `${data}\n${value}`
      else if (field === 'event') name = value
    }
  }
}

export function openEventTransport (base: string, token: string | undefined, fetchImpl: StreamFetch, on: {
  message: (frame: ServerFrame) => void
  close: (code: number) => void
}): SocketLike {
  const streams = new Map<string | undefined, Stream>()
  /**
   * Per conversation, the last of its posts: each starts once the one before it has its reply, so sends are
   * stored, and acked, in the order they were sent, as a socket's frames are.
   */
  const chains = new Map<string, Promise<void>>()
  let ended = false
  let heartbeatMs = 30_000

  const headers = (extra: Record<string, string> = {}): Record<string, string> => {
    const out: Record<string, string> = { ...extra }
    if (token !== undefined) out.authorization = `Bearer ${token}`
    return out
  }

  function end (code: number): void {
    if (ended) return
    ended = true
    for (const s of streams.values()) s.abort.abort()
    streams.clear()
    on.close(code)
  }

  function deliver (frame: ServerFrame): void {
    if (!ended) on.message(frame)
  }

  /** A REST error body as the socket's `error` frame; anything else (a proxy's page, no JSON) is a drop. */
  async function refusal (res: StreamResponse, ref: string | undefined): Promise<ServerFrame | undefined> {
    let body: { code?: unknown, message?: unknown, retryAfterMs?: unknown }
    try {
      body = JSON.parse(await res.text())
    } catch {
      return undefined
    }
    if (typeof body?.code !== 'string' || res.status === 401) return undefined
    const retryAfter = Number(res.headers.get('retry-after'))
    const retryAfterMs = typeof body.retryAfterMs === 'number' ? body.retryAfterMs : Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined
    const frame = { type: 'error', code: body.code, status: res.status, message: String(body.message ?? '') } as Extract<ServerFrame, { type: 'error' }>
    if (ref !== undefined) frame.ref = ref
    if (retryAfterMs !== undefined) frame.retryAfterMs = retryAfterMs
    return frame
  }

  /** Opens a stream: the conversation's (a `join`), or the user's own (undefined). */
  function open (conversationId: string | undefined, since: number | undefined, ref: string | undefined): void {
    streams.get(conversationId)?.abort.abort()
    const stream: Stream = { conversationId, abort: new AbortController(), done: false, heard: Date.now() }
    streams.set(conversationId, stream)
    const query: string[] = []
    if (conversationId !== undefined) query.push(`conversationId=${encodeURIComponent(conversationId)}`)
    if (since !== undefined) query.push(`since=${since}`)
    const url = `${base}/events${query.length === 0 ? '' : `?${query.join('&')}`}`
    const gone = (): boolean => ended || streams.get(conversationId) !== stream
    const run = async (): Promise<void> => {
      const res = await fetchImpl(url, { method: 'GET', headers: headers({ accept: 'text/event-stream' }), signal: stream.abort.signal })
      if (!res.ok) {
        const refused = conversationId === undefined ? undefined : await refusal(res, ref)
        if (gone()) return
        if (refused === undefined) return end(DROPPED)
        streams.delete(conversationId)
        deliver(refused)
        return
      }
      await readEvents(res, stream, (name, data) => {
        if (gone()) return
        let frame: ServerFrame & { code?: number }
        try {
          frame = JSON.parse(data)
        } catch {
          return
        }
        if (name === 'close') {
          end(typeof frame.code === 'number' ? frame.code : DROPPED)
          return
        }
        if (frame.type === 'ready') {
          heartbeatMs = frame.heartbeatMs
          if (conversationId !== undefined) return // every stream starts with one; the user's stream's counts
        }
        if (frame.type === 'joined' && ref !== undefined) frame.ref = ref
        if (frame.type === 'left') {
          stream.done = true
          streams.delete(conversationId)
        }
        deliver(frame)
      })
      if (!gone() && !stream.done) end(DROPPED)
    }
    run().catch(() => { if (!gone() && !stream.done) end(DROPPED) })
  }

  /**
   * A client frame over REST, after the conversation's posts before it got their replies; the reply becomes the
   * socket's reply (`ack`, or an `error` with the ref). Once the transport ended, the rest of the chain is not
   * sent: the client resends what was not acked over the next one.
   */
  function post (conversationId: string, path: string, body: unknown, ref: string | undefined, reply?: (res: StreamResponse) => Promise<void>): void {
    const run = async (): Promise<void> => {
      if (ended) return
      const res = await fetchImpl(`${base}${path}`, {
        method: 'POST',
        headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
        body: body === undefined ? undefined : JSON.stringify(body)
      })
      if (ended) return
      if (res.ok) {
        await reply?.(res)
        return
      }
      const refused = await refusal(res, ref)
      if (refused === undefined) end(DROPPED)
      else deliver(refused)
    }
    const before = chains.get(conversationId) ?? Promise.resolve()
    const last: Promise<void> = before.then(run).catch(() => { end(DROPPED) }).finally(() => {
      if (chains.get(conversationId) === last) chains.delete(conversationId)
    })
    chains.set(conversationId, last)
  }

  open(undefined, undefined, undefined)

  return {
    send (data) {
      if (ended) return
      const frame = JSON.parse(data) as Record<string, any>
      const ref = frame.ref as string | undefined
      const id = typeof frame.conversationId === 'string' ? encodeURIComponent(frame.conversationId) : ''
      switch (frame.type) {
        case 'join':
          open(frame.conversationId, frame.since, ref)
          return
        case 'leave': {
          const stream = streams.get(frame.conversationId)
          if (stream !== undefined) {
            stream.done = true
            stream.abort.abort()
            streams.delete(frame.conversationId)
          }
          queueMicrotask(() => { deliver({ type: 'left', conversationId: frame.conversationId, ref } as ServerFrame) })
          return
        }
        case 'send': {
          const { clientMessageId, content, metadata } = frame
          post(frame.conversationId, `/conversations/${id}/messages`, metadata === undefined ? { clientMessageId, content } : { clientMessageId, content, metadata }, ref, async (res) => {
            const message = JSON.parse(await res.text()) as { id: string, seq: number }
            deliver({ type: 'ack', conversationId: frame.conversationId, clientMessageId, messageId: message.id, seq: message.seq, ref } as ServerFrame)
          })
          return
        }
        case 'typing':
          post(frame.conversationId, `/conversations/${id}/typing`, undefined, ref)
          return
        case 'cancel':
          post(frame.conversationId, `/conversations/${id}/messages/${encodeURIComponent(frame.messageId)}/cancel`, undefined, ref)
          return
        case 'ping': {
          // Alive while every stream was heard from (heartbeats included) within two heartbeats.
          const now = Date.now()
          const alive = [...streams.values()].every((s) => now - s.heard <= 2 * heartbeatMs)
          if (alive) queueMicrotask(() => { deliver({ type: 'pong', ref } as ServerFrame) })
        }
      }
    },
    close () {
      if (ended) return
      ended = true
      for (const s of streams.values()) s.abort.abort()
      streams.clear()
    }
  }
}
