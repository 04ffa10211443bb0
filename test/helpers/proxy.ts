import { createServer, connect, type Server, type Socket } from 'node:net'

/** A TCP proxy in front of a server, for tests that cut connections the way a network does. Not a test. */
export interface TcpProxy {
  port: number
  /** Connections through it so far. */
  accepted: number
  /** Destroys every open connection at once (both sides see a reset, no close frame). */
  cut (): number
  /** Refuses (resets) new connections until `resume()`: the far side is down. */
  pause (): void
  resume (): void
  /** Stops carrying bytes either way on every connection, which stays open: the far side hangs (a partition). */
  stall (): void
  /**
   * The next request whose bytes match `request` reaches the far side whole; its connection is reset as the
   * answer starts flowing back, so the request took effect and its response is lost.
   */
  loseNextResponse (request: RegExp): void
  /** Responses lost so far. */
  lost: number
  close (): Promise<void>
}

export async function startProxy (targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>()
  let accepted = 0
  let paused = false
  let stalled = false
  let losing: RegExp | undefined
  let lost = 0
  const server: Server = createServer((client) => {
    if (paused) {
      client.resetAndDestroy()
      return
    }
    accepted++
    const upstream = connect(targetPort, '127.0.0.1')
    open.add(client)
    // Bytes are carried by hand so that a stall can drop them on the floor with the connections still open.
    let dropAnswer = false
    client.on('data', (chunk: Buffer) => {
      if (stalled) return
      if (losing?.test(chunk.toString('latin1')) === true) {
        losing = undefined
        dropAnswer = true
      }
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      if (stalled) return
      if (!dropAnswer) {
        client.write(chunk)
        return
      }
      lost++
      client.resetAndDestroy()
      upstream.destroy()
    })
    const end = (): void => { open.delete(client); client.destroy(); upstream.destroy() }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    get accepted () { return accepted },
    get lost () { return lost },
    loseNextResponse (request) { losing = request },
    cut () {
      const n = open.size
      for (const socket of open) socket.resetAndDestroy()
      open.clear()
      return n
    },
    pause () { paused = true },
    resume () { paused = false },
    stall () { stalled = true },
    async close () {
      for (const socket of open) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}
