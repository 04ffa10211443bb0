/**
 * Turns texts into vectors for a vector storage (lib/storage/qdrant.ts). The host brings its own (a model, an
 * embeddings API); `dimensions` is the length of every vector it returns, and the collection is made for it.
 */
export interface Embedder {
  (texts: string[]): Promise<number[][]>
  readonly dimensions: number
}

/**
 * A small deterministic embedder for tests and demos: a hashed bag of words and character trigrams, L2-normalized.
 * It is NOT semantic: "car" and "automobile" share nothing, and words that share letters look alike. Texts that
 * share words score high, texts that share none score near 0 (hash collisions blur that a little; more
 * dimensions blur it less). Use a real embedding model for search that understands meaning.
 */
export function createHashedEmbedder ({ dimensions = 512 }: { dimensions?: number } = {}): Embedder {
  if (!Number.isInteger(dimensions) || dimensions < 8) throw new RangeError('dimensions must be an integer of at least 8')
  const one = (text: string): number[] => {
    const vector = new Array<number>(dimensions).fill(0)
    const add = (feature: string, weight: number) => {
      const h = fnv1a(feature)
      // the top bit picks the sign, so collisions cancel out on average instead of adding up
      vector[(h & 0x7fffffff) % dimensions] += h < 0 ? -weight : weight
    }
    const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
    for (const word of words) {
      add(`w:${word}`, 1)
      const padded = ` ${word} `
      for (let i = 0; i + 3 <= padded.length; i++) add(`t:${padded.slice(i, i + 3)}`, 0.5)
    }
    if (words.length === 0) add(`s:${text.trim()}`, 1) // punctuation only: still not a zero vector
    const norm = Math.hypot(...vector)
    return norm === 0 ? vector : vector.map((x) => x / norm)
  }
  return Object.assign(async (texts: string[]) => texts.map(one), { dimensions })
}

/** 32-bit FNV-1a over UTF-16 code units, as a signed integer. */
function fnv1a (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h | 0
}
