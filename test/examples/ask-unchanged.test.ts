import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { buildApp } from '../../examples/app.ts'
import { loadConfig } from '../../examples/config.ts'
import { createAskHandler } from '../../examples/nlweb/handler.ts'

// Fields random by nature: the generated query_id.
function normalise (body: string): string {
  return body.replace(/"query_id":"[^"]*"/g, '"query_id":"*"')
}

const HANDLER_FILES = ['handler.ts', 'route.ts', 'search-index.ts', 'decontextualize.ts', 'summarize.ts']

async function sourceDigest (): Promise<string> {
  const hash = createHash('sha256')
  for (const f of HANDLER_FILES) hash.update(await readFile(new URL(`../../examples/nlweb/${f}`, import.meta.url)))
  return hash.digest('hex')
}

t.test('/ask answers the same with and without the chat plugin', async (t) => {
  const digestBefore = await sourceDigest()
  const handler = createAskHandler()
  const ownSource = handler.toString()
  const without = await buildApp({ config: loadConfig({}), chat: false, askHandler: handler })
  const withChat = await buildApp({ config: loadConfig({}), chat: { storage: 'memory' }, askHandler: handler })
  t.teardown(async () => { await without.close(); await withChat.close() })
  await withChat.ready()
  t.equal(withChat.hasDecorator('chat'), true)
  t.equal(without.hasDecorator('chat'), false)
  t.equal(withChat.askHandler, handler, 'the host decorator still holds the very same function')
  t.equal(handler.toString(), ownSource, 'the handler was not replaced or wrapped')

  const queries = [
    '/ask?query=pasta%20recipes',
    '/ask?query=pasta%20recipes&streaming=false',
    '/ask?query=vegetarian%20curry&prev=%5B%22indian%20food%22%5D&streaming=false',
    '/ask?query=zzzxqj%20nothing&streaming=false',
    '/ask?query=quick%20chicken%20dinner&query_id=fixed-1'
  ]
  for (const url of queries) {
    const a = await without.inject({ url })
    const b = await withChat.inject({ url })
    t.equal(b.statusCode, a.statusCode, url)
    t.equal(b.headers['content-type'], a.headers['content-type'], `${url} content-type`)
    t.equal(normalise(b.body), normalise(a.body), `${url} body`)
  }
  const post = { method: 'POST' as const, url: '/ask', payload: { query: 'chocolate dessert', streaming: false } }
  t.equal(normalise((await withChat.inject(post)).body), normalise((await without.inject(post)).body), 'POST body')
  const bad = { url: '/ask?query=' }
  t.equal((await withChat.inject(bad)).body, (await without.inject(bad)).body, 'errors too')
  t.equal((await withChat.inject({ url: '/ask?query=pasta' })).statusCode, 200, '/ask stays public with chat mounted')
  t.equal(await sourceDigest(), digestBefore, 'handler sources untouched')
})
