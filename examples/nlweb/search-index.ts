// The catalogue's full-text index: MiniSearch over name, keywords, category, cuisine, description, ingredients
// and food groups (food-groups.ts), name weighing most, OR-combined. A query's constraints (site, diets, time,
// exclusions) filter the hits; then its words decide which hits answer it:
//   - every word that names something about a dish (its kind, an ingredient, a cuisine: a word found outside
//     descriptions) is required. "vegetarian pasta with mushrooms" returns the mushroom pastas, never the
//     mushroom quesadillas. Words found only in descriptions ("kid-friendly", "cheesy") rank, never exclude.
//   - when no item has every required word, the items with the most of them come first, the dish asked for
//     (the query's head word, query-parse.ts) counting for more, and the outcome says the match is partial.
// Words match whole ("rice" is not "ricotta", "egg" not "eggplant"); words the catalogue does not know match
// fuzzily from six letters (typos: "mushrom"). Built once per handler.
import MiniSearch, { type SearchResult } from 'minisearch'
import { foodGroupsOf, type FoodGroup } from './food-groups.ts'
import { dietsOf, listOf, minutesOf, siteOf, type AskResult, type Item } from './item.ts'
import type { ParsedQuery } from './query-parse.ts'
import { processTerm, tokenize, wordKeys } from './terms.ts'

export interface SearchOptions {
  /** hostnames to keep, e.g. ['recipes.example.com']; all sites when empty */
  sites?: string[]
  limit: number
  /** urls to rank first among equally good matches: the answers a "which of these …" follow-up asks among */
  prefer?: Set<string>
}

export interface SearchOutcome {
  /** best first; each result's score is its ranking score, never higher than the one above */
  results: AskResult[]
  /** 'partial': no item has every word the query requires, these have the most of them */
  match: 'all' | 'partial'
}

export interface SearchIndex {
  search (query: ParsedQuery, options: SearchOptions): SearchOutcome
}

interface Entry {
  item: Item
  site: string
  diets: Set<string>
  minutes: number | undefined
  groups: Set<FoodGroup>
  /** word keys of the name and ingredients, and the food groups, for exclusions */
  words: Set<string>
}

type Field = 'name' | 'keywords' | 'category' | 'cuisine' | 'description' | 'ingredients' | 'groups'

const FIELDS: Field[] = ['name', 'keywords', 'category', 'cuisine', 'description', 'ingredients', 'groups']
/** hits scoring below this fraction of the best hit are noise (a stray fuzzy match in an ingredient line) */
const RELEVANCE_FLOOR = 0.15
const BOOST: Record<Field, number> = { name: 4, keywords: 2, category: 2, cuisine: 2, description: 1, ingredients: 0.7, groups: 0.7 }
/** in a partial match, holding the dish asked for counts this much more than holding another word */
const HEAD_BONUS = 0.5

function fieldText (entry: Entry, field: Field): string {
  const { item } = entry
  switch (field) {
    case 'name': return item.name
    case 'keywords': return listOf(item.keywords).join(' ')
    case 'category': return listOf(item.recipeCategory).join(' ')
    case 'cuisine': return listOf(item.recipeCuisine).join(' ')
    case 'description': return item.description ?? ''
    case 'ingredients': return (item.recipeIngredient ?? []).join(' ')
    case 'groups': return [...entry.groups].join(' ')
  }
}

