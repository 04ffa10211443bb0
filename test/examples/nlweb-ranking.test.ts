import t from 'tap'
import { createAskHandler, type AskFrame, type AskParams, type AskResult } from '../../examples/nlweb/handler.ts'
import { minutesOf } from '../../examples/nlweb/item.ts'

// the shipped dataset, indexed once for the whole file
const ask = createAskHandler()

async function answer (params: AskParams): Promise<{ frames: AskFrame[], results: AskResult[], summary: string }> {
  const frames: AskFrame[] = []
  await ask(params, { write (frame) { frames.push(frame) } })
  const results = frames.filter((frame) => frame.message_type === 'result_batch').flatMap((frame) => frame.results as AskResult[])
  const summary = String(frames.find((frame) => frame.message_type === 'summary' || frame.message_type === 'no_results')?.message)
  return { frames, results, summary }
}

const VEGETARIAN = 'https://schema.org/VegetarianDiet'
const VEGAN = 'https://schema.org/VeganDiet'
const namesOf = (results: AskResult[]): string[] => results.map((result) => result.name)
const textOf = (result: AskResult): string => `${result.name} ${String(result.schema_object.recipeIngredient)}`
const keywordsOf = (result: AskResult): string => String(result.schema_object.keywords)
const dietsOf = (result: AskResult): unknown[] => result.schema_object.suitableForDiet as unknown[]
const minutes = (result: AskResult): number => minutesOf(result.schema_object.totalTime) ?? Infinity
/** the recipes a summary names: its list ("A (…), B (…) and C (…)") and its "Quickest: D, 20 minutes." */
function namedIn (summary: string): string[] {
  const listed = [...summary.matchAll(/(?:: |, | and )([A-Z][^,(:]*?) \(/g)].map((match) => match[1] as string)
  const quickest = /Quickest: (.+?), \d+ minutes\./.exec(summary)?.[1]
  return quickest === undefined ? listed : [...listed, quickest]
}

t.test('"vegetarian pasta with mushrooms" answers with vegetarian mushroom pastas only, and says so', async (t) => {
  const { results, summary } = await answer({ query: 'vegetarian pasta with mushrooms' })
  t.ok(results.length >= 3)
  for (const result of results) {
    t.ok(dietsOf(result).includes(VEGETARIAN), `${result.name} is vegetarian`)
    t.match(keywordsOf(result), /\bpasta\b/, `${result.name} is a pasta`)
    t.match(textOf(result), /mushroom/i, `${result.name} has mushrooms`)
  }
  t.notOk(results.some((result) => /Quesadillas|Fajitas|Toast|Omelette/.test(result.name)), 'no quesadillas, fajitas, toast or omelettes beside the pastas')
  t.match(summary, new RegExp(`^Top matches for "vegetarian pasta with mushrooms": ${results[0]?.name}`))
  t.ok(namedIn(summary).length >= 3)
  t.same(namedIn(summary).filter((name) => !namesOf(results).includes(name)), [], 'the summary names only recipes that answer the query')
  t.notMatch(summary, /Mushroom Toast/)
  t.match(summary, new RegExp(`All ${results.length} are vegetarian\\.`))
})

t.test('every word naming a dish, an ingredient or a cuisine holds for every result', async (t) => {
  const cases: Array<[string, (result: AskResult) => boolean]> = [
    ['mushroom pasta', (r) => /\bpasta\b/.test(keywordsOf(r)) && /mushroom/i.test(textOf(r))],
    ['chicken curry', (r) => /\bcurry\b/.test(keywordsOf(r)) && /chicken/i.test(textOf(r))],
    ['shrimp pasta', (r) => /\bpasta\b/.test(keywordsOf(r)) && /prawn|shrimp/i.test(textOf(r))],
    ['spicy thai curry with prawns', (r) => /\bspicy\b/.test(keywordsOf(r)) && r.schema_object.recipeCuisine === 'Thai' && /prawn/i.test(textOf(r))],
    ['tofu stir fry', (r) => /\bstir-fry\b/.test(keywordsOf(r)) && /tofu/i.test(textOf(r))],
    ['beef stew', (r) => /Beef Stew/.test(r.name)],
    ['tacos', (r) => /Tacos/.test(r.name)], // not the quesadillas whose ingredients hold "taco seasoning"
    ['quick chicken dinner', (r) => r.schema_object.recipeCategory === 'Dinner' && /chicken/i.test(textOf(r)) && minutes(r) <= 30]
  ]
  for (const [query, fits] of cases) {
    const { results } = await answer({ query })
    t.ok(results.length > 0, `${query}: some results`)
    t.same(results.filter((result) => !fits(result)).map((result) => result.name), [], `${query}: every result fits`)
  }
})

t.test('words match as whole words: "rice" is not "ricotta", "eggs" are not "eggplant"', async (t) => {
  const rice = await answer({ query: 'rice dishes' })
  t.ok(rice.results.length > 0)
  t.same(rice.results.filter((result) => !/\brice\b/i.test(`${textOf(result)} ${keywordsOf(result)}`)).map((result) => result.name), [])
  const eggs = await answer({ query: 'recipes with eggs' })
  t.ok(eggs.results.length > 0)
  t.notOk(eggs.results.some((result) => /eggplant|aubergine/i.test(textOf(result))))
})

t.test('"without cheese", "nut-free" and "dairy-free" know what cheese, nuts and dairy are', async (t) => {
  const pasta = await answer({ query: 'pasta without cheese' })
  t.equal(pasta.results.length, 10)
  t.same(pasta.results.filter((result) => /cheese|parmesan|mozzarella|ricotta|pesto|feta/i.test(textOf(result))).map((result) => result.name), [])

  const snack = await answer({ query: 'nut-free snack' })
  t.ok(snack.results.length > 0)
  t.same(snack.results.filter((result) => /\b(?:pine nuts|peanuts?|almonds|cashews|walnuts)\b/i.test(textOf(result))).map((result) => result.name), [])

  const dessert = await answer({ query: 'dairy-free dessert' })
  t.ok(dessert.results.length > 0)
  const dairy = (result: AskResult): boolean => (result.schema_object.recipeIngredient ?? [])
    .some((line) => /\b(?:milk|cream|butter|cheese|yoghurt|pastry)\b/i.test(line) && !/\b(?:coconut|almond|oat|plant) (?:milk|cream)|peanut butter/i.test(line))
  t.same(dessert.results.filter(dairy).map((result) => result.name), [])

  const seafood = await answer({ query: 'pasta with seafood' })
  t.ok(seafood.results.length > 0)
  t.ok(seafood.results.every((result) => /\bpasta\b/.test(keywordsOf(result)) && /prawn|tuna/i.test(textOf(result))))
})

t.test('synonyms and typos find the same dishes: prawn is shrimp, "mushrom" is mushroom', async (t) => {
  t.same(namesOf((await answer({ query: 'prawn pasta' })).results), namesOf((await answer({ query: 'shrimp pasta' })).results))
  t.same(namesOf((await answer({ query: 'courgette' })).results).sort(), namesOf((await answer({ query: 'zucchini' })).results).sort())
  t.same(namesOf((await answer({ query: 'mushrom pasta' })).results), namesOf((await answer({ query: 'mushroom pasta' })).results))
  const sweet = await answer({ query: 'something sweet' })
  t.notOk(sweet.results.some((result) => /Sweet Potato/.test(result.name)), '"sweet" is not "sweet potato"')
})

t.test('when nothing has every word, the closest come first and the summary says so', async (t) => {
  const { results, summary } = await answer({ query: 'chicken and mushroom' })
  t.ok(results.length > 0)
  t.ok(results.every((result) => /chicken|mushroom/i.test(textOf(result))))
  t.match(results[0]?.name, /Mushroom/, 'the dish asked for (the last word) weighs most')
  t.match(summary, /^Nothing matches all of "chicken and mushroom"\. Closest: /)
  t.same(namedIn(summary).filter((name) => !namesOf(results).includes(name)), [])
})

t.test('"quickest" lists the quickest first; scores never rise down the list', async (t) => {
  const { results } = await answer({ query: 'quickest vegetarian pasta' })
  t.equal(results.length, 10)
  const times = results.map(minutes)
  t.same(times, [...times].sort((a, b) => a - b))
  const scores = results.map((result) => result.score)
  t.same(scores, [...scores].sort((a, b) => b - a))
})

t.test('the summary: the diets all results share, and a quickest that is one of them', async (t) => {
  const curry = await answer({ query: 'vegan curry' })
  t.ok(curry.results.every((result) => dietsOf(result).includes(VEGAN)))
  t.match(curry.summary, /All 10 are vegan( and gluten-free)?\./)
  for (const query of ['vegan curry', 'pasta recipes', 'soup', 'mushroom pasta', 'chocolate']) {
    const { results, summary } = await answer({ query })
    const quickest = /Quickest: (.+?), (\d+) minutes\./.exec(summary)
    if (quickest === null) {
      t.equal(minutes(results[0] as AskResult), Math.min(...results.map(minutes)), `${query}: no "Quickest" when the first listed is`)
      continue
    }
    const named = results.find((result) => result.name === quickest[1])
    t.ok(named, `${query}: the quickest named is a result`)
    t.equal(Number(quickest[2]), Math.min(...results.map(minutes)), `${query}: and the quickest of them`)
  }
})

t.test('small talk finds nothing; "what should I cook tonight?" suggests dinners', async (t) => {
  for (const query of ['thanks!', 'hello']) t.same((await answer({ query })).frames.map((frame) => frame.message_type), ['no_results', 'complete'], query)
  const tonight = await answer({ query: 'what should I cook tonight?' })
  t.ok(tonight.results.length > 0)
  t.ok(tonight.results.every((result) => result.schema_object.recipeCategory === 'Dinner'))
})
