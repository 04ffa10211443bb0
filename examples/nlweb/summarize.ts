// The summary seam: a host with an LLM plugs it in here; the default writes one to three plain sentences
// naming the top hits, e.g.
//   'Top matches for "vegetarian pasta": Mushroom Spaghetti (Italian, 25 min), Pesto Fettuccine (Italian,
//    20 min) and Creamy Spinach and Ricotta Penne (Italian, 30 min). All of them are vegetarian.
//    Quickest: Pesto Fettuccine, 20 minutes.'
import { dietsOf, listOf, minutesOf, type AskResult } from './item.ts'

export type Summarizer = (query: string, results: AskResult[]) => Promise<string> | string

const DIET_WORDS: Array<[string, string]> = [['VeganDiet', 'vegan'], ['VegetarianDiet', 'vegetarian'], ['GlutenFreeDiet', 'gluten-free']]

function describe (result: AskResult): string {
  const item = result.schema_object
  const minutes = minutesOf(item.totalTime)
  const details = [listOf(item.recipeCuisine)[0], minutes === undefined ? undefined : `${minutes} min`]
    .filter((detail): detail is string => detail !== undefined && detail !== '')
  return details.length === 0 ? result.name : `${result.name} (${details.join(', ')})`
}

function joinNames (names: string[]): string {
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1) as string}`
}

export function summarizeResults (query: string, results: AskResult[]): string {
  if (results.length === 0) return `Nothing matched "${query}".`
  const top = results.slice(0, 3)
  const sentences = [`Top ${top.length === 1 ? 'match' : 'matches'} for "${query}": ${joinNames(top.map(describe))}.`]

  const shared = DIET_WORDS.find(([diet]) => top.every((result) => dietsOf(result.schema_object).includes(diet)))
  if (shared !== undefined) sentences.push(top.length === 1 ? `It is ${shared[1]}.` : `All of them are ${shared[1]}.`)

  const timed = results.map((result) => ({ result, minutes: minutesOf(result.schema_object.totalTime) }))
    .filter((entry): entry is { result: AskResult, minutes: number } => entry.minutes !== undefined)
    .sort((a, b) => a.minutes - b.minutes)
  const quickest = timed[0]
  if (quickest !== undefined && results.length > 1) sentences.push(`Quickest: ${quickest.result.name}, ${quickest.minutes} minutes.`)
  return sentences.join(' ')
}
