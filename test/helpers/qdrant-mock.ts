import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { searchWords } from '../../lib/storage/search-query.ts'

/**
 * A MOCK of Qdrant, not Qdrant: an in-process node:http server that answers the few REST endpoints
 * lib/storage/qdrant.ts uses, so the adapter runs in CI where no Qdrant server can. It keeps points in memory
 * and ranks by exact cosine; it knows filters of `must` and `should` conditions with `match: { value }`,
 * `match: { text }` (as a full-text index with the word tokenizer, lowercased, would: the words of
 * search-query.ts) and `range: { lte }` only, one unnamed vector per point, and nothing of HNSW, shards or
 * consistency; ties in score come in the order the points were first written (oldest first). What it proves is that the adapter
 * speaks this subset as the client sends it; the same tests run against a real server when QDRANT_URL is set.
 */
export interface QdrantMock {
  url: string
  /** While set, every request gets 503, as a Qdrant that is restarting would answer. */
  failing: boolean
  /** The points of a collection, by id. */
  points (collection: string): Map<string, StoredPoint>
  /** How many requests came, failed ones included. */
  requests: number
  /** How many requests reached each route (`METHOD /path` with the collection name as `:c`). */
  calls: Map<string, number>
  close (): Promise<void>
}

export interface StoredPoint {
  vector: number[]
  payload: Record<string, unknown>
}

interface Collection {
  size: number
  points: Map<string, StoredPoint>
}

interface Condition {
  key: string
  match?: { value?: unknown, text?: string }
  range?: { lte?: number }
}

interface Filter {
  must?: Condition[]
  should?: Condition[]
}

export async function startQdrantMock (): Promise<QdrantMock> {
  const collections = new Map<string, Collection>()
  const calls = new Map<string, number>()

  function holds (point: StoredPoint, c: Condition): boolean {
    const value = point.payload[c.key]
    if (c.range?.lte !== undefined) return typeof value === 'number' && value <= c.range.lte
    if (c.match?.text !== undefined) { // a word-tokenized, lowercased full-text index: all the words of `text`
      const words = new Set(searchWords(String(value)))
      return searchWords(c.match.text).every((w) => words.has(w))
    }
    return value === c.match?.value
  }

  function matches (point: StoredPoint, filter: Filter | undefined): boolean {
    const should = filter?.should ?? []
    return (filter?.must ?? []).every((c) => holds(point, c)) && (should.length === 0 || should.some((c) => holds(point, c)))
  }

  /** What one request answers: [status, result]. */
  function handle (method: string, path: string[], body: any): [number, unknown] {
    const [root, name, sub, action] = path
    if (root !== 'collections' || name === undefined) return [404, null]
    const collection = collections.get(name)
    const route = `${method} /collections/:c${sub === undefined ? '' : `/${sub}`}${action === undefined ? '' : `/${action}`}`
    calls.set(route, (calls.get(route) ?? 0) + 1)
    switch (route) {
      case 'GET /collections/:c/exists': return [200, { exists: collection !== undefined }]
      case 'PUT /collections/:c':
        if (collection !== undefined) return [409, `Collection \`${name}\` already exists!`]
        collections.set(name, { size: body.vectors.size, points: new Map() })
        return [200, true]
    }
    if (collection === undefined) return [404, `Collection \`${name}\` doesn't exist!`]
    const done = { operation_id: 0, status: 'completed' }
    switch (route) {
      case 'GET /collections/:c':
        return [200, { status: 'green', points_count: collection.points.size, config: { params: { vectors: { size: collection.size, distance: 'Cosine' } } } }]
      case 'DELETE /collections/:c': return [200, collections.delete(name)]
      case 'PUT /collections/:c/index': return [200, done]
      case 'POST /collections/:c/points/count':
        return [200, { count: [...collection.points.values()].filter((p) => matches(p, body.filter)).length }]
      case 'PUT /collections/:c/points':
        for (const p of body.points) {
          if (p.vector.length !== collection.size) return [400, `Wrong input: Vector dimension error: expected dim: ${collection.size}, got ${p.vector.length}`]
        }
        for (const p of body.points) collection.points.set(String(p.id), { vector: p.vector, payload: p.payload ?? {} })
        return [200, done]
      case 'POST /collections/:c/points/delete':
        if (Array.isArray(body.points)) for (const id of body.points) collection.points.delete(String(id))
        else for (const [id, p] of collection.points) if (matches(p, body.filter)) collection.points.delete(id)
        return [200, done]
      case 'POST /collections/:c/points/query': {
        const scored = [...collection.points]
          .filter(([, p]) => matches(p, body.filter))
          .map(([id, p]) => ({ id, score: cosine(body.query, p.vector), payload: p.payload }))
          .filter((p) => body.score_threshold == null || p.score >= body.score_threshold)
          .sort((a, b) => b.score - a.score) // stable: ties in the order the points were first written
        const offset = body.offset ?? 0
        const keys: string[] | null = Array.isArray(body.with_payload) ? body.with_payload : null
        return [200, {
          points: scored.slice(offset, offset + (body.limit ?? 10)).map((p) => ({
            id: p.id,
            version: 0,
            score: p.score,
            payload: keys === null ? p.payload : Object.fromEntries(keys.map((k) => [k, p.payload[k]]))
          }))
        }]
      }
    }
    return [404, `No mock for ${route}`]
  }

  const mock: QdrantMock = {
    url: '',
    failing: false,
    requests: 0,
    calls,
    points: (name) => collections.get(name)?.points ?? new Map(),
    close: () => new Promise((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections() // the client keeps connections alive
    })
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => { text += chunk })
    req.on('end', () => {
      mock.requests++
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      if (mock.failing) return reply(503, { status: { error: 'Service unavailable (mock)' }, time: 0 })
      const url = new URL(req.url ?? '/', 'http://mock')
      let status: number, result: unknown
      try {
        [status, result] = handle(req.method ?? 'GET', url.pathname.split('/').filter(Boolean).map(decodeURIComponent), text === '' ? {} : JSON.parse(text))
      } catch (err) {
        [status, result] = [400, `Bad request (mock): ${(err as Error).message}`]
      }
      if (status === 200) reply(200, { result, status: 'ok', time: 0 })
      else reply(status, { status: { error: result }, time: 0 })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  mock.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return mock
}

function cosine (a: number[], b: number[]): number {
  let dot = 0; let na = 0; let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i]
    na += a[i] * a[i]
    nb += b[i] * b[i]
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}
