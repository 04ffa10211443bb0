// Turns a follow-up into a standalone query, NLWeb's "decontextualisation", with plain rules instead of an LLM.
// The conversation so far (`prev`, oldest first) is folded into one context query, then:
//   - "the first one" / "the second recipe" / "that one" with `last_ans` → that answer's title;
//   - a follow-up (it opens with "and", "what about", "how about", "only", … or says "ones"/"those"/"them",
//     or holds nothing but constraints like "vegan" or "under 20 minutes") is merged with the context:
//       "and vegetarian ones?"  after "pasta recipes" → "vegetarian pasta recipes"
//       "how about with chicken" after "pasta recipes" → "pasta recipes with chicken"
//   - a follow-up that names a new dish ("what about curry?") switches topic but keeps the context's
//     constraints: after "vegetarian pasta" → "vegetarian curry";
//   - anything else is a new question and stands as typed.
import { parseQuery } from './query-parse.ts'
import { normalize } from './terms.ts'

export interface PreviousAnswer { title: string, url?: string }

export interface Decontextualized {
  query: string
  /** true when `query` differs from what was typed */
  rewritten: boolean
}

const LEAD = /^(?:and|also|but|or|so|then|ok|okay|now|what about|how about|what if|any|only|just|show me|give me|maybe)\b[\s,]*/
const ANAPHORA = /\b(?:ones?|those|them|these|same|instead|too|as well|please)\b/g
const APPEND = /^(?:with|without|under|in|within|that|which|for)\b/
const ANSWER_REFERENCE = /\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last|that)\s+(?:one|recipe)\b/
const ORDINAL: Record<string, number> = { first: 0, '1st': 0, that: 0, second: 1, '2nd': 1, third: 2, '3rd': 2, fourth: 3, '4th': 3, fifth: 4, '5th': 4 }

export function decontextualize (query: string, prev: string[] = [], lastAnswers: PreviousAnswer[] = []): Decontextualized {
  const typed = query.trim()
  const resolved = answerReference(typed, lastAnswers) ?? resolve(prev.reduce(resolve, ''), typed)
  return { query: resolved, rewritten: resolved !== typed }
}

function answerReference (query: string, lastAnswers: PreviousAnswer[]): string | undefined {
  const match = ANSWER_REFERENCE.exec(normalize(query))
  if (match === null || lastAnswers.length === 0) return undefined
  const word = match[1] as string
  const index = word === 'last' ? lastAnswers.length - 1 : ORDINAL[word] ?? 0
  return lastAnswers[index]?.title
}

function resolve (context: string, query: string): string {
  const typed = query.trim()
  if (context === '') return typed

  let rest = normalize(typed).replace(/[?!.]+/g, ' ').trim()
  let led = false
  for (let lead = LEAD.exec(rest); lead !== null && lead[0].length > 0; lead = LEAD.exec(rest)) {
    rest = rest.slice(lead[0].length)
    led = true
  }
  ANAPHORA.lastIndex = 0
  const pointsBack = ANAPHORA.test(rest)
  rest = rest.replace(ANAPHORA, ' ')
  const contextWords = new Set(normalize(context).split(/\s+/))
  rest = rest.split(/\s+/).filter((word) => word !== '' && !contextWords.has(word)).join(' ')

  if (rest === '') return led || pointsBack || parseQuery(typed).terms.length === 0 ? context : typed
  if (APPEND.test(rest)) return `${context} ${rest}`
  const parsed = parseQuery(rest)
  if (parsed.terms.length === 0 || pointsBack) return `${rest} ${context}`
  if (led) {
    const carried = parseQuery(context).phrases.filter((phrase) => !rest.includes(phrase))
    return [...carried, rest].join(' ')
  }
  return typed
}
