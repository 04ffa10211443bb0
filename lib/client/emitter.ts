/** A small typed event emitter with no dependencies, for browsers and Node alike. */
export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<(value: never) => void>>()

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events> (event: K, listener: (value: Events[K]) => void): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) this.listeners.set(event, set = new Set())
    set.add(listener as (value: never) => void)
    return () => { this.off(event, listener) }
  }

  off<K extends keyof Events> (event: K, listener: (value: Events[K]) => void): void {
    this.listeners.get(event)?.delete(listener as (value: never) => void)
  }

  /** Resolves with the next value of `event`. */
  async once<K extends keyof Events> (event: K): Promise<Events[K]> {
    return await new Promise((resolve) => {
      const off = this.on(event, (value) => { off(); resolve(value) })
    })
  }

  protected emit<K extends keyof Events> (event: K, value: Events[K]): void {
    const set = this.listeners.get(event)
    if (set === undefined) return
    for (const listener of [...set]) {
      try {
        (listener as (value: Events[K]) => void)(value)
      } catch (err) {
        // A throwing listener must not break delivery to the others, nor the client's own bookkeeping.
        queueMicrotask(() => { throw err })
      }
    }
  }
}
