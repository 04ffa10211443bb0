/** Longest a timer may wait (setTimeout's limit); a later time is checked again when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * What expires when (a socket, at its token's expiry), with ONE timer for all of them, set for the earliest:
 * ten thousand open sockets cost ten thousand map entries, not as many timers and closures. Items due at the
 * same millisecond share an entry (JWT expiries are whole seconds, so sockets opened in the same second do).
 * Each is expired on time, as its own timer would: the timer is set again whenever an earlier time is added.
 */
export class ExpirySchedule<T> {
  /** Time → the item due then, or the items when there are several. */
  private readonly due = new Map<number, T | Set<T>>()
  /** The times in `due`, ascending. */
  private readonly times: number[] = []
  private timer: NodeJS.Timeout | undefined
  /** When the timer fires (meaningful while `timer` is set). */
  private timerAt = 0
  private readonly expire: (item: T) => void

  constructor (expire: (item: T) => void) {
    this.expire = expire
  }

  get size (): number {
    return this.due.size
  }

  /** `item` expires at `at` (epoch ms); one already due is expired by the timer, at once but not synchronously. */
  add (item: T, at: number): void {
    const held = this.due.get(at)
    if (held === undefined) {
      this.due.set(at, item)
      this.times.splice(this.indexOf(at), 0, at)
    } else if (held instanceof Set) {
      held.add(item)
    } else {
      this.due.set(at, new Set([held, item]))
    }
    if (this.timer === undefined || at < this.timerAt) this.arm(at)
  }

  /** `item` (added with `at`) no longer expires. */
  delete (item: T, at: number): void {
    const held = this.due.get(at)
    if (held === undefined) return
    if (held instanceof Set) {
      held.delete(item)
      if (held.size > 0) return
    } else if (held !== item) {
      return
    }
    this.due.delete(at)
    this.times.splice(this.indexOf(at), 1)
    if (this.times.length === 0) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  /** Where `at` is in `times`, or would go. */
  private indexOf (at: number): number {
    let lo = 0
    let hi = this.times.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.times[mid] < at) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private arm (at: number): void {
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => { this.fire() }, Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS)).unref()
  }

  private fire (): void {
    this.timer = undefined
    const now = Date.now()
    while (this.times.length > 0 && this.times[0] <= now) {
      const at = this.times.shift() as number
      const held = this.due.get(at) as T | Set<T>
      this.due.delete(at)
      if (held instanceof Set) for (const item of held) this.expire(item)
      else this.expire(held)
    }
    // Expiring may have added times (and set the timer for one of them): the timer is for the earliest.
    if (this.times.length > 0 && (this.timer === undefined || this.times[0] < this.timerAt)) this.arm(this.times[0])
  }
}
