import t from 'tap'
import { ExpirySchedule } from '../../lib/token-expiry.ts'

/** The one timer behind every socket's token expiry: each item expires at its time, in order, and not before. */

/** Resolves with `p`, or fails after `ms`: a deadline (its timer also keeps the process up: the schedule's is unref'd). */
async function within<T> (p: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`not within ${ms} ms`)) }, ms) })
  try {
    return await Promise.race([p, deadline])
  } finally {
    clearTimeout(timer)
  }
}

function recorder (): { schedule: ExpirySchedule<string>, expired: Array<{ item: string, at: number }>, next: () => Promise<void> } {
  const expired: Array<{ item: string, at: number }> = []
  let wake: (() => void) | undefined
  const schedule = new ExpirySchedule<string>((item) => {
    expired.push({ item, at: Date.now() })
    wake?.()
  })
  const next = async (): Promise<void> => { await within(new Promise<void>((resolve) => { wake = resolve })) }
  return { schedule, expired, next }
}

t.test('items expire at their time, in time order, items of the same time together', async (t) => {
  const { schedule, expired, next } = recorder()
  const now = Date.now()
  schedule.add('late', now + 120)
  schedule.add('early', now + 40)
  schedule.add('early too', now + 40)
  schedule.add('middle', now + 80)
  t.equal(schedule.size, 3, 'three distinct times')
  while (expired.length < 4) await next()
  t.same(expired.map((e) => e.item), ['early', 'early too', 'middle', 'late'])
  t.ok(expired[0].at >= now + 40 && expired[2].at >= now + 80 && expired[3].at >= now + 120, 'none before its time')
  t.equal(schedule.size, 0)
})

t.test('an item deleted before its time never expires; the others still do', async (t) => {
  const { schedule, expired, next } = recorder()
  const now = Date.now()
  schedule.add('gone', now + 30)
  schedule.add('shares its time', now + 30)
  schedule.add('alone, gone', now + 50)
  schedule.add('kept', now + 90)
  schedule.delete('gone', now + 30)
  schedule.delete('alone, gone', now + 50)
  schedule.delete('never added', now + 90)
  while (expired.length < 2) await next()
  t.same(expired.map((e) => e.item), ['shares its time', 'kept'])
  t.equal(schedule.size, 0)
})

t.test('an item added with an earlier time than the timer waits for is expired at its own time', async (t) => {
  const { schedule, expired, next } = recorder()
  const now = Date.now()
  schedule.add('in a minute', now + 60_000)
  schedule.add('soon', now + 30)
  await next()
  t.same(expired.map((e) => e.item), ['soon'])
  t.ok(expired[0].at >= now + 30 && expired[0].at < now + 60_000)
  schedule.delete('in a minute', now + 60_000)
  t.equal(schedule.size, 0, 'nothing left: no timer keeps the process up')
})

t.test('an item already due expires at once, and one added while expiring is scheduled too', async (t) => {
  const expired: string[] = []
  let wake: (() => void) | undefined
  const schedule: ExpirySchedule<string> = new ExpirySchedule<string>((item) => {
    expired.push(item)
    if (item === 'past') schedule.add('added while expiring', Date.now() + 20)
    if (expired.length === 2) wake?.()
  })
  const done = new Promise<void>((resolve) => { wake = resolve })
  schedule.add('past', Date.now() - 1000)
  t.same(expired, [], 'not synchronously')
  await within(done)
  t.same(expired, ['past', 'added while expiring'])
})
