import Fastify, { type FastifyInstance } from 'fastify'
import { get } from 'node:http'
import t, { type Test } from 'tap'
import { decontextualize } from '../../examples/nlweb/decontextualize.ts'
import { createAskHandler, type AskFrame, type AskHandler, type AskParams, type AskResult, type Item } from '../../examples/nlweb/handler.ts'
import { minutesOf } from '../../examples/nlweb/item.ts'
import askRoutes, { type AskReply } from '../../examples/nlweb/route.ts'

const VEGETARIAN = 'https://schema.org/VegetarianDiet'
const VEGAN = 'https://schema.org/VeganDiet'
const GLUTEN_FREE = 'https://schema.org/GlutenFreeDiet'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

// the shipped dataset, indexed once for the whole file
const ask = createAskHandler()

async function collect (handler: AskHandler, params: AskParams): Promise<AskFrame[]> {
  const frames: AskFrame[] = []
  await handler(params, { write (frame) { frames.push(frame) } })
  return frames
}

const typesOf = (frames: AskFrame[]): string[] => frames.map((frame) => frame.message_type)
const resultsOf = (frames: AskFrame[]): AskResult[] =>
  frames.filter((frame) => frame.message_type === 'result_batch').flatMap((frame) => frame.results as AskResult[])
const keywordsOf = (result: AskResult): string => String(result.schema_object.keywords)
const dietsOf = (result: AskResult): unknown[] => result.schema_object.suitableForDiet as unknown[]

async function buildApp (t: Test, handler: AskHandler = ask): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(askRoutes, { handler })
  t.teardown(() => app.close())
  return app
}
function parseSse (body: string): AskFrame[] {
  return body.split('\n\n').filter((chunk) => chunk.trim() !== '').map((chunk) => {
    if (!chunk.startsWith('data: ')) throw new Error(`not an SSE data event: ${chunk}`)
    return JSON.parse(chunk.slice('data: '.length)) as AskFrame
  })
}

