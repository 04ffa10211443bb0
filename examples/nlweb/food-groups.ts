// What an ingredient is, beyond its own words: "parmesan" is cheese and dairy, "prawns" are shellfish and
// seafood, "pine nuts" and "peanut butter" are nuts. The index tags every item with the groups its name and
// ingredients fall in, so "pasta without cheese", "nut-free" and "dairy-free" exclude the parmesan, the pesto
// and the cream, and "pasta with seafood" finds the prawns. Decontextualisation uses the same table to see
// that "with chicken" cannot stay vegetarian.
import type { Diet } from './query-parse.ts'
import { normalize, wordKey, wordKeys } from './terms.ts'

export type FoodGroup = 'meat' | 'fish' | 'shellfish' | 'seafood' | 'cheese' | 'dairy' | 'egg' | 'nut' | 'honey'

// word keys (see terms.ts: stemmed, synonyms folded) that put an ingredient in a group
const MEMBERS: Record<FoodGroup, string[]> = {
  meat: ['meat', 'chicken', 'beef', 'pork', 'lamb', 'bacon', 'lardon', 'sausage', 'turkey', 'ham', 'chorizo', 'carnitas',
    'sirloin', 'ribeye', 'flank', 'chuck', 'veal', 'duck', 'venison', 'salami', 'pepperoni', 'prosciutto', 'pancetta', 'meatball'],
  fish: ['fish', 'salmon', 'tuna', 'cod', 'anchovy', 'mackerel', 'haddock', 'trout', 'sardine', 'halibut', 'bass'],
  shellfish: ['shellfish', 'shrimp', 'mussel', 'squid', 'calamari', 'crab', 'lobster', 'scallop', 'clam', 'oyster'],
  seafood: ['seafood'],
  cheese: ['cheese', 'parmesan', 'mozzarella', 'ricotta', 'feta', 'cheddar', 'gruyere', 'halloumi', 'paneer', 'jack',
    'mascarpone', 'pecorino', 'brie', 'gouda', 'camembert', 'pesto'],
  // pastry is made with butter unless it says otherwise
  dairy: ['dairy', 'milk', 'cream', 'butter', 'buttermilk', 'yoghurt', 'ghee', 'crema', 'tzatziki', 'brioche', 'pastry'],
  egg: ['egg', 'mayonnaise', 'aioli', 'meringue', 'brioche'],
  nut: ['nut', 'almond', 'cashew', 'peanut', 'walnut', 'pistachio', 'hazelnut', 'pecan', 'macadamia', 'pesto'],
  honey: ['honey']
}

/** groups a member of one group is also in */
const ALSO: Partial<Record<FoodGroup, FoodGroup[]>> = { fish: ['seafood'], shellfish: ['seafood'], cheese: ['dairy'] }

/** plant milks, nut butters and "nice cream" (frozen bananas) are not dairy */
const NOT_DAIRY = /\b(?:(?:coconut|oat|almond|plant|soy|soya|rice|cashew)\s+(?:milk|cream|yoghurt|yogurt|butter)|(?:peanut|nut|cocoa)\s+butter|nice\s+cream)\b/g

const BY_WORD = new Map<string, FoodGroup[]>()
for (const [group, words] of Object.entries(MEMBERS) as Array<[FoodGroup, string[]]>) {
  for (const word of words) BY_WORD.set(word, [...(BY_WORD.get(word) ?? []), group, ...(ALSO[group] ?? [])])
}

/** The groups one word belongs to ('prawns' → shellfish, seafood; 'pasta' → none). */
export function groupsOfWord (word: string): FoodGroup[] {
  return BY_WORD.get(wordKey(word)) ?? []
}

/** The groups of a dish, from its name and ingredient lines. */
export function foodGroupsOf (texts: string[]): Set<FoodGroup> {
  const groups = new Set<FoodGroup>()
  for (const text of texts) {
    for (const word of wordKeys(normalize(text).replace(NOT_DAIRY, ' '))) {
      for (const group of BY_WORD.get(word) ?? []) groups.add(group)
    }
    // the words of "coconut milk" still count for other groups ("almond milk" is a nut)
    for (const word of wordKeys(text)) {
      for (const group of BY_WORD.get(word) ?? []) if (group !== 'dairy' && group !== 'cheese') groups.add(group)
    }
  }
  return groups
}

const EXCLUDED_BY: Record<Diet, FoodGroup[]> = {
  VegetarianDiet: ['meat', 'fish', 'shellfish', 'seafood'],
  VeganDiet: ['meat', 'fish', 'shellfish', 'seafood', 'cheese', 'dairy', 'egg', 'honey'],
  GlutenFreeDiet: []
}

/** Whether a dish holding `word` can still follow `diet` ('chicken' breaks VegetarianDiet; 'feta' breaks VeganDiet). */
export function breaksDiet (word: string, diet: Diet): boolean {
  return groupsOfWord(word).some((group) => EXCLUDED_BY[diet].includes(group))
}
