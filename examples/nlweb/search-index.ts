// The catalogue's full-text index: MiniSearch over name, keywords, category, cuisine, description and
// ingredients (name weighs most), prefix matching and fuzzy matching of unknown words (typos), OR-combined (MiniSearch ranks documents
// matching more of the terms higher); hits far below the best one are dropped. A query's constraints (site, diets, time, exclusions) filter the hits.
// Built once per handler; everything an item is filtered on is precomputed here.
import MiniSearch from 'minisearch'
import { dietsOf, listOf, minutesOf, siteOf, type AskResult, type Item } from './item.ts'
import type { ParsedQuery } from './query-parse.ts'
import { normalize, processTerm, stem } from './terms.ts'

export interface SearchOptions {
  /** hostnames to keep, e.g. ['recipes.example.com']; all sites when empty */
  sites?: string[]
  limit: number
}

export interface SearchIndex {
  search (query: ParsedQuery, options: SearchOptions): AskResult[]
}

interface Entry {
  item: Item
  site: string
  diets: Set<string>
  minutes: number | undefined
  /** stemmed words of the name and ingredients, for exclusions */
  words: Set<string>
}

type Field = 'name' | 'keywords' | 'category' | 'cuisine' | 'description' | 'ingredients'

const FIELDS: Field[] = ['name', 'keywords', 'category', 'cuisine', 'description', 'ingredients']
/** hits scoring below this fraction of the best hit are noise (a stray fuzzy match in an ingredient line) */
const RELEVANCE_FLOOR = 0.1
const BOOST: Record<Field, number> = { name: 4, keywords: 2, category: 2, cuisine: 2, description: 1, ingredients: 0.7 }

function fieldText (item: Item, field: Field): string {
  switch (field) {
    case 'name': return item.name
    case 'keywords': return listOf(item.keywords).join(' ')
    case 'category': return listOf(item.recipeCategory).join(' ')
    case 'cuisine': return listOf(item.recipeCuisine).join(' ')
    case 'description': return item.description ?? ''
    case 'ingredients': return (item.recipeIngredient ?? []).join(' ')
  }
}

export function createSearchIndex (items: Item[]): SearchIndex {
  const entries: Entry[] = items.map((item) => ({
    item,
    site: siteOf(item),
    diets: new Set(dietsOf(item)),
    minutes: minutesOf(item.totalTime),
    words: new Set(normalize(`${item.name} ${(item.recipeIngredient ?? []).join(' ')}`).split(/[^a-z0-9]+/).map(stem))
  }))

  // fuzzy matching is for typos: a word the catalogue knows ("pasta") is not also read as its neighbours ("paste")
  const vocabulary = new Set<string>()
  const index = new MiniSearch<number>({
    fields: FIELDS,
    idField: 'id',
    extractField: (position, field) => field === 'id' ? position : fieldText((entries[position] as Entry).item, field as Field),
    processTerm: (token) => {
      const term = processTerm(token)
      if (term !== null) vocabulary.add(term)
      return term
    },
    searchOptions: {
      processTerm,
      boost: BOOST,
      prefix: (term) => term.length >= 3,
      fuzzy: (term) => term.length >= 5 && !vocabulary.has(term) ? 0.2 : false,
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

  function toResult (entry: Entry, score: number): AskResult {
    const { item } = entry
    return { url: item.url, name: item.name, site: entry.site, score: Math.round(score * 1000) / 1000, description: item.description ?? '', schema_object: item }
  }

  return {
    search (query, { sites = [], limit }) {
      const filter = (hit: { id: number }): boolean => accepts(entries[hit.id] as Entry, query, sites)
      if (query.terms.length === 0) {
        // constraints only ("vegan", "under 15 minutes"): every item that passes them, quickest first
        return entries
          .filter((entry) => accepts(entry, query, sites))
          .sort((a, b) => (a.minutes ?? Infinity) - (b.minutes ?? Infinity))
          .slice(0, limit)
          .map((entry) => toResult(entry, 1))
      }
      const hits = index.search(query.terms.join(' '), { filter })
      const floor = (hits[0]?.score ?? 0) * RELEVANCE_FLOOR
      return hits
        .filter((hit) => hit.score >= floor)
        .slice(0, limit)
        .map((hit) => toResult(entries[hit.id] as Entry, hit.score))
    }
  }
}
