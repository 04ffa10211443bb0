import t from 'tap'
import { decontextualize } from '../../examples/nlweb/decontextualize.ts'
import { createAskHandler, type AskFrame, type AskParams, type AskResult } from '../../examples/nlweb/handler.ts'
import { minutesOf } from '../../examples/nlweb/item.ts'

// the shipped dataset, indexed once for the whole file
const ask = createAskHandler()

async function answer (params: AskParams): Promise<{ rewritten: unknown, results: AskResult[] }> {
  const frames: AskFrame[] = []
  await ask(params, { write (frame) { frames.push(frame) } })
  return {
    rewritten: frames.find((frame) => frame.message_type === 'decontextualized_query')?.decontextualized_query,
    results: frames.filter((frame) => frame.message_type === 'result_batch').flatMap((frame) => frame.results as AskResult[])
  }
}

const VEGETARIAN = 'https://schema.org/VegetarianDiet'
const shown = (results: AskResult[]): Array<{ title: string, url: string }> => results.map((result) => ({ title: result.name, url: result.url }))
const textOf = (result: AskResult): string => `${result.name} ${String(result.schema_object.recipeIngredient)}`
const isPasta = (result: AskResult): boolean => /\bpasta\b/.test(String(result.schema_object.keywords))
const isVegetarian = (result: AskResult): boolean => (result.schema_object.suitableForDiet as unknown[]).includes(VEGETARIAN)

t.test('follow-ups become standalone queries that read as English', async (t) => {
  const cases: Array<[prev: string[], typed: string, standalone: string]> = [
    // questions about what was shown
    [['vegetarian pasta'], 'which of these has mushrooms?', 'vegetarian pasta with mushrooms'],
    [['pasta recipes'], 'any of them vegetarian?', 'vegetarian pasta recipes'],
    [['curry'], 'which ones are quick?', 'quick curry'],
    [['vegetarian pasta'], 'which is the quickest?', 'quickest vegetarian pasta'],
    [['stir fry'], 'do any of these use tofu', 'stir fry with tofu'],
    [['chocolate cake'], 'which of them are gluten-free?', 'gluten-free chocolate cake'],
    [['vegan dessert'], 'which ones have peanuts', 'vegan dessert with peanuts'],
    [['pasta'], 'any without cheese?', 'pasta without cheese'],
    [['curry'], 'can I make it vegan', 'vegan curry'],
    [['curry'], 'show me something similar but vegan', 'vegan curry'],
    [['vegetarian curry'], 'any spicy ones?', 'spicy vegetarian curry'],
    [['pasta'], 'which ones are easy?', 'easy pasta'],
    // refinements and alternatives
    [['pasta recipes'], 'what about with chicken', 'pasta recipes with chicken'],
    [['pasta recipes'], 'how about a chicken one', 'pasta recipes with chicken'],
    [['vegetarian pasta'], 'what about mushrooms', 'vegetarian pasta with mushrooms'],
    [['pasta with mushrooms'], 'something with chicken instead', 'pasta with chicken'],
    [['quick vegan curry'], 'what about under 20 minutes', 'vegan curry under 20 minutes'],
    [['vegan curry'], 'and gluten-free?', 'gluten-free vegan curry'],
    [['dessert without nuts'], 'nut-free ones?', 'nut-free dessert'],
    [['show me vegetarian pasta recipes'], 'and vegan?', 'vegan pasta recipes'],
    // a new dish keeps the constraints
    [['vegetarian pasta'], 'and for dessert?', 'vegetarian dessert'],
    [['quick vegan curry'], 'what about dessert', 'quick vegan dessert'],
    [['vegetarian pasta'], 'what about mexican?', 'vegetarian mexican'],
    // what cannot go together gives way to the newer wish
    [['vegetarian pasta'], 'what about with chicken', 'pasta with chicken'],
    [['vegetarian pasta', 'which of these has mushrooms?'], 'what about with chicken', 'pasta with chicken'],
    [['vegetarian curry'], 'and something with prawns', 'curry with prawns'],
    [['pasta with chicken'], 'any vegan ones?', 'vegan pasta'],
    [['chicken curry'], 'any vegetarian ones?', 'vegetarian curry'],
    [['salad without cheese'], 'what about with feta', 'salad with feta'],
    [['vegetarian pasta'], 'what about chicken curry', 'chicken curry'],
    // new questions stand as typed
    [['pasta recipes'], 'chocolate dessert', 'chocolate dessert'],
    [['vegan curry'], 'one-pot pasta', 'one-pot pasta'],
    [['curry'], 'thanks!', 'thanks!']
  ]
  for (const [prev, typed, standalone] of cases) {
    t.equal(decontextualize(typed, prev).query, standalone, `${JSON.stringify(prev)} + "${typed}"`)
  }
})

