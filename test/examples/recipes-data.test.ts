import { readFile } from 'node:fs/promises'
import t from 'tap'
import { generateRecipes, RECIPES_FILE, serializeRecipes } from '../../examples/data/generate-recipes.ts'
import { foodGroupsOf, type FoodGroup } from '../../examples/nlweb/food-groups.ts'
import type { Item } from '../../examples/nlweb/item.ts'

const items = JSON.parse(await readFile(RECIPES_FILE, 'utf8')) as Item[]
const texts = items.flatMap((item) => [item.name, item.description ?? ''])

t.test('recipes.json is exactly what the generator writes', async (t) => {
  t.equal(serializeRecipes(generateRecipes()), await readFile(RECIPES_FILE, 'utf8'), 'run `npx tsx examples/data/generate-recipes.ts` after changing it')
  t.equal(new Set(items.map((item) => item.url)).size, items.length, 'urls are unique')
  t.equal(new Set(items.map((item) => item.name)).size, items.length, 'names are unique')
})

t.test('no word is doubled in a name or description ("Mexican Mexican favourite")', async (t) => {
  const doubled = texts.filter((text) => /\b(\w+)[\s-]+\1\b/i.test(text))
  t.same(doubled, [])
  // nor said twice in other words: "packed-lunch American lunch", "Chickpea and Vegetable with Vegetables"
  const repeated = items.map((item) => item.name).filter((name) => /\b(\w{4,}?)s?\b.*\b\1s?\b/i.test(name))
  t.same(repeated, [])
  const lunchLunch = items.filter((item) => /lunch\s+\w+\s+lunch/i.test(item.description ?? ''))
  t.same(lunchLunch.map((item) => item.name), [])
})

t.test('articles and verbs agree ("An easy", "The star of this …", never "A easy" or "chickpeas star")', async (t) => {
  t.same(texts.filter((text) => /\bA [aeiou]/.test(text) && !/\bA one\b/.test(text)), [], 'a before a vowel')
  t.same(texts.filter((text) => /\bAn [^aeiouAEIOU]/.test(text) || /\ban one\b/i.test(text)), [], 'an before a consonant')
  t.same(texts.filter((text) => /\bstars? in this\b/.test(text)), [], 'no "X star in this", which needs X plural')
})

t.test('descriptions read as sentences, with times a cook would say', async (t) => {
  const names = (wrong: (item: Item) => boolean): string[] => items.filter(wrong).map((item) => item.name)
  t.same(names((item) => !/^[A-Z].*\.$/.test(item.description ?? '')), [], 'a capitalised sentence')
  t.same(names((item) => /\d\.\d hours/.test(item.description ?? '')), [], 'no decimal hours')
  t.same(names((item) => !/\b(?:Dinner|Soup)\b/.test(String(item.recipeCategory)) && /weeknight/.test(`${item.description ?? ''} ${String(item.keywords)}`)), [], 'weeknights are for dinners')
  const cake = items.find((item) => item.name === 'Chocolate Cake')
  t.match(cake?.description, /Takes about an hour from start to finish\./)
})

t.test('dish nouns fit the dish: a stew is no soup, a Mexican dish no "Mexican Mexican"', async (t) => {
  const misnamed = items.filter((item) =>
    (item.recipeCategory === 'Soup' && /\bStew\b/.test(item.name) && !/\bstew\b/.test(item.description ?? '')) ||
    (/\bChili\b/.test(item.name) && !/\bchili\b/.test(item.description ?? '')) ||
    (/Grain Bowl/.test(item.name) && !/grain bowl/.test(item.description ?? '')))
  t.same(misnamed.map((item) => item.name), [])
  t.ok(items.some((item) => /Mexican favourite/.test(item.description ?? '')))
  t.ok(items.some((item) => item.name === 'Creamy Potato Mash'), 'not "Creamy Potatoes Mash"')
  t.ok(items.some((item) => item.name === 'Kung Pao Vegetables'), 'not "Kung Pao Vegetable"')
})

t.test('keywords do not contradict the dish', async (t) => {
  const keywordsOf = (item: Item): string[] => String(item.keywords).split(', ')
  t.same(items.filter((item) => keywordsOf(item).includes('mild') && keywordsOf(item).includes('spicy')).map((item) => item.name), [], 'mild and spicy')
  t.same(items.filter((item) => keywordsOf(item).includes('no-bake') && keywordsOf(item).includes('baking')).map((item) => item.name), [], 'no-bake and baking')
  t.same(items.filter((item) => keywordsOf(item).includes('noodles') && keywordsOf(item).includes('pasta')).map((item) => item.name), [], 'pasta is not sold as noodles')
})

t.test('diets agree with what the ingredients say', async (t) => {
  const animal: FoodGroup[] = ['meat', 'fish', 'shellfish', 'seafood']
  const notVegan: FoodGroup[] = [...animal, 'dairy', 'cheese', 'egg', 'honey']
  const groupsOf = (item: Item): Set<FoodGroup> => foodGroupsOf([item.name, ...(item.recipeIngredient ?? [])])
  const dietOf = (item: Item, diet: string): boolean => String(item.suitableForDiet).includes(diet)
  t.same(items.filter((item) => dietOf(item, 'VegetarianDiet') && animal.some((group) => groupsOf(item).has(group))).map((item) => item.name), [], 'vegetarian')
  t.same(items.filter((item) => dietOf(item, 'VeganDiet') && notVegan.some((group) => groupsOf(item).has(group))).map((item) => item.name), [], 'vegan')
  const stirFry = items.find((item) => item.name === 'Vegetable Stir-Fry')
  t.match(stirFry?.suitableForDiet, ['https://schema.org/VeganDiet', 'https://schema.org/VegetarianDiet'], 'no oyster sauce in the vegetable stir-fry')
})
