// Turns a follow-up into a standalone query, NLWeb's "decontextualisation", with plain rules instead of an LLM.
// The conversation so far (`prev`, oldest first) is folded into one context query, read as a frame:
//   [constraints before] topic [with items] [constraints after]     "quick vegetarian pasta with mushrooms under 30 minutes"
// A follow-up is read the same way once its conversational wrapping ("which of these", "any of them", "what
// about", "can I make it") is set aside, and merged into the context:
//   - "the first one" / "the second recipe" / "that one" with `last_ans` → that answer's title;
//   - constraints join the context's, replacing one of the same kind:
//       "and vegetarian ones?" after "pasta recipes" → "vegetarian pasta recipes"
//       "which ones are quick?" after "curry"        → "quick curry"
//       "any without cheese?" after "pasta"          → "pasta without cheese"
//   - what a dish should hold joins the context's ("which of these has mushrooms?" after "vegetarian pasta" →
//     "vegetarian pasta with mushrooms"), or replaces it after "what about"/"how about"/"instead";
//   - a new dish or cuisine switches topic but keeps the constraints: "what about curry?" after
//     "vegetarian pasta" → "vegetarian curry";
//   - what cannot go together is dropped, the newer wish winning: "what about with chicken" after
//     "vegetarian pasta" → "pasta with chicken"; "any vegan ones?" after "pasta with chicken" → "vegan pasta";
//   - anything else (no follow-up wording, a dish of its own) is a new question and stands as typed.
// A follow-up about "these"/"them" also returns the answers last shown (`among`), so the search can put the
// ones the user saw first.
import { breaksDiet, groupsOfWord } from './food-groups.ts'
import { parseQuery, type Constraint } from './query-parse.ts'
import { normalize, processTerm, wordKey } from './terms.ts'

export interface PreviousAnswer { title: string, url?: string }

export interface Decontextualized {
  query: string
  /** true when `query` differs from what was typed */
  rewritten: boolean
  /** the answers last shown, when the follow-up asks among them ("which of these …", "any of them …") */
  among?: PreviousAnswer[]
}

/** a constraint, or a word describing the dish ('spicy', 'easy'), as worded */
type Wording = Pick<Constraint, 'phrase' | 'diet'> & { kind: Constraint['kind'] | 'describe' }

interface Frame {
  /** constraints and descriptions read before the dish: 'quick', 'vegetarian', '15-minute', 'spicy' */
  before: Wording[]
  /** the dish asked for, as worded: 'pasta recipes' ('' when none) */
  topic: string
  /** what it should hold: ['mushrooms'] */
  with: string[]
  /** constraints read after it: 'under 20 minutes', 'without cheese' */
  after: Wording[]
}

const LEAD = /^(?:and|also|but|or|so|then|ok|okay|now|well|maybe|what about|how about|what if|any|only|just|which|instead)\b[\s,]*/
const POINTS_BACK = /\b(?:ones?(?!-)|those|them|these|it|same|similar|instead|too|as well|that one|this one)\b/
const REPLACES = /^(?:what about|how about|what if)\b|\binstead\b/
const AMONG_SHOWN = /\b(?:these|those|them|ones?)\b|^which\b/
const HOLDS = /\b(?:with|featuring|(?:that |which )?(?:has|have|having|uses?|using|contains?|containing|includes?|including))\b/
/** constraint wordings that read after the dish ("pasta under 20 minutes"), the others before it ("quick pasta") */
const READS_AFTER = /^(?:under|in|within|less|at most|no|without|minus|free)\b/
/** words that may end a topic without being search terms: "pasta recipes" */
const TOPIC_NOUNS = new Set(['recipe', 'recipes', 'dish', 'dishes', 'meal', 'meals', 'ideas', 'food'])

// word keys (terms.ts) of what describes a dish rather than names what is in it: "any spicy ones?" asks for
// "spicy curry", not "curry with spicy"
const DESCRIPTIONS = new Set([
  'spicy', 'hot', 'mild', 'creamy', 'cheesy', 'crispy', 'crunchy', 'hearty', 'healthy', 'light', 'lighter', 'easy', 'simple',
  'smoky', 'saucy', 'zesty', 'tangy', 'sticky', 'fresh', 'sweet', 'rich', 'classic', 'baked', 'roasted', 'grilled', 'kid',
  'friendly', 'comforting', 'filling', 'cheap', 'budget', 'fancy', 'elegant', 'festive', 'spiced', 'warming', 'warm', 'cold',
  'fluffy', 'chewy', 'fudgy', 'gooey', 'moist', 'crusty', 'colourful', 'cosy', 'authentic', 'traditional', 'summery'
])

