import type { Test } from 'tap'
import WebSocket from 'ws'
import { ChatClient, type ChatTransport } from '../../lib/client/index.ts'
import type { TcpProxy } from './proxy.ts'
import type { TestApp } from './app.ts'

/** Shared setup for the client tests run over both transports (not itself a test). */

export const TRANSPORTS: ChatTransport[] = ['websocket', 'sse']

/**
 * The REST base a client of `transport` uses when its socket goes through `proxy`: over `sse`, event streams
 * and REST are its connection, so they go through the proxy too (a cut drops them as it drops a socket).
 */
export function restVia (transport: ChatTransport, ta: TestApp, proxy: TcpProxy): string {
  return transport === 'sse' ? `http://127.0.0.1:${proxy.port}/chat` : `${ta.base}/chat`
}

/**
 * Node's fetch opens a spare connection when a streamed response is aborted; it never sends a request, so
 * `server.close()` does not count it idle and waits on it until the headers timeout (30 s and more). At
 * shutdown, once the chat has drained, whatever is left is closed.
 */
export function closeSpareConnections (ta: TestApp): void {
  const server = ta.app.server
  const close = server.close.bind(server)
  server.close = ((callback?: (err?: Error) => void) => {
    const out = close(callback)
    server.closeAllConnections()
    return out
  }) as typeof server.close
}

/** A client for a user of the test app; closed at teardown. */
export async function clientFor (t: Test, ta: TestApp, userId: string, extra: Partial<ConstructorParameters<typeof ChatClient>[0]> = {}): Promise<ChatClient> {
  const token = await ta.token(userId)
  const client = new ChatClient({ url: ta.wsUrl, token, WebSocket, ...extra })
  t.teardown(() => { client.close() })
  return client
}

/** Resolves when `check` holds, re-checked on every event of the client; fails after `ms`. */
export async function until (client: ChatClient, check: () => boolean, ms = 20_000): Promise<void> {
  if (check()) return
  await new Promise<void>((resolve, reject) => {
    const offs: Array<() => void> = []
    const timer = setTimeout(() => { done(); reject(new Error('condition not reached in time')) }, ms)
    const done = (): void => { clearTimeout(timer); for (const off of offs) off() }
    const poke = (): void => { if (check()) { done(); resolve() } }
    for (const event of ['message', 'update', 'state', 'joined'] as const) offs.push(client.on(event, poke))
  })
}
