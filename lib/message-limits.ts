import { CHAT_ERR_BAD_REQUEST, CHAT_ERR_TOO_LARGE } from './errors.ts'
import type { ResolvedOptions } from './options.ts'

/** How deep a message's or conversation's `metadata` may nest. */
export const MAX_METADATA_DEPTH = 16

type Limits = Pick<ResolvedOptions['limits'], 'maxMessageBytes' | 'maxMetadataBytes'>

/** True when a JSON value nests deeper than `max` (walked level by level, so no recursion limit applies). */
export function depthOver (value: unknown, max: number): boolean {
  let level: unknown[] = [value]
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > max) return true
    const next: unknown[] = []
    for (const v of level) {
      if (typeof v === 'object' && v !== null) next.push(...Object.values(v))
    }
    level = next
  }
  return false
}

/** Metadata is the client's own JSON: bounded in size and depth so it can neither flood nor break a frame. */
export function checkMetadata (metadata: Record<string, unknown> | undefined, limits: Limits): void {
  if (metadata === undefined) return
  if (depthOver(metadata, MAX_METADATA_DEPTH)) throw new CHAT_ERR_BAD_REQUEST(`metadata is nested deeper than ${MAX_METADATA_DEPTH}`)
  const bytes = Buffer.byteLength(JSON.stringify(metadata))
  if (bytes > limits.maxMetadataBytes) {
    throw new CHAT_ERR_TOO_LARGE(`metadata is ${bytes} bytes, the limit is ${limits.maxMetadataBytes}`)
  }
}

/** Content is not blank and fits `maxMessageBytes` (UTF-8 bytes, not characters). */
export function checkContent (content: string, limits: Limits): void {
  if (content.trim().length === 0) throw new CHAT_ERR_BAD_REQUEST('content must not be empty')
  const bytes = Buffer.byteLength(content)
  if (bytes > limits.maxMessageBytes) {
    throw new CHAT_ERR_TOO_LARGE(`content is ${bytes} bytes, the limit is ${limits.maxMessageBytes}`)
  }
}
