import type { Server } from 'node:http'
import type { Socket } from 'node:net'

/**
 * What the server writes on each upgraded socket, one string per write (a corked batch is one), by the
 * upgrade's URL: for tests of how many writes a step costs. Not itself a test.
 */
export function writesOf (server: Server): Map<string, string[]> {
  const byPath = new Map<string, string[]>()
  server.prependListener('upgrade', (req: { url?: string }, socket: Socket) => {
    const writes: string[] = []
    byPath.set(String(req.url), writes)
    const write = socket._write.bind(socket)
    const writev = socket._writev?.bind(socket)
    socket._write = (chunk, encoding, cb) => { writes.push(String(chunk)); write(chunk, encoding, cb) }
    socket._writev = (chunks, cb) => { writes.push(chunks.map((c) => String(c.chunk)).join('')); writev?.(chunks, cb) }
  })
  return byPath
}