t.test('no rewrite keeps question words or dangling prepositions ("which of has mushrooms")', async (t) => {
  const followUps = ['which of these has mushrooms?', 'any of them vegetarian?', 'do any of these use tofu', 'which is the quickest?',
    'which ones are quick?', 'can I make it vegan', 'what about with chicken', 'and for dessert?', 'any without cheese?']
  for (const prev of [['pasta recipes'], ['vegetarian pasta'], ['quick curry', 'and vegan ones?'], ['soup under 40 minutes']]) {
    for (const typed of followUps) {
      const { query } = decontextualize(typed, prev)
      t.notMatch(query, /\b(?:which|what|any|these|them|those|of|do|does|is|are|can|it|has|have|use|and|for)\b\s*(?:with\b|$)|\b(?:which|these|them|those)\b|^(?:of|with|for|do|does|can|is|are|any|what|how)\b/, `${JSON.stringify(prev)} + "${typed}" → "${query}"`)
    }
  }
})

t.test('"which of these has mushrooms?" answers among the pastas shown first', async (t) => {
  const pasta = await answer({ query: 'vegetarian pasta' })
  const { rewritten, results } = await answer({ query: 'which of these has mushrooms?', prev: ['vegetarian pasta'], last_ans: shown(pasta.results) })
  t.equal(rewritten, 'vegetarian pasta with mushrooms')
  t.ok(results.length > 0)
  t.ok(results.every((result) => isPasta(result) && isVegetarian(result) && /mushroom/i.test(textOf(result))))
  const seen = new Set(pasta.results.map((result) => result.url))
  const firstUnseen = results.findIndex((result) => !seen.has(result.url))
  t.ok(results.some((result) => seen.has(result.url)), 'some were shown')
  if (firstUnseen !== -1) t.ok(results.slice(firstUnseen).every((result) => !seen.has(result.url)), 'the ones shown come first')
})

t.test('"which is the quickest?" answers among those shown, quickest first', async (t) => {
  const pasta = await answer({ query: 'vegetarian pasta' })
  const { rewritten, results } = await answer({ query: 'which is the quickest?', prev: ['vegetarian pasta'], last_ans: shown(pasta.results) })
  t.equal(rewritten, 'quickest vegetarian pasta')
  t.same(results.map((result) => result.url).sort(), pasta.results.map((result) => result.url).sort(), 'the same ten, reordered')
  const times = results.map((result) => minutesOf(result.schema_object.totalTime) ?? Infinity)
  t.same(times, [...times].sort((a, b) => a - b))
})

t.test('"what about with chicken" after "vegetarian pasta" finds chicken pasta, not vegetarian pasta', async (t) => {
  const { rewritten, results } = await answer({ query: 'what about with chicken', prev: ['vegetarian pasta'] })
  t.equal(rewritten, 'pasta with chicken')
  t.ok(results.length > 0)
  t.ok(results.every((result) => isPasta(result) && /chicken/i.test(textOf(result))))
})

t.test('"any of them vegetarian?" after "pasta recipes" keeps to pasta', async (t) => {
  const { rewritten, results } = await answer({ query: 'any of them vegetarian?', prev: ['pasta recipes'] })
  t.equal(rewritten, 'vegetarian pasta recipes')
  t.equal(results.length, 10)
  t.ok(results.every((result) => isPasta(result) && isVegetarian(result)))
})
