// Reads the constraints out of a natural-language query, the rest being search terms:
//   diets      'vegetarian', 'veggie', 'meat-free', 'no meat'  → VegetarianDiet
//              'vegan', 'plant-based'                          → VeganDiet
//              'gluten-free', 'no gluten', 'coeliac'           → GlutenFreeDiet
//   time       'quick', 'fast' → at most 30 minutes; 'under 20 minutes', '15-minute' → that many
//   order      'quickest', 'fastest' → quickest first
//   exclusions 'without mushrooms', 'no nuts', 'nut-free', 'free of dairy' → drop items naming that word
//              (or an ingredient of that group: see food-groups.ts)
// Constraints filter the hits; `constraints` keeps their wording and place so a follow-up can carry them over.
import { normalize, processTerm, tokenize, wordKey } from './terms.ts'

export type Diet = 'VegetarianDiet' | 'VeganDiet' | 'GlutenFreeDiet'

export type ConstraintKind = 'diet' | 'time' | 'order' | 'exclude'

export interface Constraint {
  kind: ConstraintKind
  /** the wording found, e.g. 'vegetarian', 'under 20 minutes', 'without mushrooms' */
  phrase: string
  /** where it starts in the normalised query */
  at: number
  /** for diets: which one */
  diet?: Diet
}

export interface ParsedQuery {
  /** content words, as typed (lower-cased), stop words removed, in order */
  terms: string[]
  /**
   * the word key (terms.ts) of the dish asked for: the last content word before "with", so
   * "vegetarian pasta with mushrooms" → 'pasta', "chicken curry" → 'curry'
   */
  head?: string
  diets: Diet[]
  maxMinutes?: number
  /** 'time': quickest first */
  order?: 'time'
  /** word keys an item must not mention */
  exclude: string[]
  /** the constraint wording found, in query order, e.g. ['vegetarian', 'under 20 minutes'] */
  phrases: string[]
  constraints: Constraint[]
}

const DIETS: Array<[RegExp, Diet]> = [
  [/\b(?:gluten[- ]?free|(?:no|without) gluten|coeliac|celiac)\b/g, 'GlutenFreeDiet'],
  [/\b(?:vegan|plant[- ]based)\b/g, 'VeganDiet'],
  [/\b(?:vegetarian|veggie|meatless|meat[- ]free|(?:no|without) meat)\b/g, 'VegetarianDiet']
]

const TIMES: Array<[RegExp, (match: RegExpMatchArray) => number]> = [
  [/\b(?:under|in|within|less than|at most|no more than)\s+(\d+)\s*min(?:ute)?s?\b/g, (m) => Number(m[1])],
  [/\b(\d+)[- ]?min(?:ute)?s?\b/g, (m) => Number(m[1])],
  [/\b(?:under|in|within|less than)\s+(?:an|one|1)\s+hour\b/g, () => 60],
  [/\b(?:quick|quickly|fast|speedy|rapid|in a hurry)\b/g, () => 30]
]

const ORDER = /\b(?:quickest|fastest|speediest|shortest)\b/g

// "nut-free", "free of nuts", "without mushrooms", "no onions" ("no-bake" and "no more than" are not exclusions)
const EXCLUSIONS = [
  /\b([a-z]+)[- ]free\b/g,
  /\bfree (?:of|from) ([a-z]+)\b/g,
  /\b(?:without|minus|no)\s+([a-z]+)\b/g
]

export function parseQuery (query: string): ParsedQuery {
  // every phrase found is blanked out with as many spaces, so positions stay those of the query
  let text = normalize(query)
  const blank = (phrase: string): string => ' '.repeat(phrase.length)
  const constraints: Constraint[] = []
  const diets = new Set<Diet>()
  let maxMinutes: number | undefined
  let order: 'time' | undefined
  const exclude: string[] = []

  for (const [pattern, diet] of DIETS) {
    text = text.replace(pattern, (phrase: string, at: number) => {
      diets.add(diet)
      constraints.push({ kind: 'diet', phrase, at, diet })
      return blank(phrase)
    })
  }
  text = text.replace(ORDER, (phrase: string, at: number) => {
    order = 'time'
    constraints.push({ kind: 'order', phrase, at })
    return blank(phrase)
  })
  for (const [pattern, minutes] of TIMES) {
    for (const match of text.matchAll(pattern)) {
      maxMinutes = Math.min(maxMinutes ?? Infinity, minutes(match))
      constraints.push({ kind: 'time', phrase: match[0], at: match.index ?? 0 })
    }
    text = text.replace(pattern, blank)
  }
  for (const pattern of EXCLUSIONS) {
    text = text.replace(pattern, (phrase: string, word: string, at: number) => {
      if (processTerm(word) === null) return phrase
      exclude.push(wordKey(word))
      constraints.push({ kind: 'exclude', phrase, at })
      return blank(phrase)
    })
  }
  constraints.sort((a, b) => a.at - b.at)

  const words = (part: string): string[] => tokenize(part).filter((word) => processTerm(word) !== null)
  const withAt = text.search(/\bwith\b/)
  const main = words(withAt === -1 ? text : text.slice(0, withAt))
  const terms = words(text)
  const headWord = main.at(-1) ?? terms.at(-1)
  return {
    terms,
    head: headWord === undefined ? undefined : wordKey(headWord),
    diets: [...diets],
    maxMinutes,
    order,
    exclude,
    phrases: constraints.map((constraint) => constraint.phrase),
    constraints
  }
}
