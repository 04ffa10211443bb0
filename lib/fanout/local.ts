import { EventEmitter } from 'node:events'
import type { Fanout, FanoutEvent } from './types.ts'

/**
 * In-process fan-out. Alone (the default) it has nobody to tell. Instances in one process that share a `bus`
 * hear each other, as instances on Redis do: what the tests of the seam run against, and a way to run several
 * chat instances in one process.
 */
export function createLocalFanout (bus?: EventEmitter): Fanout {
  const me = Symbol('instance')
  let listener: ((from: symbol, event: FanoutEvent) => void) | undefined
  return {
    name: 'local',
    shared: bus !== undefined,
    connected: true,
    async start (handlers) {
      if (bus === undefined) return
      listener = (from, event) => { if (from !== me) handlers.event(event) }
      bus.on('event', listener)
    },
    async whenConnected () {},
    publish (event) {
      // Delivered on a later tick, as a real link would: the publisher has always handled it first.
      if (bus !== undefined) queueMicrotask(() => { bus.emit('event', me, structuredClone(event)) })
    },
    async close () {
      if (listener !== undefined) bus?.off('event', listener)
    }
  }
}