// word keys (terms.ts) of kinds of dish, meals and cuisines: a follow-up naming one asks about something new
const DISHES = new Set([
  'pasta', 'spaghetti', 'penne', 'rigatoni', 'fettuccine', 'fusilli', 'lasagna', 'noodle', 'curry', 'korma', 'tikka',
  'masala', 'dal', 'stir', 'fry', 'fried', 'lo', 'mein', 'pad', 'teriyaki', 'taco', 'burrito', 'enchilada', 'quesadilla',
  'fajita', 'soup', 'stew', 'chili', 'salad', 'bowl', 'burger', 'wrap', 'sandwich', 'panini', 'cake', 'browny', 'cooky',
  'cheesecake', 'mousse', 'pie', 'crumble', 'muffin', 'tart', 'ice', 'pancake', 'porridge', 'smoothie', 'omelette',
  'frittata', 'waffle', 'toast', 'risotto', 'paella', 'pilaf', 'biryani', 'rice', 'bread', 'focaccia', 'scone', 'loaf',
  'pizza', 'gratin', 'mash', 'fritter', 'skewer', 'roast', 'bake', 'casserole', 'dessert', 'breakfast', 'brunch', 'lunch',
  'dinner', 'supper', 'snack', 'side', 'starter', 'appetizer', 'drink', 'baking', 'italian', 'indian', 'thai', 'chinese',
  'japanese', 'mexican', 'french', 'greek', 'spanish', 'american', 'british', 'mediterranean', 'cajun', 'korean',
  'vietnamese', 'middle', 'eastern', 'asian', 'european', 'sri'
])

const ORDINAL: Record<string, number> = { first: 0, '1st': 0, that: 0, second: 1, '2nd': 1, third: 2, '3rd': 2, fourth: 3, '4th': 3, fifth: 4, '5th': 4 }
const ANSWER_REFERENCE = /\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last|that)\s+(?:one|recipe)\b/

export function decontextualize (query: string, prev: string[] = [], lastAnswers: PreviousAnswer[] = []): Decontextualized {
  const typed = query.trim()
  const title = answerReference(typed, lastAnswers)
  if (title !== undefined) return { query: title, rewritten: title !== typed }
  const resolved = resolve(prev.reduce(resolve, ''), typed)
  const among = resolved !== typed && lastAnswers.length > 0 && AMONG_SHOWN.test(normalize(typed)) ? lastAnswers : undefined
  return among === undefined ? { query: resolved, rewritten: resolved !== typed } : { query: resolved, rewritten: true, among }
}

function answerReference (query: string, lastAnswers: PreviousAnswer[]): string | undefined {
  const match = ANSWER_REFERENCE.exec(normalize(query))
  if (match === null || lastAnswers.length === 0) return undefined
  const word = match[1] as string
  const index = word === 'last' ? lastAnswers.length - 1 : ORDINAL[word] ?? 0
  return lastAnswers[index]?.title
}

function resolve (context: string, query: string): string {
  const typed = query.trim()
  if (context === '') return typed

  let text = normalize(typed).replace(/[?!.,;:]+/g, ' ').replace(/\s+/g, ' ').trim()
  let led = false
  for (let lead = LEAD.exec(text); lead !== null && lead[0].length > 0; lead = LEAD.exec(text)) {
    text = text.slice(lead[0].length)
    led = true
  }
  const pointsBack = POINTS_BACK.test(text)
  const asked = readFrame(text)
  const nothingNew = asked.before.length + asked.after.length === 0 && asked.topic === '' && asked.with.length === 0
  if (nothingNew) return led || pointsBack ? context : typed
  const onlyConstraints = asked.topic === '' && asked.with.length === 0
  if (!led && !pointsBack && !onlyConstraints && !/^with(?:out)?\b/.test(text)) return typed

  return render(merge(readFrame(context), asked, REPLACES.test(normalize(typed))))
}

