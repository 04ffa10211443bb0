import type { FastifyBaseLogger } from 'fastify'
import { newId } from '../ids.ts'
import type { ChatMetrics } from '../metrics.ts'
import type { Message, MessageStatus } from '../schemas/entities.ts'
import { streamChunk, streamChunkHead } from '../server-frames.ts'
import type { MessageDraft } from '../storage/types.ts'
import { buildAskParams, frameType, mentionPattern, readableAnswer, type AskParams, type ContextLimits } from './nlweb-context.ts'
import type { AgentApi, AgentParticipant } from './participant.ts'

export type { AskParams } from './nlweb-context.ts'

/** A frame an NLWeb-style handler writes (`message_type` result_batch, summary, complete, ...). */
export type AskFrame = unknown
export interface AskSink { write (frame: AskFrame): void | Promise<void> }
/**
 * The host's own `/ask` handler, used as it is: the plugin only calls it, always with `{ signal }` (so a host may
 * write `async (params, sink, { signal }) => …`). A handler that takes fewer parameters fits too.
 */
export type AskHandler = (params: AskParams, sink: AskSink, options: { signal: AbortSignal }) => unknown

export interface AnswerRuleInput {
  message: Message
  /** Humans in the conversation. */
  humans: number
  /** The message mentions the AI (`@name` or `@id`). */
  mentioned: boolean
}

export interface NLWebParticipantOptions {
  handler: AskHandler
  id?: string
  name?: string
  /** An answer still running after this long ends with status 'timeout'. */
  timeoutMs?: number
  context?: Partial<ContextLimits>
  /** Passed to the handler as `site`. */
  site?: string
  /** When to answer; by default: always with one human, when mentioned with several. */
  shouldAnswer?: (input: AnswerRuleInput) => boolean
  log?: FastifyBaseLogger
  metrics?: ChatMetrics
}

/** One answer from its stream.start until its stream.end has been sent. */
interface Running {
  controller: AbortController
  /** The stored placeholder (status 'streaming'). */
  reply: Message
  /** The parts broadcast so far, in chunk order (the same array the answer is stored with). */
  parts: AskFrame[]
}

const CANCELLED = Symbol('cancelled')
const TIMED_OUT = Symbol('timeout')
const FAILED_TEXT = 'Sorry, the assistant could not answer this time.'

export function defaultAnswerRule ({ humans, mentioned }: AnswerRuleInput): boolean {
  return humans <= 1 || mentioned
}

/**
 * The AI participant: answers through the host's NLWeb-style handler, streaming every frame it writes as
 * `stream.chunk`, and storing the whole answer as one `ai` message. It decides before a question is stored
 * (`replyDraft`), so the answer's placeholder is stored with the question; the handler then runs as the
 * question is delivered, and nothing is stored in front of its first chunk.
 */
export class NLWebParticipant implements AgentParticipant {
  readonly id: string
  readonly name: string
  private readonly handler: AskHandler
  private readonly timeoutMs: number
  private readonly limits: ContextLimits
  private readonly site: string | undefined
  private readonly shouldAnswer: (input: AnswerRuleInput) => boolean
  private readonly mention: RegExp
  private readonly sender: Message['sender']
  private log: FastifyBaseLogger | undefined
  private metrics: ChatMetrics | undefined
  private api: AgentApi | undefined
  /** Answers running, by conversation then answer id. */
  private readonly running = new Map<string, Map<string, Running>>()
  private readonly answers = new Set<Promise<void>>()
  private closing = false

  constructor (opts: NLWebParticipantOptions) {
    this.handler = opts.handler
    this.id = opts.id ?? 'assistant'
    this.name = opts.name ?? 'Assistant'
    this.timeoutMs = opts.timeoutMs ?? 30_000
    this.limits = { queries: 5, answers: 1, itemsPerAnswer: 10, ...opts.context }
    this.site = opts.site
    this.shouldAnswer = opts.shouldAnswer ?? defaultAnswerRule
    this.mention = mentionPattern(this.id, this.name)
    this.sender = { id: this.id, name: this.name, type: 'ai' }
    this.log = opts.log
    this.metrics = opts.metrics
  }

  attach (api: AgentApi, deps?: { log?: FastifyBaseLogger, metrics?: ChatMetrics }): void {
    this.api = api
    this.log ??= deps?.log
    this.metrics ??= deps?.metrics
  }

  /** Decides before the question is stored, so its answer's placeholder is stored with it. */
  replyDraft (conversationId: string, question: MessageDraft, humans: number): MessageDraft | undefined {
    if (question.kind !== 'text' || question.sender.type !== 'human' || this.api === undefined || this.closing) return undefined
    // The question has no seq yet: rules see seq 0 here.
    const message: Message = { ...question, conversationId, seq: 0 }
    if (!this.shouldAnswer({ message, humans, mentioned: this.mention.test(question.content) })) return undefined
    return { id: newId(), kind: 'ai', sender: this.sender, content: '', parts: [], status: 'streaming', createdAt: new Date().toISOString() }
  }

  /**
   * Answers a question it claimed (`reply` is the placeholder stored with it). A question it did not claim
   * here is not its to answer: it declined, or another process stored it and answers it there.
   */
  onMessage (conversationId: string, message: Message, reply?: Message): void {
    if (reply === undefined || message.kind !== 'text' || this.api === undefined) return
    // Tracked from the first moment, so close() waits for it (a question claimed before closing is still
    // answered: cancelled at once, so its placeholder is finished).
    const answer = this.answer(this.api, conversationId, message, reply).catch((err: unknown) => {
      this.log?.error({ err, conversationId }, 'chat AI answer failed')
    }).finally(() => { this.answers.delete(answer) })
    this.answers.add(answer)
  }

