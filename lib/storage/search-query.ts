import { CHAT_ERR_BAD_REQUEST } from '../errors.ts'
import type { Page } from './types.ts'

/**
 * What a history search (`ChatStorage.searchMessages`) means, the same for every storage: the words of the
 * query, how a match ranks, and the cursor that pages through the ranked matches.
 *
 * A query is a list of words, never syntax: the words are the runs of letters, digits and combining marks in
 * `q`, lowercased, so `AND`, `NEAR`, `*`, quotes, `:`, `^`, `-` and parentheses are either plain words or
 * separators; so are the dots, `@` and slashes of addresses, paths and version numbers (`example.com` is the
 * words `example` and `com`). A message matches when it holds any of the words; one holding more of them
 * ranks higher, then one holding them more often; equal ranks come newest (highest seq) first. A message's
 * rank depends on its own text only, never on the other messages or conversations.
 */

/** Runs of letters, digits, combining marks and private-use characters. */
const WORD = /[\p{L}\p{N}\p{M}\p{Co}]+/gu

/**
 * The words of a text, lowercased, repeats included. Final sigma is folded into sigma (`ΟΔΟΣ` and `οδος`
 * are one word whatever lowercased them: PostgreSQL's `lower` knows no final sigma).
 */
export function searchWords (text: string): string[] {
  return text.normalize('NFC').toLowerCase().replaceAll('ς', 'σ').match(WORD) ?? []
}

/** The distinct words of a query, in the order they first appear. */
export function searchTerms (q: string): string[] {
  return [...new Set(searchWords(q))]
}

/**
 * A match's place in the ranking: how many of the query's distinct words it holds, how many times it holds
 * them, its seq. Greater `words`, then greater `hits`, then greater `seq` rank first.
 */
export interface SearchKey {
  words: number
  hits: number
  seq: number
}

/** Negative when `a` ranks before `b`. */
export function compareSearchKeys (a: SearchKey, b: SearchKey): number {
  return b.words - a.words || b.hits - a.hits || b.seq - a.seq
}

/** Where a page walk stands: the highest seq it searches, and the last match it returned (none on the first page). */
export interface SearchPosition {
  /**
   * The conversation's lastSeq when the walk began: later messages stay out of it, so new matches arriving
   * between two pages neither repeat a message nor push one past the cursor.
   */
  ceiling: number
  /**
   * The key of the last match returned: the next page starts with the first match ranking after it. A keyset,
   * not an offset: a message whose rank changes between two pages (an AI answer completing) moves nothing
   * else, so no other match repeats or is skipped.
   */
  after?: SearchKey
}

/** An `after` ranking before every match: what a first page starts from. */
export const SEARCH_START: SearchKey = { words: 2 ** 31 - 1, hits: 2 ** 31 - 1, seq: 2 ** 31 - 1 }

const CURSOR = /^(\d{1,10})\.(-?\d{1,10})\.(\d{1,10})\.(\d{1,10})$/

/** The position a `cursor` names; undefined for the first page. BAD_REQUEST for a cursor no search gave. */
export function readSearchCursor (cursor: string | undefined): SearchPosition | undefined {
  if (cursor === undefined) return undefined
  const found = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('latin1'))
  if (found === null) throw new CHAT_ERR_BAD_REQUEST('cursor: not a nextCursor of this search')
  return { ceiling: Number(found[1]), after: { words: Number(found[2]), hits: Number(found[3]), seq: Number(found[4]) } }
}

function searchCursor (ceiling: number, { words, hits, seq }: SearchKey): string {
  return Buffer.from(`${ceiling}.${words}.${hits}.${seq}`, 'latin1').toString('base64url')
}

/** Whether `key` ranks after the position's last match (every key does on a first page). */
export function isAfter (key: SearchKey, position: SearchPosition): boolean {
  return position.after === undefined || compareSearchKeys(key, position.after) > 0
}

/**
 * A page from the matches ranking after `position`, in rank order, read with one more than `limit` (`rows`):
 * the extra one, when there, says that a next page exists. `keyOf` gives a row's key, for the cursor.
 */
export function searchPage<T> (rows: T[], limit: number, position: SearchPosition, keyOf: (row: T) => SearchKey): Page<T> {
  if (limit <= 0) return { items: [], nextCursor: null }
  if (rows.length <= limit) return { items: rows, nextCursor: null }
  const items = rows.slice(0, limit)
  return { items, nextCursor: searchCursor(position.ceiling, keyOf(items[items.length - 1])) }
}

/**
 * How a message's text scores for `terms` (a query's distinct words): the distinct ones it holds and their
 * occurrences; `words` 0 when it does not match.
 */
export function scoreText (text: string, terms: ReadonlySet<string>): { words: number, hits: number } {
  let hits = 0
  const seen = new Set<string>()
  for (const word of searchWords(text)) {
    if (!terms.has(word)) continue
    hits++
    seen.add(word)
  }
  return { words: seen.size, hits }
}
