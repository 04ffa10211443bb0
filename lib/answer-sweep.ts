import type { FastifyBaseLogger } from 'fastify'
import type { Channels } from './channels.ts'
import { streamEndFrame } from './server-frames.ts'
import type { ChatStorage } from './storage/types.ts'

/**
 * Time a timed-out answer has to store its end. An AI answer ends itself after `ai.timeoutMs` (status
 * 'timeout'); one still streaming `timeoutMs + ANSWER_GRACE_MS` after it started has no live writer.
 */
export const ANSWER_GRACE_MS = 30_000
/** The sweep runs every `timeoutMs / 2`, bounded by these. */
const MIN_INTERVAL_MS = 250
const MAX_INTERVAL_MS = 60_000
/** Answers failed per storage call; a sweep calls again while calls come back full. */
const BATCH = 100

export interface AnswerSweep {
  /** Fails the answers started before `startedBefore` (default: the stale age ago) that still stream; how many. */
  run (startedBefore?: string): Promise<number>
  /** Stops the timer and waits for a sweep in progress. */
  close (): Promise<void>
}

export interface AnswerSweepDeps {
  storage: ChatStorage
  channels: Channels
  log: FastifyBaseLogger
  /** The AI participants' timeout (`ai.timeoutMs`). */
  timeoutMs: number
  /**
   * This is the only instance on the storage (a local fan-out): at start-up every answer still streaming was
   * left by a previous run of it, and is failed at once rather than after the stale age.
   */
  alone: boolean
}

/**
 * Ends the AI answers whose writer is gone. The instance that stored a question streams its answer; if it dies
 * mid-answer (a crash, SIGKILL), the placeholder would stay 'streaming' for good. The sweep marks such
 * placeholders 'failed' in storage and sends their `stream.end` to the sockets of every instance, at start-up
 * and then every `timeoutMs / 2`.
 *
 * An answer running here is never taken: it ends itself at `timeoutMs`, and only answers started more than
 * `timeoutMs + ANSWER_GRACE_MS` ago are swept (except at the start-up of a lone instance, before it answers
 * anything). Storage fails each answer once, so instances sweeping at once never send two ends for one answer.
 */
export async function startAnswerSweep (deps: AnswerSweepDeps): Promise<AnswerSweep> {
  const { storage, channels, log } = deps
  const staleMs = deps.timeoutMs + ANSWER_GRACE_MS
  const intervalMs = Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, Math.floor(deps.timeoutMs / 2)))
  let running: Promise<number> | undefined
  let closed = false

  async function sweep (startedBefore: string): Promise<number> {
    let total = 0
    for (;;) {
      const failed = await storage.failStaleAnswers(startedBefore, BATCH)
      for (const message of failed) {
        // The cached copy is replaced and every instance's sockets see the answer end, as when it finishes.
        channels.updated(message, streamEndFrame(message))
      }
      total += failed.length
      if (failed.length < BATCH || closed) break
    }
    if (total > 0) log.warn({ answers: total }, 'chat AI answers left streaming by a stopped instance ended as failed')
    return total
  }

  function run (startedBefore = new Date(Date.now() - staleMs).toISOString()): Promise<number> {
    // One sweep at a time: a slow storage never piles them up.
    running ??= sweep(startedBefore).finally(() => { running = undefined })
    return running
  }

  function tick (): void {
    if (running !== undefined || closed) return
    run().catch((err: unknown) => { log.error({ err }, 'chat AI answer sweep failed') })
  }

  try {
    await run(deps.alone ? new Date().toISOString() : undefined)
  } catch (err) {
    // Not fatal: the next tick tries again.
    log.error({ err }, 'chat AI answer sweep failed at start-up')
  }
  const timer = setInterval(tick, intervalMs).unref()

  return {
    run,
    async close () {
      closed = true
      clearInterval(timer)
      await running?.catch(() => 0)
    }
  }
}