/** Reads a query as constraints, topic and what it should hold. */
function readFrame (query: string): Frame {
  const text = normalize(query).replace(/[?!.,;:]/g, ' ')
  const { constraints } = parseQuery(text)
  let rest = text
  for (const { phrase, at } of constraints) rest = rest.slice(0, at) + ' '.repeat(phrase.length) + rest.slice(at + phrase.length)

  const holds = HOLDS.exec(rest)
  const topicPart = holds === null ? rest : rest.slice(0, holds.index)
  const withPart = holds === null ? '' : rest.slice(holds.index + holds[0].length)
  return {
    before: constraints.filter((constraint) => !READS_AFTER.test(constraint.phrase)),
    topic: topicOf(topicPart),
    with: withPart.split(/\band\b|\bor\b|,/).map(topicOf).filter((item) => item !== ''),
    after: constraints.filter((constraint) => READS_AFTER.test(constraint.phrase))
  }
}

/** From the first search word to the last one (or a trailing "recipes"): "which of these pasta recipes" → "pasta recipes" */
function topicOf (text: string): string {
  const words = text.split(/\s+/).filter((word) => word !== '')
  const first = words.findIndex(isSearchWord)
  if (first === -1) return ''
  let last = words.length - 1
  while (!isSearchWord(words[last] as string) && !TOPIC_NOUNS.has(words[last] as string)) last--
  return words.slice(first, last + 1).join(' ')
}

function isSearchWord (word: string): boolean {
  return processTerm(word) !== null && !/^[^a-z0-9]+$/.test(word)
}

const wordsOf = (text: string): string[] => text.split(/[^a-z0-9]+/).filter(isSearchWord)
const namesDish = (text: string): boolean => wordsOf(text).some((word) => DISHES.has(wordKey(word)))

/** what a wording replaces: 'meat' for vegetarian and vegan (one replaces the other), 'gluten', 'time', 'order', the excluded word, itself */
function kindOf (wording: Wording): string {
  if (wording.kind === 'diet') return wording.diet === 'GlutenFreeDiet' ? 'gluten' : 'meat'
  if (wording.kind === 'exclude') return `exclude ${parseQuery(wording.phrase).exclude.join(' ')}`
  if (wording.kind === 'describe') return `describe ${wording.phrase}`
  return wording.kind
}

/** whether a constraint rules out a dish holding `text` ("vegetarian" rules out "chicken", "without cheese" "feta") */
function rulesOut (constraint: Wording, text: string): boolean {
  return wordsOf(text).some((word) => {
    if (constraint.diet !== undefined) return breaksDiet(word, constraint.diet)
    if (constraint.kind !== 'exclude') return false
    const excluded = parseQuery(constraint.phrase).exclude
    return excluded.includes(wordKey(word)) || groupsOfWord(word).some((group) => excluded.includes(group))
  })
}

function merge (context: Frame, asked: Frame, replaces: boolean): Frame {
  const switches = namesDish(asked.topic)
  const describes = !switches && asked.topic !== '' && wordsOf(asked.topic).every((word) => DESCRIPTIONS.has(wordKey(word)))
  const askedBefore: Wording[] = describes ? [{ kind: 'describe', phrase: asked.topic }, ...asked.before] : asked.before
  const askedConstraints = [...askedBefore, ...asked.after]
  const askedKinds = new Set(askedConstraints.map(kindOf))
  const added = [describes ? '' : asked.topic, ...asked.with].filter((item) => item !== '')
  // the newer wish wins: old constraints give way to new items, old items to new constraints
  const keep = (constraint: Wording): boolean => !askedKinds.has(kindOf(constraint)) && !added.some((item) => rulesOut(constraint, item))
  const compatible = (item: string): boolean => !askedConstraints.some((constraint) => rulesOut(constraint, item))

  // "chicken curry", then "any vegetarian ones?": "vegetarian curry"
  const topic = switches ? asked.topic : context.topic.split(' ').filter(compatible).join(' ')
  const items = switches ? asked.with : replaces && added.length > 0 ? added : [...context.with.filter(compatible), ...added]
  return {
    before: [...askedBefore, ...context.before.filter(keep)],
    topic,
    with: items.filter((item, i) => items.findIndex((other) => wordKey(other) === wordKey(item)) === i),
    after: [...context.after.filter(keep), ...asked.after]
  }
}

function render (frame: Frame): string {
  const items = frame.with.length <= 1 ? frame.with.join('') : `${frame.with.slice(0, -1).join(', ')} and ${frame.with.at(-1) as string}`
  const topic = frame.topic !== '' ? frame.topic : items !== '' ? 'recipes' : ''
  return [...frame.before.map((c) => c.phrase), topic, items === '' ? '' : `with ${items}`, ...frame.after.map((c) => c.phrase)]
    .filter((part) => part !== '').join(' ')
}