t.test('handler', async (t) => {
  t.test('"pasta recipes" streams two result batches, a summary, then complete', async (t) => {
    const frames = await collect(ask, { query: 'pasta recipes' })
    t.same(typesOf(frames), ['result_batch', 'result_batch', 'summary', 'complete'])
    const queryId = frames[0]?.query_id
    t.match(queryId, UUID, 'a query_id is generated')
    t.ok(frames.every((frame) => frame.query_id === queryId), 'every frame carries the same query_id')

    t.same(frames.slice(0, 2).map((frame) => (frame.results as unknown[]).length), [5, 5], 'batches of 5, top 10')
    const results = resultsOf(frames)
    for (const result of results) {
      t.same(Object.keys(result).sort(), ['description', 'name', 'schema_object', 'score', 'site', 'url'])
      t.match(result, { url: /^https:\/\/recipes\.example\.com\/recipes\//, name: String, site: 'recipes.example.com', score: Number, description: String })
      t.equal(result.schema_object['@type'], 'Recipe')
      t.match(keywordsOf(result), /\bpasta\b/, `${result.name} is a pasta dish`)
    }
    const scores = results.map((result) => result.score)
    t.same(scores, [...scores].sort((a, b) => b - a), 'best first')
    t.match(frames[2]?.message, new RegExp(`^Top matches for "pasta recipes": ${results[0]?.name}`))
  })

  t.test('uses the query_id it is given', async (t) => {
    const frames = await collect(ask, { query: 'pasta', query_id: 'q-42' })
    t.ok(frames.every((frame) => frame.query_id === 'q-42'))
  })

  t.test('different questions get different, fitting answers', async (t) => {
    const curry = resultsOf(await collect(ask, { query: 'vegetarian curry' }))
    t.ok(curry.length > 0)
    t.ok(curry.every((result) => /curry/i.test(result.name) && dietsOf(result).includes(VEGETARIAN)), 'vegetarian curries only')

    const chicken = resultsOf(await collect(ask, { query: 'quick chicken dinner' }))
    t.ok(chicken.length > 0)
    t.ok(chicken.every((result) => /chicken/i.test(result.name)), 'chicken dishes')
    t.ok(chicken.every((result) => (minutesOf(result.schema_object.totalTime) ?? Infinity) <= 30), 'quick means 30 minutes at most')

    const chocolate = resultsOf(await collect(ask, { query: 'chocolate dessert' }))
    t.ok(chocolate.length > 0)
    t.ok(chocolate.every((result) => result.schema_object.recipeCategory === 'Dessert' && /chocolate/i.test(result.name)), 'chocolate desserts')

    const tops = [curry, chicken, chocolate].map((results) => results[0]?.url)
    t.equal(new Set(tops).size, 3)
  })

  t.test('diet words filter by suitableForDiet', async (t) => {
    const vegan = resultsOf(await collect(ask, { query: 'vegan dessert' }))
    t.ok(vegan.length > 0)
    t.ok(vegan.every((result) => dietsOf(result).includes(VEGAN)))
    const glutenFree = resultsOf(await collect(ask, { query: 'gluten-free pasta' }))
    t.ok(glutenFree.every((result) => dietsOf(result).includes(GLUTEN_FREE)))
  })

  t.test('time limits and exclusions filter; constraints alone list the quickest matches', async (t) => {
    const soups = resultsOf(await collect(ask, { query: 'soup under 40 minutes' }))
    t.ok(soups.length > 0)
    t.ok(soups.every((result) => /soup/i.test(result.name) && (minutesOf(result.schema_object.totalTime) ?? Infinity) <= 40))

    const pasta = resultsOf(await collect(ask, { query: 'pasta without mushrooms' }))
    t.equal(pasta.length, 10)
    t.ok(pasta.every((result) => !/mushroom/i.test(`${result.name} ${String(result.schema_object.recipeIngredient)}`)))

    const vegan = resultsOf(await collect(ask, { query: 'vegan' }))
    t.equal(vegan.length, 10)
    t.ok(vegan.every((result) => dietsOf(result).includes(VEGAN)))
    const minutes = vegan.map((result) => minutesOf(result.schema_object.totalTime) ?? Infinity)
    t.same(minutes, [...minutes].sort((a, b) => a - b), 'quickest first')
  })

  t.test('"and vegetarian ones?" after "pasta recipes" searches vegetarian pasta', async (t) => {
    const frames = await collect(ask, { query: 'and vegetarian ones?', prev: ['pasta recipes'], query_id: 'f1' })
    t.same(frames[0], { message_type: 'decontextualized_query', query_id: 'f1', decontextualized_query: 'vegetarian pasta recipes' })
    const results = resultsOf(frames)
    t.equal(results.length, 10)
    t.ok(results.every((result) => dietsOf(result).includes(VEGETARIAN) && /\bpasta\b/.test(keywordsOf(result))))
  })

  t.test('a follow-up builds on the whole conversation', async (t) => {
    const frames = await collect(ask, { query: 'what about quick ones', prev: ['pasta recipes', 'and vegetarian ones?'] })
    t.equal(frames[0]?.decontextualized_query, 'quick vegetarian pasta recipes')
    const results = resultsOf(frames)
    t.ok(results.length > 0)
    t.ok(results.every((result) => dietsOf(result).includes(VEGETARIAN) && (minutesOf(result.schema_object.totalTime) ?? Infinity) <= 30))
  })

  t.test('a new question after a conversation is not rewritten', async (t) => {
    const frames = await collect(ask, { query: 'chocolate dessert', prev: ['pasta recipes'] })
    t.equal(frames[0]?.message_type, 'result_batch')
    t.match(resultsOf(frames)[0]?.name, /chocolate/i)
  })

  t.test('decontextualisation rules', async (t) => {
    t.same(decontextualize('pasta recipes'), { query: 'pasta recipes', rewritten: false })
    t.equal(decontextualize('vegan', ['curry']).query, 'vegan curry')
    t.equal(decontextualize('how about with chicken', ['pasta recipes']).query, 'pasta recipes with chicken')
    t.equal(decontextualize('what about curry?', ['vegetarian pasta']).query, 'vegetarian curry')
    t.equal(decontextualize('and vegetarian ones?', ['vegetarian pasta']).query, 'vegetarian pasta')
    t.equal(decontextualize('tell me more about the second one', [], [{ title: 'Mushroom Risotto' }, { title: 'Chicken Paella' }]).query, 'Chicken Paella')
  })

  t.test('"the second one" resolves against last_ans', async (t) => {
    const lastAnswers = resultsOf(await collect(ask, { query: 'risotto' })).map((result) => ({ title: result.name, url: result.url }))
    const frames = await collect(ask, { query: 'tell me more about the second one', prev: ['risotto'], last_ans: lastAnswers })
    t.equal(frames[0]?.decontextualized_query, lastAnswers[1]?.title)
    t.equal(resultsOf(frames)[0]?.url, lastAnswers[1]?.url)
  })

  t.test('site filters by the items\' hostname', async (t) => {
    const bakery = resultsOf(await collect(ask, { query: 'bread', site: 'bakery.example.com' }))
    t.ok(bakery.length > 0)
    t.ok(bakery.every((result) => result.site === 'bakery.example.com'))
    const all = resultsOf(await collect(ask, { query: 'pasta', site: 'all' }))
    t.equal(all.length, 10)
    t.same(typesOf(await collect(ask, { query: 'pasta', site: 'elsewhere.example.org' })), ['no_results', 'complete'])
  })

  t.test('no hits: no_results then complete', async (t) => {
    const frames = await collect(ask, { query: 'xyzzy plugh', query_id: 'n1' })
    t.same(frames, [
      { message_type: 'no_results', query_id: 'n1', message: 'No results found for "xyzzy plugh".' },
      { message_type: 'complete', query_id: 'n1' }
    ])
  })

  t.test('the Summarizer seam writes the summary', async (t) => {
    const seen: Array<[string, number]> = []
    const handler = createAskHandler({
      summarize: async (query, results) => {
        seen.push([query, results.length])
        return `custom: ${results[0]?.name}`
      }
    })
    const frames = await collect(handler, { query: 'and vegetarian ones?', prev: ['pasta recipes'] })
    t.same(seen, [['vegetarian pasta recipes', 10]], 'gets the standalone query and the results')
    t.equal(frames.find((frame) => frame.message_type === 'summary')?.message, `custom: ${resultsOf(frames)[0]?.name}`)
  })

  t.test('serves the items it is given', async (t) => {
    const items: Item[] = [
      { '@type': 'Recipe', url: 'https://cafe.example.net/soup', name: 'Nettle Soup', description: 'Spring greens.', totalTime: 'PT40M' },
      { '@type': 'Recipe', url: 'https://cafe.example.net/bread', name: 'Soda Bread', description: 'No yeast needed.' }
    ]
    const handler = createAskHandler({ items, limit: 1, batchSize: 1 })
    const frames = await collect(handler, { query: 'nettle soup' })
    t.same(typesOf(frames), ['result_batch', 'summary', 'complete'])
    t.match(resultsOf(frames), [{ name: 'Nettle Soup', site: 'cafe.example.net', description: 'Spring greens.' }])
    t.equal(frames[1]?.message, 'Top match for "nettle soup": Nettle Soup (40 min).')
  })

  t.test('a failure inside becomes an error frame with safe text, then complete', async (t) => {
    const handler = createAskHandler({ summarize: () => { throw new Error('secret connection string leaked') } })
    const frames = await collect(handler, { query: 'pasta', query_id: 'e1' })
    t.same(typesOf(frames), ['result_batch', 'result_batch', 'error', 'complete'])
    t.equal(frames[2]?.query_id, 'e1')
    t.notMatch(String(frames[2]?.message), /secret/)

    t.same(typesOf(await collect(ask, { query: '   ' })), ['error', 'complete'], 'a blank query is an error too')
  })

  t.test('an aborted signal stops the stream between frames', async (t) => {
    const controller = new AbortController()
    const frames: AskFrame[] = []
    const sink = {
      write (frame: AskFrame) {
        frames.push(frame)
        controller.abort()
      }
    }
    await t.rejects(ask({ query: 'pasta recipes' }, sink, { signal: controller.signal }), { name: 'AbortError' })
    t.same(typesOf(frames), ['result_batch'], 'nothing after the abort')

    const reason = new Error('gone')
    const before: AskFrame[] = []
    await t.rejects(ask({ query: 'pasta' }, { write (frame) { before.push(frame) } }, { signal: AbortSignal.abort(reason) }), reason)
    t.same(before, [], 'an already-aborted signal sends nothing')
  })

  t.test('a broken sink surfaces its own error', async (t) => {
    const failure = new Error('socket gone')
    await t.rejects(ask({ query: 'pasta' }, { write () { throw failure } }), failure)
  })
})

t.test('route', async (t) => {
  t.test('POST streaming=false replies with one JSON answer', async (t) => {
    const app = await buildApp(t)
    const res = await app.inject({ method: 'POST', url: '/ask', payload: { query: 'and vegetarian ones?', prev: ['pasta recipes'], query_id: 'p1', streaming: false } })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /application\/json/)
    const body = res.json<AskReply>()
    t.same(Object.keys(body).sort(), ['decontextualized_query', 'message', 'query_id', 'results', 'status', 'summary'])
    t.match(body, { query_id: 'p1', status: 'ok', decontextualized_query: 'vegetarian pasta recipes', message: null, summary: /^Top matches/ })
    t.equal(body.results.length, 10)
    t.ok(body.results.every((result) => dietsOf(result).includes(VEGETARIAN)))
  })

  t.test('GET streaming=false reads prev as JSON, repeated or comma-separated', async (t) => {
    const app = await buildApp(t)
    const urls = [
      `/ask?streaming=false&query=${encodeURIComponent('what about quick ones')}&prev=${encodeURIComponent(JSON.stringify(['pasta recipes', 'and vegetarian ones?']))}`,
      '/ask?streaming=false&query=what+about+quick+ones&prev=pasta+recipes&prev=and+vegetarian+ones%3F',
      `/ask?streaming=false&query=what+about+quick+ones&prev=${encodeURIComponent('pasta recipes, and vegetarian ones?')}`
    ]
    for (const url of urls) {
      const res = await app.inject({ method: 'GET', url })
      t.equal(res.statusCode, 200, url)
      const body = res.json<AskReply>()
      t.equal(body.decontextualized_query, 'quick vegetarian pasta recipes', url)
      t.match(body.query_id, UUID)
    }
  })

  t.test('GET streaming=false with no hits, and with last_ans as a JSON string', async (t) => {
    const app = await buildApp(t)
    const none = await app.inject({ method: 'GET', url: '/ask?streaming=false&query=xyzzy' })
    t.match(none.json(), { status: 'no_results', results: [], summary: null, message: 'No results found for "xyzzy".' })

    const lastAns = JSON.stringify([{ title: 'Mushroom Risotto', url: 'https://recipes.example.com/recipes/mushroom-risotto' }])
    const ref = await app.inject({ method: 'GET', url: `/ask?streaming=false&query=the+first+one&last_ans=${encodeURIComponent(lastAns)}` })
    t.match(ref.json(), { decontextualized_query: 'Mushroom Risotto', results: [{ name: 'Mushroom Risotto' }] })
  })

  t.test('streaming=false answers 500 with the safe message when the handler fails', async (t) => {
    const app = await buildApp(t, createAskHandler({ summarize: () => { throw new Error('boom') } }))
    const res = await app.inject({ method: 'POST', url: '/ask', payload: { query: 'pasta', streaming: 'false' } })
    t.equal(res.statusCode, 500)
    t.match(res.json(), { status: 'error', message: String, results: Array })
    t.notMatch(res.body, /boom/)
  })

  t.test('a missing, empty or blank query is a 400 JSON error', async (t) => {
    const app = await buildApp(t)
    for (const request of [
      { method: 'GET' as const, url: '/ask' },
      { method: 'GET' as const, url: '/ask?query=' },
      { method: 'GET' as const, url: '/ask?query=%20%20' },
      { method: 'POST' as const, url: '/ask', payload: {} },
      { method: 'POST' as const, url: '/ask', payload: { query: '' } }
    ]) {
      const res = await app.inject(request)
      t.equal(res.statusCode, 400, request.url)
      t.match(res.json(), { statusCode: 400, error: 'Bad Request', message: String })
    }
  })

  t.test('malformed prev or last_ans is a 400', async (t) => {
    const app = await buildApp(t)
    const badJson = await app.inject({ method: 'GET', url: '/ask?query=pasta&prev=%5Bnope' })
    t.match(badJson.json(), { statusCode: 400, code: 'ASK_ERR_BAD_REQUEST', message: 'Invalid prev: not valid JSON' })
    const notStrings = await app.inject({ method: 'GET', url: `/ask?query=pasta&prev=${encodeURIComponent('[1,2]')}` })
    t.equal(notStrings.statusCode, 400)
    const badAnswers = await app.inject({ method: 'POST', url: '/ask', payload: { query: 'the first one', last_ans: [{ url: 'x' }] } })
    t.match(badAnswers.json(), { statusCode: 400, code: 'ASK_ERR_BAD_REQUEST' })
  })

  t.test('streaming (default) sends the frames as Server-Sent Events', async (t) => {
    const app = await buildApp(t)
    const res = await app.inject({ method: 'GET', url: '/ask?query=pasta+recipes&query_id=s1' })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^text\/event-stream/)
    t.equal(res.headers['cache-control'], 'no-cache')
    const frames = parseSse(res.body)
    t.same(typesOf(frames), ['result_batch', 'result_batch', 'summary', 'complete'])
    t.ok(frames.every((frame) => frame.query_id === 's1'))
    t.equal(resultsOf(frames).length, 10)

    const post = await app.inject({ method: 'POST', url: '/ask', payload: { query: 'and vegan ones', prev: ['curry'] } })
    const postFrames = parseSse(post.body)
    t.same(typesOf(postFrames), ['decontextualized_query', 'result_batch', 'result_batch', 'summary', 'complete'])
    t.equal(postFrames[0]?.decontextualized_query, 'vegan curry')
  })
})

