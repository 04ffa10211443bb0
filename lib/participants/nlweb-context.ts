import type { Message } from '../schemas/entities.ts'

/** What an NLWeb-style `/ask` handler takes (NLWeb's parameter names). */
export interface AskParams {
  query: string
  site?: string
  /** earlier queries of the same thread, oldest first */
  prev?: string[]
  /** earlier answers: what was shown, oldest first */
  last_ans?: Array<{ title: string, url?: string }>
  query_id?: string
}

export interface ContextLimits {
  /** How many earlier questions go into `prev`. */
  queries: number
  /** How many earlier AI answers go into `last_ans`. */
  answers: number
  /** How many items of one answer go into `last_ans`. */
  itemsPerAnswer: number
}

/** A part's `message_type`, whatever the handler wrote. */
export function frameType (part: unknown): unknown {
  return typeof part === 'object' && part !== null ? (part as { message_type?: unknown }).message_type : undefined
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** `@name` or `@id`, case-insensitive, anywhere, not followed by more of a word. */
export function mentionPattern (id: string, name: string): RegExp {
  const names = [...new Set([id, name])].map(escapeRegExp).join('|')
  return new RegExp(`@(?:${names})(?![\\p{L}\\p{N}_-])`, 'iu')
}

/** The question without the mention that addressed it. */
export function stripMention (content: string, mention: RegExp): string {
  return content.replace(new RegExp(mention.source, 'giu'), ' ').replace(/\s+/g, ' ').trim()
}

/** The items an AI answer showed, from its `result_batch` parts; its text when it showed none. */
function answerItems (answer: Message, max: number): Array<{ title: string, url?: string }> {
  const items: Array<{ title: string, url?: string }> = []
  for (const part of answer.parts ?? []) {
    if (frameType(part) !== 'result_batch') continue
    const frame = part as { results?: unknown }
    if (!Array.isArray(frame.results)) continue
    for (const r of frame.results as Array<{ name?: unknown, url?: unknown } | null>) {
      if (items.length === max) return items
      if (typeof r?.name !== 'string') continue
      items.push(typeof r.url === 'string' ? { title: r.name, url: r.url } : { title: r.name })
    }
  }
  if (items.length === 0 && answer.content !== '') items.push({ title: answer.content })
  return items
}

/**
 * The handler's parameters for `question`, from the conversation's recent messages (ascending seq):
 * `prev` = the earlier questions the AI answered, `last_ans` = what its latest finished answers showed.
 */
export function buildAskParams (opts: {
  question: Message
  history: Message[]
  aiId: string
  mention: RegExp
  limits: ContextLimits
  site?: string
  queryId: string
}): AskParams {
  const { question, history, aiId, mention, limits } = opts
  const bySeq = new Map<number, Message>()
  const answers: Message[] = []
  for (const m of history) {
    if (m.seq >= question.seq) continue
    bySeq.set(m.seq, m)
    if (m.kind === 'ai' && m.sender.id === aiId && m.status === 'complete') answers.push(m)
  }
  const prev: string[] = []
  for (const a of answers) {
    const asked = a.replyTo === undefined ? undefined : bySeq.get(a.replyTo)
    if (asked !== undefined && asked.kind === 'text') prev.push(stripMention(asked.content, mention))
  }
  const lastAns = answers.slice(-limits.answers).flatMap((a) => answerItems(a, limits.itemsPerAnswer))
  const params: AskParams = { query: stripMention(question.content, mention), query_id: opts.queryId }
  const recentPrev = prev.slice(-limits.queries)
  if (recentPrev.length > 0) params.prev = recentPrev
  if (limits.answers > 0 && lastAns.length > 0) params.last_ans = lastAns
  if (opts.site !== undefined) params.site = opts.site
  return params
}

/** The readable text of an answer: its summaries, else its no-results or error text, else its item names. */
export function readableAnswer (parts: unknown[]): string {
  const texts: string[] = []
  const names: string[] = []
  for (const part of parts) {
    const type = frameType(part)
    const frame = part as { message?: unknown, results?: unknown }
    if ((type === 'summary' || type === 'no_results' || type === 'error') && typeof frame.message === 'string') {
      texts.push(frame.message)
    } else if (type === 'result_batch' && Array.isArray(frame.results)) {
      for (const r of frame.results as Array<{ name?: unknown } | null>) if (typeof r?.name === 'string') names.push(r.name)
    }
  }
  if (texts.length > 0) return texts.join('\n\n')
  return names.length > 0 ? names.join(', ') : ''
}
