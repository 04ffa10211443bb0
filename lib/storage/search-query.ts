import { CHAT_ERR_BAD_REQUEST } from '../errors.ts'
import type { Page } from './types.ts'

/**
 * What a history search (`ChatStorage.searchMessages`) means, the same for every storage: the words of the
 * query, and the cursor that pages through the ranked matches.
 *
 * A query is a list of words, never syntax: the words are the runs of letters, digits and combining marks in
 * `q`, lowercased, so `AND`, `NEAR`, `*`, quotes, `:`, `^`, `-` and parentheses are either plain words or
 * separators. A message matches when it holds any of the words; one holding more of them (or holding them
 * more often) ranks higher; equal ranks come newest (highest seq) first.
 */

/** Runs of letters, digits, combining marks and private-use characters (the SQLite index's word characters). */
const WORD = /[\p{L}\p{N}\p{M}\p{Co}]+/gu

/** The words of a text, lowercased, repeats included. */
export function searchWords (text: string): string[] {
  return text.normalize('NFC').toLowerCase().match(WORD) ?? []
}

/** The distinct words of a query, in the order they first appear. */
export function searchTerms (q: string): string[] {
  return [...new Set(searchWords(q))]
}

/** Where a page walk stands: how many ranked matches came before, and the highest seq it searches. */
export interface SearchPosition {
  offset: number
  /**
   * The conversation's lastSeq when the walk began: later messages stay out of it, so new matches arriving
   * between two pages neither repeat a message nor push one past the cursor.
   */
  ceiling: number
}

const CURSOR = /^(\d{1,10})\.(\d{1,10})$/

/** The position a `cursor` names; undefined for the first page. BAD_REQUEST for a cursor no search gave. */
export function readSearchCursor (cursor: string | undefined): SearchPosition | undefined {
  if (cursor === undefined) return undefined
  const found = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('latin1'))
  if (found === null) throw new CHAT_ERR_BAD_REQUEST('cursor: not a nextCursor of this search')
  return { ceiling: Number(found[1]), offset: Number(found[2]) }
}

function searchCursor ({ ceiling, offset }: SearchPosition): string {
  return Buffer.from(`${ceiling}.${offset}`, 'latin1').toString('base64url')
}

/**
 * A page from the matches at `position`, read with one more than `limit` (`rows`): the extra one, when
 * there, says that a next page exists.
 */
export function searchPage<T> (rows: T[], limit: number, position: SearchPosition): Page<T> {
  if (limit <= 0) return { items: [], nextCursor: null }
  if (rows.length <= limit) return { items: rows, nextCursor: null }
  return { items: rows.slice(0, limit), nextCursor: searchCursor({ ceiling: position.ceiling, offset: position.offset + limit }) }
}
