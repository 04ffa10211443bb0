// Reads the constraints out of a natural-language query, the rest being search terms:
//   diets      'vegetarian', 'veggie', 'meat-free', 'no meat'  → VegetarianDiet
//              'vegan', 'plant-based'                          → VeganDiet
//              'gluten-free', 'no gluten', 'coeliac'           → GlutenFreeDiet
//   time       'quick', 'fast' → at most 30 minutes; 'under 20 minutes', '15-minute' → that many
//   exclusions 'without mushrooms', 'no nuts' → drop items naming that word
// Constraints filter the hits; `phrases` keeps their wording so a follow-up can carry them over.
import { normalize, processTerm, stem } from './terms.ts'

export type Diet = 'VegetarianDiet' | 'VeganDiet' | 'GlutenFreeDiet'

export interface ParsedQuery {
  /** content words, as typed (lower-cased), stop words removed */
  terms: string[]
  diets: Diet[]
  maxMinutes?: number
  /** stemmed words an item must not mention */
  exclude: string[]
  /** the constraint wording found, e.g. ['vegetarian', 'under 20 minutes'] */
  phrases: string[]
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

const EXCLUSION = /\b(?:without|no|minus)\s+([a-z]+)\b/g

export function parseQuery (query: string): ParsedQuery {
  let text = normalize(query)
  const diets = new Set<Diet>()
  const phrases: string[] = []
  let maxMinutes: number | undefined

  for (const [pattern, diet] of DIETS) {
    text = text.replace(pattern, (phrase) => {
      diets.add(diet)
      phrases.push(phrase)
      return ' '
    })
  }
  for (const [pattern, minutes] of TIMES) {
    for (const match of text.matchAll(pattern)) {
      maxMinutes = Math.min(maxMinutes ?? Infinity, minutes(match))
      phrases.push(match[0])
    }
    text = text.replace(pattern, ' ')
  }
  const exclude: string[] = []
  text = text.replace(EXCLUSION, (phrase, word: string) => {
    exclude.push(stem(word))
    phrases.push(phrase)
    return ' '
  })

  const terms = text.split(/[^a-z0-9]+/).filter((word) => processTerm(word) !== null)
  return { terms, diets: [...diets], maxMinutes, exclude, phrases }
}
