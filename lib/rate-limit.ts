import { LRUCache } from 'lru-cache'
import { CHAT_ERR_RATE_LIMITED, withRetryAfter } from './errors.ts'

/**
 * Per-user limits on what a user does (send, create, add/remove participants, typing, join), shared by the
 * socket and REST so both count against one budget. Each is a token bucket (GCRA): `max` actions at once,
 * refilled at `max` per `windowMs` — no window edge lets twice the budget through.
 * `take` answers how long to wait when the budget is spent (0 = go ahead).
 */
export interface RateLimiter {
  take (key: string): Promise<number>
  /** Gives one back (the send turned out to be a repeat). */
  refund (key: string): void
}

export interface Rate {
  max: number
  windowMs: number
}

/**
 * A bucket store all instances share (the Redis fan-out has one). `take` spends one action of `key` in a bucket
 * of `max` refilled over `windowMs` and answers the wait (0 = allowed); rejects when it cannot be reached.
 */
export interface SharedCounter {
  take (key: string, rate: Rate): Promise<number>
  refund (key: string, rate: Rate): void
}

/** Users whose buckets are kept per limiter and process; the least recently active are forgotten first (their buckets are full by then or soon). */
const MAX_KEYS = 100_000

/**
 * GCRA on one "theoretical arrival time" per key: an action is allowed while it is at most `windowMs - interval`
 * ahead of now (a bucket of `max`), and moves it `interval` = windowMs / max further.
 */
function createLocalLimiter (rate: Rate): { take: (key: string) => number, refund: (key: string) => void } {
  const interval = rate.windowMs / rate.max
  const tats = new LRUCache<string, number>({ max: MAX_KEYS })
  return {
    take (key) {
      const now = Date.now()
      const tat = Math.max(tats.get(key) ?? now, now)
      const next = tat + interval
      if (next - now > rate.windowMs) return Math.ceil(next - now - rate.windowMs)
      tats.set(key, next)
      return 0
    },
    refund (key) {
      const tat = tats.get(key)
      if (tat !== undefined) tats.set(key, tat - interval)
    }
  }
}

/**
 * One process counts alone. With a shared store, every instance counts in the same bucket; while it cannot be
 * reached, each instance counts alone.
 */
export function createRateLimiter (rate: Rate, shared?: SharedCounter, name = 'send'): RateLimiter {
  if (rate.max === 0) return { take: async () => 0, refund: () => {} }
  const local = createLocalLimiter(rate)
  if (shared === undefined) return { take: async (key) => local.take(key), refund: local.refund }
  return {
    async take (key) {
      try {
        return await shared.take(`${name}:${key}`, rate)
      } catch {
        return local.take(key)
      }
    },
    refund (key) {
      shared.refund(`${name}:${key}`, rate)
    }
  }
}

/** The actions with a budget of their own, as their RATE_LIMITED error names them ("Too many %s, retry later"). */
const ACTIONS = { conversations: 'new conversations', participants: 'participant changes', typing: 'typing frames', joins: 'joins' }
export type BudgetedAction = keyof typeof ACTIONS

/**
 * Every action that writes or reaches others has its own budget per user (`rateLimit.<action>`), counted where
 * the messages' budget is. The function spends one, or refuses with RATE_LIMITED and when to come back.
 */
export function createActionBudgets (rates: Record<BudgetedAction, Rate>, shared?: SharedCounter): (action: BudgetedAction, userId: string) => Promise<void> {
  const limiters = Object.fromEntries(
    (Object.keys(ACTIONS) as BudgetedAction[]).map((action) => [action, createRateLimiter(rates[action], shared, action)])
  ) as Record<BudgetedAction, RateLimiter>
  return async function spend (action, userId) {
    const wait = await limiters[action].take(userId)
    if (wait > 0) throw withRetryAfter(new CHAT_ERR_RATE_LIMITED(ACTIONS[action]), wait)
  }
}
