// Term processing shared by indexing and querying, so both sides agree: lower-case, strip accents, read a
// few two-word names as one word ('sweet potato' is not 'sweet'), drop stop words, numbers and single
// letters, fold simple English plurals ('tomatoes' → 'tomato', 'brownies' and 'brownie' → 'browny'), and
// fold British/American and other synonyms onto one word ('prawns' and 'shrimp' → 'shrimp', 'courgette' →
// 'zucchini', 'tonight' → 'dinner').

const STOP_WORDS = new Set([
  'a', 'an', 'the', 'and', 'or', 'of', 'to', 'for', 'in', 'on', 'at', 'by', 'with', 'from', 'into', 'is', 'are', 'be',
  'was', 'were', 'am', 'will', 'i', 'me', 'my', 'we', 'us', 'our', 'you', 'your', 'it', 'its', 'this', 'that', 'these',
  'those', 'them', 'they', 'what', 'which', 'how', 'can', 'could', 'would', 'should', 'do', 'does', 'some', 'any',
  'show', 'find', 'give', 'tell', 'want', 'need', 'like', 'please', 'get', 'make', 'cook', 'good', 'best', 'great',
  'nice', 'something', 'anything', 'ideas', 'idea', 'recipe', 'recipes', 'dish', 'dishes', 'meal', 'meals', 'food',
  'one', 'ones', 'about', 'also', 'just', 'only', 'instead', 'too', 'more', 'other', 'else', 'there', 'here', 'so',
  'go', 'similar', 'version', 'versions', 'option', 'options', 'kind', 'sort', 'type', 'today', 'hi', 'hello',
  'hey', 'thanks', 'thank', 'cheers',
  'has', 'have', 'having', 'use', 'uses', 'using', 'contain', 'contains', 'containing', 'include', 'includes',
  'including', 'made', 'favourite', 'favorite', 'suggest', 'suggestion', 'suggestions', 'recommend', 'try',
  'but', 'if', 'then', 'now', 'ok', 'okay', 'maybe', 'yes', 'yeah', 'well', 'hmm',
  // quantities in ingredient lines
  'g', 'kg', 'ml', 'l', 'litre', 'litres', 'tbsp', 'tsp', 'x', 'pinch', 'handful', 'tin', 'tins'
])

/** one word for each set of synonyms, after stemming */
const CANONICAL: Record<string, string> = {
  prawn: 'shrimp',
  courgette: 'zucchini',
  aubergine: 'eggplant',
  garbanzo: 'chickpea',
  cilantro: 'coriander',
  lasagne: 'lasagna',
  yogurt: 'yoghurt',
  barbecue: 'bbq',
  veg: 'vegetable',
  veggy: 'vegetable',
  pudding: 'dessert',
  desert: 'dessert',
  tonight: 'dinner',
  supper: 'dinner',
  spag: 'spaghetti',
  bol: 'bolognese'
}

/** two-word names read as one word, on both sides: "sweet potatoes" is not "sweet", "stir-fry" not "fry" */
const COMPOUNDS: Array<[RegExp, string]> = [
  [/\bsweet[\s-]+potato(?:e?s)?\b/g, 'sweetpotato'],
  [/\bstir[\s-]*fr(?:y|ies|ied)\b/g, 'stirfry'],
  [/\bice[\s-]+creams?\b/g, 'icecream']
]

export function isStopWord (word: string): boolean {
  return STOP_WORDS.has(word)
}

export function stem (word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return word.slice(0, -3) + 'y'
  if (word.length > 3 && word.endsWith('ie')) return word.slice(0, -2) + 'y'
  if (word.length > 4 && word.endsWith('oes')) return word.slice(0, -2)
  if (word.length > 3 && word.endsWith('s') && !/(?:ss|us|is)$/.test(word)) return word.slice(0, -1)
  return word
}

export function normalize (text: string): string {
  return text.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '')
}

/** The form a word is compared in: normalised, stemmed, synonyms folded ('Prawns' → 'shrimp'). Keeps stop words. */
export function wordKey (word: string): string {
  const stemmed = stem(normalize(word))
  return CANONICAL[stemmed] ?? stemmed
}

/** A text's words, normalised, two-word names joined ('Sweet Potato Stir-Fry' → ['sweetpotato', 'stirfry']). MiniSearch's `tokenize`. */
export function tokenize (text: string): string[] {
  let joined = normalize(text)
  for (const [pattern, word] of COMPOUNDS) joined = joined.replace(pattern, word)
  return joined.split(/[^a-z0-9]+/).filter((word) => word !== '')
}

/** The word keys of a text, in order ('Garlic Prawns, sliced' → ['garlic', 'shrimp', 'sliced']). */
export function wordKeys (text: string): string[] {
  return tokenize(text).map(wordKey)
}

/** MiniSearch `processTerm`: the indexed/searched form of a token, or null to drop it. */
export function processTerm (token: string): string | null {
  const word = normalize(token)
  if (word.length < 2 || isStopWord(word) || /^\d+$/.test(word)) return null
  return wordKey(word)
}
