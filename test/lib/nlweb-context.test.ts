import t from 'tap'
import { buildAskParams, mentionPattern, readableAnswer, stripMention } from '../../lib/participants/nlweb-context.ts'
import type { Message } from '../../lib/schemas/entities.ts'

let seq = 0
function msg (over: Partial<Message>): Message {
  seq++
  return {
    id: `m${seq}`,
    conversationId: 'c',
    seq,
    kind: 'text',
    sender: { id: 'alice', name: 'Alice', type: 'human' },
    content: '',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...over
  }
}
const ai = (content: string, replyTo: number, parts: unknown[], status: Message['status'] = 'complete'): Message =>
  msg({ kind: 'ai', sender: { id: 'assistant', name: 'Assistant', type: 'ai' }, content, replyTo, parts, status })

t.test('exact params for a known history', async (t) => {
  seq = 0
  const mention = mentionPattern('assistant', 'Assistant')
  const history: Message[] = [
    msg({ kind: 'system', sender: { id: 'system', name: 'system', type: 'system' }, content: 'Alice joined' }), // 1
    msg({ content: '@assistant pasta recipes' }), // 2
    ai('Here are pasta dishes', 2, [
      { message_type: 'result_batch', results: [{ name: 'Carbonara', url: 'https://r.example/carbonara' }, { name: 'Pesto', url: 'https://r.example/pesto' }] },
      { message_type: 'summary', message: 'Here are pasta dishes' }
    ]), // 3
    msg({ content: 'nice', sender: { id: 'bob', name: 'Bob', type: 'human' } }), // 4: not a question to the AI
    msg({ content: 'and vegetarian ones? @Assistant' }), // 5
    ai('Veggie pasta', 5, [{ message_type: 'result_batch', results: [{ name: 'Primavera', url: 'https://r.example/primavera' }] }]), // 6
    msg({ content: 'what about soup' }), // 7
    ai('', 7, [], 'cancelled') // 8: not finished, not context
  ]
  const question = msg({ content: '@assistant   quick ones' }) // 9
  const params = buildAskParams({
    question,
    history: [...history, question],
    aiId: 'assistant',
    mention,
    limits: { queries: 5, answers: 2, itemsPerAnswer: 1 },
    site: 'r.example',
    queryId: 'q-9'
  })
  t.strictSame(params, {
    query: 'quick ones',
    query_id: 'q-9',
    prev: ['pasta recipes', 'and vegetarian ones?'],
    last_ans: [
      { title: 'Carbonara', url: 'https://r.example/carbonara' },
      { title: 'Primavera', url: 'https://r.example/primavera' }
    ],
    site: 'r.example'
  })

  const narrow = buildAskParams({ question, history, aiId: 'assistant', mention, limits: { queries: 1, answers: 0, itemsPerAnswer: 5 }, queryId: 'q' })
  t.strictSame(narrow, { query: 'quick ones', query_id: 'q', prev: ['and vegetarian ones?'] })

  const first = buildAskParams({ question: history[1], history, aiId: 'assistant', mention, limits: { queries: 5, answers: 1, itemsPerAnswer: 5 }, queryId: 'q' })
  t.strictSame(first, { query: 'pasta recipes', query_id: 'q' }, 'nothing before the first question')
})

t.test('mentions: @name or @id, case-insensitive, whole word only', async (t) => {
  const m = mentionPattern('nl-bot', 'Chef Bot')
  t.ok(m.test('hey @chef bot, dinner?'))
  t.ok(m.test('@NL-BOT soup'))
  t.notOk(m.test('@chef botany'))
  t.notOk(m.test('chef bot without the at'))
  t.notOk(m.test('email me at x@nl-botnet.example'))
  t.equal(stripMention('@Chef Bot   soup  please', m), 'soup please')
})

t.test('readable answer: summaries first, then no-results/error text, then item names', async (t) => {
  t.equal(readableAnswer([{ message_type: 'result_batch', results: [{ name: 'A' }, { name: 'B' }] }, { message_type: 'summary', message: 'S' }]), 'S')
  t.equal(readableAnswer([{ message_type: 'result_batch', results: [{ name: 'A' }, { name: 'B' }] }]), 'A, B')
  t.equal(readableAnswer([{ message_type: 'no_results', message: 'none' }, { message_type: 'complete' }]), 'none')
  t.equal(readableAnswer([null, 'x', { message_type: 'complete' }]), '')
})
