/**
 * Messages per user per fixed window, shared by the socket and REST so both paths count against one budget.
 * `take` answers how long to wait when the budget is spent (0 = go ahead).
 */
export interface RateLimiter {
  take (key: string): number
  /** Gives one back (the send turned out to be a repeat). */
  refund (key: string): void
}

export function createRateLimiter (opts: { max: number, windowMs: number }): RateLimiter {
  if (opts.max === 0) return { take: () => 0, refund: () => {} }
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