t.test('over real HTTP', async (t) => {
  t.test('a fetch client reads the SSE stream to complete', async (t) => {
    const app = await buildApp(t)
    const base = await app.listen({ port: 0, host: '127.0.0.1' })
    const res = await fetch(`${base}/ask?query=${encodeURIComponent('chocolate dessert')}`)
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type'), /^text\/event-stream/)

    const frames: AskFrame[] = []
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true })
      let end = buffered.indexOf('\n\n')
      while (end !== -1) {
        frames.push(...parseSse(buffered.slice(0, end + 2)))
        buffered = buffered.slice(end + 2)
        end = buffered.indexOf('\n\n')
      }
    }
    t.equal(buffered, '', 'the stream ends on a frame boundary')
    t.same(typesOf(frames), ['result_batch', 'result_batch', 'summary', 'complete'])
    t.match(resultsOf(frames)[0]?.name, /chocolate/i)
  })

  t.test('a client that disconnects aborts the handler', async (t) => {
    let resolveAborted: (reason: unknown) => void = () => {}
    const aborted = new Promise((resolve) => { resolveAborted = resolve })
    // writes one frame, then waits for the abort the route must send
    const hanging: AskHandler = async (params, sink, options) => {
      await sink.write({ message_type: 'result_batch', query_id: params.query_id ?? 'h', results: [] })
      await new Promise<void>((resolve, reject) => {
        options?.signal?.addEventListener('abort', () => {
          resolveAborted(options.signal?.reason)
          reject(options.signal?.reason)
        }, { once: true })
      })
    }
    const app = await buildApp(t, hanging)
    const base = await app.listen({ port: 0, host: '127.0.0.1' })
    // node:http rather than fetch: undici opens a spare keep-alive connection that would hold app.close() for 4 s
    const first = await new Promise<string>((resolve, reject) => {
      const request = get(`${base}/ask?query=anything&query_id=h1`, (res) => {
        res.once('data', (chunk: Buffer) => {
          request.destroy()
          resolve(chunk.toString())
        })
      })
      request.on('error', reject)
    })
    t.match(first, /^data: \{"message_type":"result_batch"/)
    const reason = await aborted
    t.match(reason, { name: 'AbortError' }, 'the handler saw the abort')
  })
})