export function createSearchIndex (items: Item[]): SearchIndex {
  const entries: Entry[] = items.map((item) => {
    const groups = foodGroupsOf([item.name, ...(item.recipeIngredient ?? [])])
    return {
      item,
      site: siteOf(item),
      diets: new Set(dietsOf(item)),
      minutes: minutesOf(item.totalTime),
      groups,
      words: new Set([...wordKeys(`${item.name} ${(item.recipeIngredient ?? []).join(' ')}`), ...groups])
    }
  })

  // every word the catalogue holds, and those it holds outside descriptions (what a dish is made of, is called, is)
  const vocabulary = new Set<string>()
  const naming = new Set<string>()
  for (const entry of entries) {
    for (const field of FIELDS) {
      for (const word of wordKeys(fieldText(entry, field))) {
        if (processTerm(word) === null) continue
        vocabulary.add(word)
        if (field !== 'description') naming.add(word)
      }
    }
  }

  const index = new MiniSearch<number>({
    fields: FIELDS,
    idField: 'id',
    extractField: (position, field) => field === 'id' ? position : fieldText(entries[position] as Entry, field as Field),
    tokenize,
    processTerm,
    searchOptions: {
      tokenize,
      processTerm,
      boost: BOOST,
      // typos are for words the catalogue does not know: "pasta" is not also "paste"; no prefixes: "rice" is not "ricotta"
      // (from six letters: a shorter unknown word is as likely a real one as a typo, "party" is not "patty")
      fuzzy: (term) => term.length >= 6 && !vocabulary.has(term) ? 0.2 : false,
      combineWith: 'OR'
    }
  })
  // documents are the entries' positions; extractField reads the fields from the entry
  index.addAll(entries.map((_, position) => position))

  function accepts (entry: Entry, query: ParsedQuery, sites: string[]): boolean {
    if (sites.length > 0 && !sites.includes(entry.site)) return false
    if (query.diets.some((diet) => !entry.diets.has(diet))) return false
    if (query.maxMinutes !== undefined && (entry.minutes === undefined || entry.minutes > query.maxMinutes)) return false
    return !query.exclude.some((word) => entry.words.has(word))
  }

  const quickestFirst = (a: Entry, b: Entry): number => (a.minutes ?? Infinity) - (b.minutes ?? Infinity)

  function toResults (ranked: Array<{ entry: Entry, score: number }>, limit: number): AskResult[] {
    let ceiling = Infinity
    return ranked.slice(0, limit).map(({ entry, score }) => {
      ceiling = Math.min(ceiling, Math.round(score * 1000) / 1000)
      const { item } = entry
      return { url: item.url, name: item.name, site: entry.site, score: ceiling, description: item.description ?? '', schema_object: item }
    })
  }

  return {
    search (query, { sites = [], limit, prefer }) {
      if (query.terms.length === 0) {
        if (query.constraints.length === 0) return { results: [], match: 'all' } // nothing asked ("hello?")
        // constraints only ("vegan", "under 15 minutes"): every item that passes them, quickest first
        const passing = entries.filter((entry) => accepts(entry, query, sites)).sort(quickestFirst)
        return { results: toResults(passing.map((entry) => ({ entry, score: 1 })), limit), match: 'all' }
      }

      const hits = index.search(query.terms.join(' '), { filter: (hit) => accepts(entries[hit.id] as Entry, query, sites) })
      // a word no item holds ("yummy") is ignored; one only descriptions hold ("kid-friendly") only ranks
      const required = [...new Set(hits.flatMap((hit) => hit.queryTerms))].filter((term) => naming.has(term) || !vocabulary.has(term))
      const holds = (hit: SearchResult, term: string): boolean => hit.queryTerms.includes(term)

      const complete = hits.filter((hit) => required.every((term) => holds(hit, term)))
      const partial = complete.length === 0
      const weight = (hit: SearchResult): number =>
        required.filter((term) => holds(hit, term)).length + (query.head !== undefined && holds(hit, query.head) ? HEAD_BONUS : 0)
      const ranked = (partial ? [...hits].sort((a, b) => weight(b) - weight(a) || b.score - a.score) : complete)
        .map((hit) => ({ entry: entries[hit.id] as Entry, score: hit.score }))

      const floor = Math.max(...ranked.map((hit) => hit.score)) * RELEVANCE_FLOOR
      const relevant = ranked.filter((hit) => hit.score >= floor)
      if (query.order === 'time') relevant.sort((a, b) => quickestFirst(a.entry, b.entry) || b.score - a.score)
      if (prefer !== undefined && !partial) relevant.sort((a, b) => Number(prefer.has(b.entry.item.url)) - Number(prefer.has(a.entry.item.url)))
      return { results: toResults(relevant, limit), match: partial ? 'partial' : 'all' }
    }
  }
}
