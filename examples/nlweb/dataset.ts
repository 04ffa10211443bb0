// The shipped example catalogue: examples/data/recipes.json (made by examples/data/generate-recipes.ts).
// Read once per process, on first use.
import { readFileSync } from 'node:fs'
import type { Item } from './item.ts'

const DATASET = new URL('../data/recipes.json', import.meta.url)

let cached: Item[] | undefined

export function loadRecipes (): Item[] {
  cached ??= JSON.parse(readFileSync(DATASET, 'utf8')) as Item[]
  return cached
}
