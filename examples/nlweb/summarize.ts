// The summary seam: a host with an LLM plugs it in here; the default writes two to four plain sentences
// about the hits, e.g.
//   'Top matches for "vegetarian pasta with mushrooms": Mushroom Fettuccine (Italian, 20 min), Mushroom
//    Spaghetti (Italian, 25 min) and Baked Mushroom Rigatoni (Italian, 55 min). All 5 are vegetarian.
//    Quickest: One-Pot Mushroom Fusilli, 20 minutes.'
// When nothing matched the whole query it says so, and names what comes closest.
import { dietsOf, listOf, minutesOf, type AskResult } from './item.ts'

export interface SummaryContext {
  /** 'partial': no result has everything the query asked for; these come closest */
  match: 'all' | 'partial'
}

/** (standalone query, results best first, how they match) → the summary's text */
export type Summarizer = (query: string, results: AskResult[], context?: SummaryContext) => Promise<string> | string

function describe (result: AskResult): string {
  const item = result.schema_object
  const minutes = minutesOf(item.totalTime)
  const details = [listOf(item.recipeCuisine)[0], minutes === undefined ? undefined : `${minutes} min`]
    .filter((detail): detail is string => detail !== undefined && detail !== '')
  return details.length === 0 ? result.name : `${result.name} (${details.join(', ')})`
}

function joinWords (words: string[]): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1) as string}`
}

/** 'vegan and gluten-free' when every result is; vegan says vegetarian already */
function sharedDiets (results: AskResult[]): string | undefined {
  const all = (diet: string): boolean => results.every((result) => dietsOf(result.schema_object).includes(diet))
  const words = [all('VeganDiet') ? 'vegan' : all('VegetarianDiet') ? 'vegetarian' : undefined, all('GlutenFreeDiet') ? 'gluten-free' : undefined]
    .filter((word): word is string => word !== undefined)
  return words.length === 0 ? undefined : joinWords(words)
}

export function summarizeResults (query: string, results: AskResult[], context: SummaryContext = { match: 'all' }): string {
  if (results.length === 0) return `Nothing matched "${query}".`
  const top = results.slice(0, 3)
  const listed = joinWords(top.map(describe))
  const sentences = context.match === 'partial'
    ? [`Nothing matches all of "${query}". Closest: ${listed}.`]
    : [`Top ${top.length === 1 ? 'match' : 'matches'} for "${query}": ${listed}.`]

  const diets = sharedDiets(results)
  if (diets !== undefined) {
    const subject = results.length === 1 ? 'It is' : results.length === 2 ? 'Both are' : `All ${results.length} are`
    sentences.push(`${subject} ${diets}.`)
  }

  const quickest = results
    .map((result) => ({ result, minutes: minutesOf(result.schema_object.totalTime) }))
    .filter((entry): entry is { result: AskResult, minutes: number } => entry.minutes !== undefined)
    .sort((a, b) => a.minutes - b.minutes)[0]
  // the first one listed already shows its time
  if (quickest !== undefined && results.length > 1 && quickest.result !== results[0]) {
    sentences.push(`Quickest: ${quickest.result.name}, ${quickest.minutes} minutes.`)
  }
  return sentences.join(' ')
}
