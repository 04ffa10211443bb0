// The host's NLWeb-style /ask handler: a natural-language question in, a stream of frames out.
//   [decontextualized_query]   when a follow-up was rewritten using `prev` / `last_ans`
//   result_batch …             the top `limit` hits, `batchSize` per frame
//   summary                    from the Summarizer seam
//   complete
// No hits: no_results, complete. A failure inside: error (safe text), complete.
// An aborted `signal` stops the stream between frames: the handler rejects with the signal's reason.
// The index is built once, when the handler is created.
import { randomUUID } from 'node:crypto'
import { loadRecipes } from './dataset.ts'
import { decontextualize } from './decontextualize.ts'
import type { AskResult, Item } from './item.ts'
import { parseQuery } from './query-parse.ts'
import { createSearchIndex } from './search-index.ts'
import { summarizeResults, type Summarizer } from './summarize.ts'

export type { AskResult, Item } from './item.ts'
export type { Summarizer, SummaryContext } from './summarize.ts'

export interface AskParams {
  query: string
  /** one hostname, a comma-separated list, or 'all' (the default) */
  site?: string
  /** the earlier queries of this conversation, oldest first */
  prev?: string[]
  /** the answers last shown, so "the second one" can be resolved */
  last_ans?: Array<{ title: string, url?: string }>
  query_id?: string
}

export type AskFrame = Record<string, unknown> & { message_type: string }

export interface AskSink { write (frame: AskFrame): void | Promise<void> }

export type AskHandler = (params: AskParams, sink: AskSink, options?: { signal?: AbortSignal }) => Promise<void>

export interface AskHandlerOptions {
  /** the catalogue; defaults to the shipped recipes (examples/data/recipes.json) */
  items?: Item[]
  /** writes the summary; defaults to a plain-text summary of the top hits */
  summarize?: Summarizer
  /** how many results to send (default 10) */
  limit?: number
  /** results per result_batch frame (default 5) */
  batchSize?: number
}

const FAILED = 'Sorry, something went wrong while answering this question.'

export function createAskHandler (opts: AskHandlerOptions = {}): AskHandler {
  const index = createSearchIndex(opts.items ?? loadRecipes())
  const summarize = opts.summarize ?? summarizeResults
  const limit = opts.limit ?? 10
  const batchSize = opts.batchSize ?? 5

  return async function ask (params, sink, options = {}) {
    const { signal } = options
    const queryId = params.query_id !== undefined && params.query_id !== '' ? params.query_id : randomUUID()
    const send = async ({ message_type: type, ...fields }: AskFrame): Promise<void> => {
      signal?.throwIfAborted()
      await sink.write({ message_type: type, query_id: queryId, ...fields })
    }

    try {
      if (typeof params.query !== 'string' || params.query.trim() === '') throw new TypeError('query is required')
      const { query, rewritten, among } = decontextualize(params.query, params.prev, params.last_ans)
      if (rewritten) await send({ message_type: 'decontextualized_query', decontextualized_query: query })

      const prefer = among === undefined ? undefined : new Set(among.flatMap((answer) => answer.url ?? []))
      const { results, match } = index.search(parseQuery(query), { sites: sitesOf(params.site), limit, prefer })
      if (results.length === 0) {
        await send({ message_type: 'no_results', message: `No results found for "${query}".` })
        await send({ message_type: 'complete' })
        return
      }
      for (let start = 0; start < results.length; start += batchSize) {
        await send({ message_type: 'result_batch', results: results.slice(start, start + batchSize) satisfies AskResult[] })
      }
      signal?.throwIfAborted()
      await send({ message_type: 'summary', message: await summarize(query, results, { match }) })
      await send({ message_type: 'complete' })
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason
      try {
        await sink.write({ message_type: 'error', query_id: queryId, message: FAILED })
        await sink.write({ message_type: 'complete', query_id: queryId })
      } catch {
        throw err // the sink itself is broken: let the caller see the original failure
      }
    }
  }
}

function sitesOf (site: string | undefined): string[] {
  if (site === undefined) return []
  const sites = site.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '')
  return sites.includes('all') ? [] : sites
}
