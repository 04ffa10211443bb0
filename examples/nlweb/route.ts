// GET /ask and POST /ask: the host's public NLWeb-style endpoint (no auth), a thin shell around an AskHandler.
//
// Parameters (GET: query string; POST: JSON body):
//   query      required, non-blank
//   site       hostname, comma-separated hostnames or 'all' (default)
//   prev       earlier queries, oldest first: a JSON array string, a repeated parameter, or (GET) one
//              comma-separated value; a POST body sends a JSON array
//   last_ans   the answers last shown, [{ title, url? }]: a JSON array (or, on GET, its JSON string)
//   query_id   echoed in every frame; generated when absent
//   streaming  true (default) or false
// A bad parameter → 400 { statusCode, code, error, message }.
//
// streaming (default): Server-Sent Events, `content-type: text/event-stream`, one `data: <frame json>\n\n`
//   per frame, in the handler's order, closed after the `complete` frame. A client that disconnects aborts
//   the handler.
// streaming=false: one JSON reply gathered from the same frames:
//   { query_id: string,
//     status: 'ok' | 'no_results' | 'error',
//     decontextualized_query: string | null,   // the rewritten follow-up, when there was one
//     results: AskResult[],                    // every result_batch, concatenated, best first
//     summary: string | null,
//     message: string | null }                 // the no_results or error text
//   with HTTP 200, or 500 when status is 'error'.
import { once } from 'node:events'
import createError from '@fastify/error'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AskFrame, AskHandler, AskParams, AskResult } from './handler.ts'

const AskBadRequest = createError('ASK_ERR_BAD_REQUEST', 'Invalid %s: %s', 400)

const AskInput = Type.Object({
  query: Type.String({ minLength: 1, pattern: '\\S' }),
  site: Type.Optional(Type.String()),
  // Fastify's Ajv coerces a single value to a one-element array
  prev: Type.Optional(Type.Array(Type.String())),
  last_ans: Type.Optional(Type.Unknown()),
  query_id: Type.Optional(Type.String({ maxLength: 200 })),
  streaming: Type.Optional(Type.Boolean())
})
type AskInput = Static<typeof AskInput>

export interface AskReply {
  query_id: string
  status: 'ok' | 'no_results' | 'error'
  decontextualized_query: string | null
  results: AskResult[]
  summary: string | null
  message: string | null
}

export default async function askRoutes (fastify: FastifyInstance, opts: { handler: AskHandler }): Promise<void> {
  const { handler } = opts

  fastify.get<{ Querystring: AskInput }>('/ask', { schema: { querystring: AskInput }, exposeHeadRoute: false }, (request, reply) =>
    answer(request, reply, request.query, true))
  fastify.post<{ Body: AskInput }>('/ask', { schema: { body: AskInput } }, (request, reply) =>
    answer(request, reply, request.body, false))

  async function answer (request: FastifyRequest, reply: FastifyReply, input: AskInput, fromQueryString: boolean): Promise<unknown> {
    const params: AskParams = {
      query: input.query,
      site: input.site,
      prev: readPrev(input.prev, fromQueryString),
      last_ans: readLastAnswers(input.last_ans),
      query_id: input.query_id
    }
    // a client that goes away before the answer is complete aborts the handler
    const controller = new AbortController()
    reply.raw.on('close', () => { if (!reply.raw.writableFinished) controller.abort() })

    if (input.streaming === false) {
      const frames: AskFrame[] = []
      await handler(params, { write (frame) { frames.push(frame) } }, { signal: controller.signal })
      const body = gather(frames, params.query_id)
      return reply.code(body.status === 'error' ? 500 : 200).send(body)
    }

    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no'
    })
    const sink = {
      async write (frame: AskFrame): Promise<void> {
        if (!raw.write(`data: ${JSON.stringify(frame)}\n\n`)) await once(raw, 'drain', { signal: controller.signal })
      }
    }
    try {
      await handler(params, sink, { signal: controller.signal })
    } catch (err) {
      if (!controller.signal.aborted) request.log.error({ err }, 'ask handler failed')
    } finally {
      raw.end()
    }
    return undefined
  }
}

function readPrev (values: string[] | undefined, splitCommas: boolean): string[] | undefined {
  if (values === undefined) return undefined
  const first = values[0]?.trim() ?? ''
  if (values.length === 1 && first.startsWith('[')) {
    const parsed = parseJson(first, 'prev')
    if (!Array.isArray(parsed) || !parsed.every((entry) => typeof entry === 'string')) throw new AskBadRequest('prev', 'expected an array of strings')
    return parsed
  }
  const entries = values.length === 1 && splitCommas ? first.split(',') : values
  return entries.map((entry) => entry.trim()).filter((entry) => entry !== '')
}

function readLastAnswers (value: unknown): AskParams['last_ans'] {
  if (value === undefined) return undefined
  const parsed = typeof value === 'string' ? parseJson(value, 'last_ans') : value
  const list = Array.isArray(parsed) ? parsed : [parsed]
  return list.map((entry) => {
    const { title, url } = (entry ?? {}) as { title?: unknown, url?: unknown }
    if (typeof title !== 'string' || (url !== undefined && typeof url !== 'string')) {
      throw new AskBadRequest('last_ans', 'expected [{ title: string, url?: string }]')
    }
    return url === undefined ? { title } : { title, url }
  })
}

function parseJson (text: string, name: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new AskBadRequest(name, 'not valid JSON')
  }
}

function gather (frames: AskFrame[], givenQueryId: string | undefined): AskReply {
  const body: AskReply = {
    query_id: givenQueryId ?? '',
    status: 'ok',
    decontextualized_query: null,
    results: [],
    summary: null,
    message: null
  }
  for (const frame of frames) {
    if (typeof frame.query_id === 'string') body.query_id = frame.query_id
    switch (frame.message_type) {
      case 'decontextualized_query': body.decontextualized_query = String(frame.decontextualized_query); break
      case 'result_batch': body.results.push(...(frame.results as AskResult[])); break
      case 'summary': body.summary = String(frame.message); break
      case 'no_results': body.status = 'no_results'; body.message = String(frame.message); break
      case 'error': body.status = 'error'; body.message = String(frame.message); break
    }
  }
  return body
}
