import { CHAT_ERR_BAD_REQUEST, CHAT_ERR_TOO_LARGE } from './errors.ts'
import type { ResolvedOptions } from './options.ts'

/** How deep a message's or conversation's `metadata` may nest. */
export const MAX_METADATA_DEPTH = 16

type Limits = Pick<ResolvedOptions['limits'], 'maxMessageBytes' | 'maxMetadataBytes'>

/** A UTF-16 surrogate that is not half of a pair: not a character, and storage would replace or refuse it. */
const LONE_SURROGATE = /\p{Cs}/u

/**
 * What a JSON value holds, walked level by level without recursion and without spreading a level into one
 * call (a `push(...values)` of an array of 150k elements overflows the stack): `deep` when it nests deeper
 * than `maxDepth`, `wide` when it holds more than `maxValues` values, `unpaired` when a key or a string holds
 * a lone surrogate (PostgreSQL's jsonb refuses one). The walk stops at the first finding.
 */
export function measureJson (value: unknown, maxDepth: number, maxValues: number): 'ok' | 'deep' | 'wide' | 'unpaired' {
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? 'unpaired' : 'ok'
  let level: unknown[] = [value]
  let values = 0
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > maxDepth) return 'deep'
    const next: unknown[] = []
    for (const v of level) {
      if (typeof v !== 'object' || v === null) continue
      const entries = Object.entries(v)
      values += entries.length
      if (values > maxValues) return 'wide'
      const isArray = Array.isArray(v)
      for (const [key, child] of entries) {
        if (!isArray && LONE_SURROGATE.test(key)) return 'unpaired'
        if (typeof child === 'string' && LONE_SURROGATE.test(child)) return 'unpaired'
        next.push(child) // leaves too: a leaf one level too deep is too deep
      }
    }
    level = next
  }
  return 'ok'
}

/** True when a JSON value nests deeper than `max` (walked level by level, so no recursion limit applies). */
export function depthOver (value: unknown, max: number): boolean {
  return measureJson(value, max, Number.POSITIVE_INFINITY) === 'deep'
}

/** Metadata is the client's own JSON: bounded in size and depth so it can neither flood nor break a frame. */
export function checkMetadata (metadata: Record<string, unknown> | undefined, limits: Limits): void {
  if (metadata === undefined) return
  // Every value costs at least one byte plus a separator once serialized: more values than the byte limit
  // cannot fit, and saying so early bounds the walk by the limit rather than by the body.
  const shape = measureJson(metadata, MAX_METADATA_DEPTH, limits.maxMetadataBytes)
  if (shape === 'deep') throw new CHAT_ERR_BAD_REQUEST(`metadata is nested deeper than ${MAX_METADATA_DEPTH}`)
  if (shape === 'wide') throw new CHAT_ERR_TOO_LARGE(`metadata holds more values than fit in ${limits.maxMetadataBytes} bytes`)
  if (shape === 'unpaired') throw new CHAT_ERR_BAD_REQUEST('metadata is not valid Unicode (a lone surrogate)')
  const bytes = Buffer.byteLength(JSON.stringify(metadata))
  if (bytes > limits.maxMetadataBytes) {
    throw new CHAT_ERR_TOO_LARGE(`metadata is ${bytes} bytes, the limit is ${limits.maxMetadataBytes}`)
  }
}

/**
 * A character that shows something. Blank content is made only of the others: white space, controls, format
 * characters (zero-width space/joiners, word joiner, BOM, soft hyphen, bidi marks, tags), default-ignorable
 * code points (variation selectors, Hangul fillers), combining marks with nothing to combine with, and the
 * blank Braille pattern.
 */
const VISIBLE = /[^\p{White_Space}\p{Cc}\p{Cf}\p{M}\p{Default_Ignorable_Code_Point}\u2800]/u

/** True when content shows nothing to a reader (empty, spaces, or only invisible characters). */
export function isBlank (content: string): boolean {
  return !VISIBLE.test(content)
}

/** Content is not blank, is well-formed Unicode, and fits `maxMessageBytes` (UTF-8 bytes, not characters). */
export function checkContent (content: string, limits: Limits): void {
  const bytes = Buffer.byteLength(content)
  if (bytes > limits.maxMessageBytes) {
    throw new CHAT_ERR_TOO_LARGE(`content is ${bytes} bytes, the limit is ${limits.maxMessageBytes}`)
  }
  if (isBlank(content)) throw new CHAT_ERR_BAD_REQUEST('content must not be empty or only invisible characters')
  if (LONE_SURROGATE.test(content)) throw new CHAT_ERR_BAD_REQUEST('content is not valid Unicode (a lone surrogate)')
}
