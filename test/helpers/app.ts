import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { buildApp } from '../../examples/app.ts'
import { loadConfig } from '../../examples/config.ts'
import type { ChatOptions } from '../../lib/index.ts'
import type { AskHandler } from '../../examples/nlweb/handler.ts'

/** Shared setup for tests (not itself a test): the example host with the plugin, listening on a free port. */

export interface TestApp {
  app: FastifyInstance
  base: string
  wsUrl: string
  /** A dev-login token for a user. */
  token (userId: string, opts?: { admin?: boolean, name?: string }): Promise<string>
  /** A JSON request through app.inject with a user's token (or none). */
  request (method: string, url: string, opts?: { token?: string, body?: unknown }): Promise<{ status: number, body: any, headers: Record<string, unknown> }>
  /** A real ws client for a user, open and past its `ready` frame. */
  connect (userId: string): Promise<TestClient>
}

export async function startApp (t: Test, chat: Partial<ChatOptions> = {}, host: { askHandler?: AskHandler } = {}): Promise<TestApp> {
  const app = await buildApp({
    config: loadConfig({}),
    chat: { storage: 'memory', ...chat } as ChatOptions,
    askHandler: host.askHandler
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close() })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const base = `http://127.0.0.1:${port}`
  const tokens = new Map<string, string>()

  async function token (userId: string, opts: { admin?: boolean, name?: string } = {}): Promise<string> {
    const key = `${userId}:${opts.admin === true}:${opts.name ?? ''}`
    const known = tokens.get(key)
    if (known !== undefined) return known
    const res = await app.inject({ method: 'POST', url: '/auth/dev-login', payload: { userId, ...opts } })
    const value = res.json().token as string
    tokens.set(key, value)
    return value
  }

  return {
    app,
    base,
    wsUrl: `ws://127.0.0.1:${port}/chat/ws`,
    token,
    async request (method, url, opts = {}) {
      const headers: Record<string, string> = {}
      if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
      const res = await app.inject({ method: method as 'GET', url, headers, payload: opts.body as object | undefined })
      let body: unknown = res.body
      try { body = res.json() } catch {}
      return { status: res.statusCode, body, headers: res.headers }
    },
    async connect (userId) {
      const client = new TestClient(`ws://127.0.0.1:${port}/chat/ws?access_token=${await token(userId)}`)
      t.teardown(() => { client.close() })
      await client.next((f) => f.type === 'ready')
      return client
    }
  }
}

export type Frame = Record<string, any>

/**
 * A real WebSocket client that records every frame from the moment it is created (so `ready` is never
 * missed) and lets a test wait for the frame it expects instead of sleeping.
 */
export class TestClient {
  readonly ws: WebSocket
  readonly frames: Frame[] = []
  private cursor = 0
  private waiters: Array<() => void> = []
  closed: Promise<{ code: number, reason: string }>

  constructor (url: string) {
    this.ws = new WebSocket(url)
    this.ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()))
      for (const w of this.waiters.splice(0)) w()
    })
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        for (const w of this.waiters.splice(0)) w()
      })
    })
    this.ws.on('error', () => {})
  }

  send (frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** The socket's close, or a failure after `ms` (a deadline, not a wait). */
  async closedWithin (ms = 5000): Promise<{ code: number, reason: string }> {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`not closed within ${ms} ms`)) }, ms) })
    try {
      return await Promise.race([this.closed, deadline])
    } finally {
      clearTimeout(timer)
    }
  }

  /** The next frame (after the last one returned) that matches; fails after `ms`. */
  async next (match: (f: Frame) => boolean = () => true, ms = 5000): Promise<Frame> {
    const deadline = Date.now() + ms
    for (;;) {
      while (this.cursor < this.frames.length) {
        const f = this.frames[this.cursor++]
        if (match(f)) return f
      }
      if (this.ws.readyState >= WebSocket.CLOSING) throw new Error(`socket closed while waiting; frames: ${JSON.stringify(this.frames.slice(-3))}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no matching frame within ${ms} ms; last frames: ${JSON.stringify(this.frames.slice(-3))}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** Sends a frame with a fresh ref and waits for the reply carrying it. */
  async call (frame: Frame, ms = 5000): Promise<Frame> {
    const ref = `r${Math.random().toString(36).slice(2)}`
    this.send({ ...frame, ref })
    return await this.waitFor((f) => f.ref === ref, ms)
  }

  /** Waits for a matching frame anywhere in what arrived so far or later, without moving the cursor. */
  async waitFor (match: (f: Frame) => boolean, ms = 5000): Promise<Frame> {
    const deadline = Date.now() + ms
    let seen = 0
    for (;;) {
      for (; seen < this.frames.length; seen++) if (match(this.frames[seen])) return this.frames[seen]
      if (this.ws.readyState >= WebSocket.CLOSING) throw new Error('socket closed while waiting')
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no matching frame within ${ms} ms; last frames: ${JSON.stringify(this.frames.slice(-3))}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** Every frame of a type received so far. */
  all (type: string): Frame[] {
    return this.frames.filter((f) => f.type === type)
  }

  close (): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate()
  }
}

/** Creates a conversation over REST as `owner`, with the given other participants. */
export async function createConversation (ta: TestApp, owner: string, others: string[] = [], extra: Record<string, unknown> = {}): Promise<any> {
  const res = await ta.request('POST', '/chat/conversations', {
    token: await ta.token(owner),
    body: { title: 'test', participants: others, ...extra }
  })
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** Connects each user and joins them all to a conversation; the clients come back in the same order. */
export async function joinAll (ta: TestApp, conversationId: string, users: string[]): Promise<TestClient[]> {
  const clients: TestClient[] = []
  for (const user of users) clients.push(await ta.connect(user))
  for (const client of clients) await client.call({ type: 'join', conversationId })
  return clients
}