  cancel (conversationId: string, messageId?: string): boolean {
    let stopped = false
    for (const [id, run] of this.running.get(conversationId) ?? []) {
      if (messageId === undefined || id === messageId) {
        run.controller.abort(CANCELLED)
        stopped = true
      }
    }
    return stopped
  }

  /**
   * Its answers in the conversation whose stream.end has not been sent yet, each with the parts broadcast so
   * far. The list changes only in the same synchronous step as a chunk or a stream.end goes out.
   */
  streaming (conversationId: string): Message[] {
    const runs = this.running.get(conversationId)
    if (runs === undefined) return []
    const list: Message[] = []
    for (const { reply, parts } of runs.values()) list.push({ ...reply, content: '', status: 'streaming', parts: parts.slice() })
    return list
  }

  async close (): Promise<void> {
    this.closing = true
    for (const runs of this.running.values()) {
      for (const run of runs.values()) run.controller.abort(CANCELLED)
    }
    while (this.answers.size > 0) await Promise.allSettled([...this.answers])
  }

  /** Listed in `streaming` from now on (its stream.start has gone out: `reply` is delivered). */
  private track (conversationId: string, run: Running): void {
    let runs = this.running.get(conversationId)
    if (runs === undefined) {
      runs = new Map()
      this.running.set(conversationId, runs)
    }
    runs.set(run.reply.id, run)
  }

  /** No longer listed nor cancellable: called in the step its stream.end goes out (or when none will). */
  private untrack (conversationId: string, run: Running): void {
    const runs = this.running.get(conversationId)
    if (runs?.get(run.reply.id) !== run) return
    runs.delete(run.reply.id)
    if (runs.size === 0) this.running.delete(conversationId)
  }

  /**
   * Answers `question` into its placeholder `reply`, already stored and delivered (stream.start): the
   * handler's frames go straight out as chunks, then the final message is stored and sent as stream.end.
   */
  private async answer (api: AgentApi, conversationId: string, question: Message, reply: Message): Promise<void> {
    const id = reply.id
    const controller = new AbortController()
    const parts: AskFrame[] = []
    // Synchronously with the question's delivery, which its placeholder's stream.start follows in the same step.
    const run: Running = { controller, reply, parts }
    this.track(conversationId, run)
    if (this.closing) controller.abort(CANCELLED)
    const timer = setTimeout(() => { controller.abort(TIMED_OUT) }, this.timeoutMs).unref()
    const askedAt = performance.now()

    const partJsons: string[] = []
    const chunkHead = streamChunkHead(conversationId, id)
    const sink: AskSink = {
      write: (frame) => {
        if (controller.signal.aborted) return
        if (parts.length === 0) this.metrics?.aiFirstChunkSeconds.observe((performance.now() - askedAt) / 1000)
        // Each part is serialized once: for its chunk, for the stored answer and for stream.end.
        const partJson = JSON.stringify(frame) ?? 'null'
        const chunk = streamChunk(chunkHead, parts.length, partJson)
        // Counted in `streaming` in the same step as it is broadcast: a socket joining sees it in one or the other.
        parts.push(frame)
        partJsons.push(partJson)
        api.broadcast(conversationId, chunk)
      }
    }

    let status: MessageStatus = 'complete'
    try {
      const aborted = new Promise<never>((resolve, reject) => {
        if (controller.signal.aborted) reject(controller.signal.reason)
        controller.signal.addEventListener('abort', () => { reject(controller.signal.reason) }, { once: true })
      })
      aborted.catch(() => {}) // observed by the race below, or not needed once the handler is done
      const history = await Promise.race([api.recentMessages(conversationId, 50), aborted])
      const params = buildAskParams({
        question, history, aiId: this.id, mention: this.mention, limits: this.limits, site: this.site, queryId: id
      })
      await Promise.race([Promise.resolve(this.handler(params, sink, { signal: controller.signal })), aborted])
      if (parts.some((p) => frameType(p) === 'error')) status = 'failed'
    } catch (err) {
      const reason = controller.signal.aborted ? controller.signal.reason : err
      status = reason === CANCELLED ? 'cancelled' : reason === TIMED_OUT ? 'timeout' : 'failed'
      if (status === 'failed') this.log?.error({ err, conversationId }, 'chat AI handler threw')
      controller.abort(reason) // stop a handler that is still writing
    } finally {
      clearTimeout(timer)
    }

    const content = status === 'failed' && !parts.some((p) => frameType(p) === 'error') ? FAILED_TEXT : readableAnswer(parts)
    const patch = { content, parts, status }
    const partsJson = `[${partJsons.join(',')}]`
    try {
      // No flush here: the chunks of this last tick leave with stream.end, in one write, once the answer is
      // stored. A store that waits on the network (PostgreSQL, Azure) yields the tick, and they leave before
      // it; SQLite's commit holds them for its ~0.1 ms instead of costing a second write and wake-up.
      // Unlisted in the very step stream.end goes out: a socket joining before it gets the parts and then
      // stream.end; one joining after it gets the finished message.
      await api.finish(conversationId, id, patch, { parts: partsJson }, () => { this.untrack(conversationId, run) })
      this.metrics?.aiAnswers.inc({ status })
    } catch (err) {
      // Not stored: AgentApi.finish still sent the end (failed), so no client waits on this stream.
      this.log?.error({ err, conversationId }, 'chat AI answer could not be stored')
    } finally {
      this.untrack(conversationId, run)
    }
  }
}
