/**
 * Messages per user per fixed window, shared by the socket and REST so both paths count against one budget.
 * `take` answers how long to wait when the budget is spent (0 = go ahead).
 */
export interface RateLimiter {
  take (key: string): Promise<number>
  /** Gives one back (the send turned out to be a repeat). */
  refund (key: string): void
}

/**
 * A counter all instances share (the Redis fan-out has one): counts `key` in the window that started at
 * `windowStart`, expiring with it. Rejects when the shared store cannot be reached.
 */
export interface SharedCounter {
  incr (key: string, windowMs: number): Promise<number>
  decr (key: string): void
}

function createLocalLimiter (opts: { max: number, windowMs: number }): { take: (key: string) => number, refund: (key: string) => void } {
  let windowStart = 0
  let counts = new Map<string, number>()
  return {
    take (key) {
      const now = Date.now()
      if (now - windowStart >= opts.windowMs) {
        windowStart = now
        counts = new Map() // one window at a time: nothing to prune
      }
      const used = counts.get(key) ?? 0
      if (used >= opts.max) return windowStart + opts.windowMs - now
      counts.set(key, used + 1)
      return 0
    },
    refund (key) {
      const used = counts.get(key)
      if (used !== undefined && used > 0) counts.set(key, used - 1)
    }
  }
}

/**
 * One process counts alone. With a shared counter, every instance counts in the same place (windows aligned
 * to the clock, so all instances agree on them); while it cannot be reached, each instance counts alone.
 */
export function createRateLimiter (opts: { max: number, windowMs: number }, shared?: SharedCounter): RateLimiter {
  if (opts.max === 0) return { take: async () => 0, refund: () => {} }
  const local = createLocalLimiter(opts)
  if (shared === undefined) return { take: async (key) => local.take(key), refund: local.refund }
  const counted = new Map<string, string>()
  return {
    async take (key) {
      const now = Date.now()
      const windowStart = now - (now % opts.windowMs)
      const windowKey = `${key}:${windowStart}`
      let used: number
      try {
        used = await shared.incr(windowKey, opts.windowMs)
      } catch {
        return local.take(key)
      }
      if (used > opts.max) return windowStart + opts.windowMs - now
      counted.set(key, windowKey)
      return 0
    },
    refund (key) {
      const windowKey = counted.get(key)
      if (windowKey !== undefined) shared.decr(windowKey)
    }
  }
}
