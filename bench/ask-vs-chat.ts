// bench/ask-vs-chat: the same handler, the same queries, interleaved —
//   direct /ask (SSE over HTTP, request to last frame)  vs  chat 1+1 (`send` to `stream.end`),
// plus the time to the first result frame on both. The server runs in its own process.
//
//   npm run bench -- [--n 10000] [--warmup 200] [--storage sqlite|memory] [--samples file.json]
//
// 10,000 measured queries by default: a p99 is then the 100th slowest sample. Its tail is the machine's (both
// processes descheduled for a few ms, on 2 cores, hit /ask and the chat alike), and thin: at 3000 queries
// (the 30th slowest) the p99 ratio of the same code on memory storage went from 0.87 to 1.17 between five
// consecutive runs, while p50 and p95 stayed at 0.89–0.94 and 0.77–0.85; at 300, a single descheduling moved
// it by tens of percent. A run takes about a minute.
// --samples writes every measured time with its start on the monotonic clock (µs, the clock of a V8 CPU
// profile): slow samples line up with what the server was doing (BENCH_NODE_ARGS='--cpu-prof ...').
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import WebSocket from 'ws'
import { chatServerArgs, postJson, startServer, stopServer } from './processes.ts'
import { pct } from './stats.ts' // queries without results have no first result (NaN, left out)

function arg (name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback
}
const N = Number(arg('n', '10000'))
const WARMUP = Number(arg('warmup', '200'))
const STORAGE = arg('storage', 'sqlite')
const SAMPLES = arg('samples', '')
/**
 * Conversations are created and joined a block at a time, just before their queries (untimed), and left
 * after: like a real 1+1 chat, the conversation asked in is one the server has cached (cache.max is 1000 by
 * default; thousands created up front would make every measured send a cache miss, which /ask never pays).
 */
const BLOCK = 100

const QUERIES = [
  'pasta recipes', 'vegetarian curry', 'quick chicken dinner', 'chocolate dessert', 'gluten-free bread',
  'spicy thai soup', 'easy breakfast', 'vegan salad', 'beef stew', 'lemon cake', 'mexican tacos',
  'healthy lunch', 'seafood paella', 'mushroom risotto', 'french pastry', 'indian lentils'
]

const { child: server, port } = await startServer(chatServerArgs(STORAGE))
const base = `http://127.0.0.1:${port}`

const json = async (path: string, body: unknown, token?: string): Promise<any> => await postJson(base, path, body, token)

/** `at`: the start, on the monotonic clock, in µs. */
interface Timing { total: number, first: number, at: number }

const now = (): number => Number(process.hrtime.bigint() / 1000n)

/** /ask over SSE: from the request to the last frame, and to the first result_batch. */
async function viaAsk (query: string): Promise<Timing> {
  const at = now()
  const t0 = performance.now()
  let first = NaN
  const res = await fetch(`${base}/ask?query=${encodeURIComponent(query)}`)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    buffer += decoder.decode(value, { stream: true })
    if (Number.isNaN(first) && buffer.includes('"result_batch"')) first = performance.now() - t0
  }
  if (!buffer.includes('"complete"')) throw new Error('/ask did not complete')
  return { total: performance.now() - t0, first, at }
}

// Chat 1+1: one conversation per query (so the AI sees the same params as /ask: no earlier turns).
const token = (await json('/auth/dev-login', { userId: 'bench-user' })).token as string
const total = N + WARMUP

const ws = new WebSocket(`ws://127.0.0.1:${port}/chat/ws?access_token=${token}`)
// Like the /ask client, the chat client only looks at what it needs (no full parse of every frame).
let onFrame: (text: string) => void = () => {}
let onError: (text: string) => void = () => {}
ws.on('message', (data) => {
  const text = data.toString()
  if (text.startsWith('{"type":"error"')) onError(text)
  else onFrame(text)
})
await once(ws, 'open')

/** A frame to the socket, and the reply that starts with `prefix`. */
async function request (frame: unknown, prefix: string): Promise<void> {
  const replied = new Promise<void>((resolve, reject) => {
    onFrame = (f) => { if (f.startsWith(prefix)) resolve() }
    onError = (f) => { reject(new Error(`chat error: ${f}`)) }
  })
  ws.send(JSON.stringify(frame))
  await replied
}

/** One conversation per query (so the AI sees the same params as /ask: no earlier turns), created and joined. */
async function openBlock (count: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < count; i++) {
    const id = (await json('/chat/conversations', { title: `q${i}`, ai: true }, token)).id as string
    await request({ type: 'join', conversationId: id }, '{"type":"joined"')
    ids.push(id)
  }
  return ids
}

/** send → stream.end, and send → first stream.chunk carrying a result_batch. */
async function viaChat (conversationId: string, query: string, n: number): Promise<Timing> {
  return await new Promise((resolve, reject) => {
    const at = now()
    const t0 = performance.now()
    let first = NaN
    const mine = `"conversationId":${JSON.stringify(conversationId)}`
    onFrame = (f) => {
      if (!f.includes(mine)) return
      if (Number.isNaN(first) && f.startsWith('{"type":"stream.chunk"') && f.includes('"message_type":"result_batch"')) first = performance.now() - t0
      if (f.startsWith('{"type":"stream.end"')) resolve({ total: performance.now() - t0, first, at })
    }
    onError = (f) => { reject(new Error(`chat error: ${f}`)) }
    ws.send(JSON.stringify({ type: 'send', conversationId, clientMessageId: `b${n}`, content: query }))
  })
}

const ask: Timing[] = []
const chat: Timing[] = []
for (let start = 0; start < total; start += BLOCK) {
  const conversations = await openBlock(Math.min(BLOCK, total - start))
  for (let j = 0; j < conversations.length; j++) {
    const i = start + j
    const query = QUERIES[i % QUERIES.length]
    // Interleaved, alternating which goes first, so drift and warm caches favour neither.
    let a: Timing, c: Timing
    if (i % 2 === 0) { a = await viaAsk(query); c = await viaChat(conversations[j], query, i) } else { c = await viaChat(conversations[j], query, i); a = await viaAsk(query) }
    if (i >= WARMUP) { ask.push(a); chat.push(c) }
  }
  for (const id of conversations) await request({ type: 'leave', conversationId: id }, '{"type":"left"')
}
ws.close()
await stopServer(server)
if (SAMPLES !== '') writeFileSync(SAMPLES, JSON.stringify({ ask, chat }))

const fmt = (ms: number): string => ms.toFixed(3).padStart(9)
const rows: Array<[string, number[], number[]]> = [
  ['to last frame (ms)', ask.map((x) => x.total), chat.map((x) => x.total)],
  ['to first result (ms)', ask.map((x) => x.first), chat.map((x) => x.first)]
]
console.log(`ask-vs-chat: ${N} queries each (after ${WARMUP} warm-up), interleaved, storage=${STORAGE}, node ${process.version}`)
console.log('baseline = direct /ask (SSE over HTTP); chat = 1 human + AI over /chat/ws')
console.log('')
console.log('| measure              | pct | /ask (baseline) |      chat | chat / ask |')
console.log('|----------------------|-----|-----------------|-----------|------------|')
for (const [name, a, c] of rows) {
  for (const p of [50, 95, 99]) {
    console.log(`| ${name.padEnd(20)} | p${p} | ${fmt(pct(a, p)).padStart(15)} | ${fmt(pct(c, p))} | ${(pct(c, p) / pct(a, p)).toFixed(3).padStart(10)} |`)
  }
}
