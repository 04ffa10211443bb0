// Term processing shared by indexing and querying, so both sides agree: lower-case, strip accents,
// drop stop words and numbers, fold simple English plurals ('tomatoes' → 'tomato', 'brownies' and
// 'brownie' → 'browny').

const STOP_WORDS = new Set([
  'a', 'an', 'the', 'and', 'or', 'of', 'to', 'for', 'in', 'on', 'at', 'by', 'with', 'from', 'into', 'is', 'are', 'be',
  'i', 'me', 'my', 'we', 'our', 'you', 'your', 'it', 'its', 'this', 'that', 'these', 'those', 'them', 'they',
  'what', 'which', 'how', 'can', 'could', 'would', 'should', 'do', 'does', 'some', 'any', 'show', 'find', 'give',
  'want', 'need', 'like', 'please', 'get', 'make', 'cook', 'good', 'best', 'great', 'nice', 'something', 'ideas',
  'idea', 'recipe', 'recipes', 'dish', 'dishes', 'meal', 'meals', 'food', 'one', 'ones', 'about', 'also', 'just',
  'only', 'instead', 'too', 'more', 'other', 'else', 'there', 'here', 'so', 'our', 'go',
  // quantities in ingredient lines
  'g', 'kg', 'ml', 'l', 'litre', 'litres', 'tbsp', 'tsp', 'x', 'pinch', 'handful', 'tin', 'tins'
])

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

/** MiniSearch `processTerm`: the indexed/searched form of a token, or null to drop it. */
export function processTerm (token: string): string | null {
  const word = normalize(token)
  if (word.length === 0 || isStopWord(word) || /^\d+$/.test(word)) return null
  return stem(word)
}
