/// <reference lib="dom" />
import type { Message } from '../../lib/client/index.ts'
import { el, safeUrl, time, type Child } from './dom.ts'

/**
 * How one message looks: a text bubble, a system line, or an AI answer (result cards from its
 * `result_batch` parts, then the summary). An answer is one element, rendered again each time it grows.
 */

export interface MessageView {
  /** The signed-in user's id: their messages sit on the right. */
  me: string
  /** Answers a stop was asked for, not ended yet. */
  stopping: ReadonlySet<string>
  stop: (message: Message) => void
}

/** An unsent message of this user, until the server's copy arrives. */
export interface Outgoing {
  clientMessageId: string
  content: string
  state: 'sending' | 'waiting' | 'failed'
  error?: string
}

interface Result {
  url?: unknown
  name?: unknown
  description?: unknown
  schema_object?: { recipeCuisine?: unknown, totalTime?: unknown }
}

type Part = { message_type?: unknown, message?: unknown, results?: unknown, decontextualized_query?: unknown }

const ENDED: Record<string, string> = { cancelled: 'stopped', failed: 'failed', timeout: 'timed out' }

/** 'PT1H30M' → '1 h 30 min'. */
function duration (iso: unknown): string | undefined {
  const match = typeof iso === 'string' ? /^PT(?:(\d+)H)?(?:(\d+)M)?$/.exec(iso) : null
  if (match === null) return undefined
  const [, h, m] = match
  return [h !== undefined ? `${h} h` : '', m !== undefined ? `${m} min` : ''].filter(Boolean).join(' ') || undefined
}

function first (value: unknown): string | undefined {
  const v = Array.isArray(value) ? value[0] : value
  return typeof v === 'string' && v !== '' ? v : undefined
}

function card (result: Result): HTMLElement {
  const href = safeUrl(result.url)
  const name = String(result.name ?? result.url ?? '')
  const facts = [first(result.schema_object?.recipeCuisine), duration(result.schema_object?.totalTime)].filter(Boolean).join(' · ')
  const description = typeof result.description === 'string' ? result.description : ''
  return el('div', { className: 'card' },
    href !== null ? el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, name) : el('b', {}, name),
    facts !== '' ? el('small', {}, facts) : null,
    description !== '' ? el('p', { title: description }, description) : null)
}

function answerBody (m: Message): Child[] {
  const parts = (m.parts ?? []).filter((p): p is Part => p !== null && typeof p === 'object')
  const results: Result[] = []
  const texts: string[] = []
  let searched: string | undefined
  for (const part of parts) {
    if (part.message_type === 'result_batch' && Array.isArray(part.results)) {
      results.push(...part.results.filter((r): r is Result => r !== null && typeof r === 'object'))
    } else if (part.message_type === 'decontextualized_query' && typeof part.decontextualized_query === 'string') {
      searched = part.decontextualized_query
    } else if (typeof part.message === 'string') {
      texts.push(part.message)
    }
  }
  const out: Child[] = []
  if (searched !== undefined) out.push(el('div', { className: 'searched' }, `Searched for “${searched}”`))
  if (results.length > 0) out.push(el('div', { className: 'cards' }, results.map(card)))
  const text = m.content !== '' ? m.content : texts.join('\n')
  if (text !== '') out.push(el('div', { className: 'text' }, text))
  else if (m.status === 'streaming') out.push(el('span', { className: 'quiet thinking' }, results.length > 0 ? 'summarizing' : 'thinking'))
  else if (results.length === 0) out.push(el('div', { className: 'quiet' }, m.status === 'cancelled' ? 'Stopped before an answer.' : 'No answer.'))
  return out
}

export function renderMessage (m: Message, view: MessageView): HTMLElement {
  const data = { seq: String(m.seq), id: m.id, status: m.status ?? '' }
  if (m.kind === 'system') return el('div', { className: 'msg system', dataset: data }, m.content)
  const mine = m.sender.id === view.me
  const meta = el('div', { className: 'meta' }, el('b', {}, m.sender.name), time(m.createdAt))
  if (m.kind === 'ai' && m.status !== undefined && ENDED[m.status] !== undefined) meta.append(el('span', { className: 'badge' }, ENDED[m.status]))
  if (m.kind === 'ai' && m.status === 'streaming') {
    const stopping = view.stopping.has(m.id)
    meta.append(el('button', { type: 'button', className: 'stop', disabled: stopping, onclick: () => { view.stop(m) } }, stopping ? 'stopping…' : 'stop'))
  }
  const body = m.kind === 'ai' ? answerBody(m) : [el('div', { className: 'text' }, m.content)]
  return el('div', { className: `msg ${m.kind}${mine ? ' mine' : ''}`, dataset: data }, meta, ...body)
}

const OUTGOING: Record<Outgoing['state'], string> = { sending: 'sending…', waiting: 'waiting for the connection…', failed: 'not sent' }

export function renderOutgoing (o: Outgoing, retry: () => void, discard: () => void): HTMLElement {
  const meta = el('div', { className: 'meta' }, OUTGOING[o.state])
  if (o.state === 'failed') {
    if (o.error !== undefined) meta.append(el('span', { className: 'badge' }, o.error))
    meta.append(el('button', { type: 'button', onclick: retry }, 'retry'), el('button', { type: 'button', onclick: discard }, 'discard'))
  }
  return el('div', { className: `msg text mine outgoing ${o.state}`, dataset: { clientMessageId: o.clientMessageId } }, meta, el('div', { className: 'text' }, o.content))
}
