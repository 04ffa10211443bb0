import WebSocket from 'ws'

/**
 * The chat fuzzer, shared by `npm run fuzz` (bench/fuzz.ts, against the example host in its own process) and
 * test/routes/fuzz.test.ts (a small run in-process). Not itself a test.
 *
 * Everything is drawn from a seeded generator: the same seed sends the same frames in the same order on each
 * connection. Frames: random bytes (text and binary), valid frames mutated (fields removed, wrong types, huge
 * strings, unicode junk, extra fields), deep, wide and huge JSON, hostile keys, unknown and other users'
 * conversations — among valid frames whose effect is checked afterwards (stored exactly what was acked).
 */

export type Rng = () => number

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function createRng (seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Percent-encodes every UTF-8 byte (encodeURIComponent throws on lone surrogates). */
const encodeBytes = (s: string): string => [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')
const int = (rng: Rng, max: number): number => Math.floor(rng() * max)
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)]

/** The conversations frames point at. */
export interface FuzzTargets {
  /** One the fuzzing users are all in: valid sends go here. */
  own: string
  /** One they are not in (another user's). */
  foreign: string
}

export interface FuzzFrame {
  /** What kind of junk (or valid frame) it is, for the table. */
  kind: string
  data: string | Buffer
  binary: boolean
  /** The server may close the socket on it (over maxFrameBytes, invalid UTF-8): sent alone, then awaited. */
  closes: boolean
  /** A valid `send` that must be acked and stored: its clientMessageId, and the ref its reply carries. */
  validSend?: string
  validRef?: string
}

/** Strings that have broken parsers, validators and storage elsewhere. */
const UNICODE_JUNK = [
  '\u200B', '\u200B\u200C\u200D\u2060\uFEFF\u00AD', '\u202E\u0645\u0631\u062D\u0628\u0627', '\u0000', 'a\u0000b',
  '\uD800', '\uDFFF\uD800', '\uD83D\uDE00', '\uD83D\uDC69\u200D\uD83D\uDC69\u200D\uD83D\uDC67', 'e\u0301\u0301\u0301\u0301',
  '\u2028\u2029', '\u3164', '\u2800', '\uFFFD', '\uFFFF', '\u{10FFFF}', '\u{E0041}', '\u0301', ' ', '\t\n\r', '',
  '%00', '../../etc/passwd', '<script>alert(1)</script>', "'; DROP TABLE messages; --", '$' + '{jndi:x}', '{{7*7}}',
  '\\u0000', '"', '\\', '🏳️‍🌈'.repeat(20)
]

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'then']

const FRAME_TYPES = ['join', 'leave', 'send', 'typing', 'cancel', 'ping'] as const

function randomString (rng: Rng, length: number): string {
  let s = ''
  for (let i = 0; i < length; i++) {
    const r = rng()
    if (r < 0.6) s += String.fromCharCode(32 + int(rng, 95))
    else if (r < 0.8) s += pick(rng, UNICODE_JUNK)
    else if (r < 0.95) s += String.fromCodePoint(int(rng, 0x2FFFF))
    else s += String.fromCharCode(int(rng, 0x10000)) // lone surrogates included
  }
  return s
}

function randomBytes (rng: Rng, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length)
  for (let i = 0; i < length; i++) buf[i] = int(rng, 256)
  return buf
}

/** A value of any JSON type, small. */
function wrongValue (rng: Rng): unknown {
  return pick(rng, [
    () => null, () => true, () => 0, () => -1, () => 1.5, () => 1e308, () => -1e308, () => 2 ** 53 + 2, () => [],
    () => [1, 'a'], () => ({}), () => ({ $ne: 1 }), () => '', () => pick(rng, UNICODE_JUNK), () => randomString(rng, 8)
  ])()
}

/** Mostly just over a limit (ref, id), sometimes over maxMessageBytes, rarely far over. */
const HUGE_LENGTHS = [129, 129, 1000, 1000, 16 * 1024 + 1, 16 * 1024 + 1, 100_000]

/** Big strings are built once per size: the generator stays cheap next to the server it drives. */
const built = new Map<string, string>()
function once (key: string, build: () => string): string {
  let s = built.get(key)
  if (s === undefined) built.set(key, s = build())
  return s
}
const repeated = (ch: string, count: number): string => once(`${ch}*${count}`, () => ch.repeat(count))

export interface GeneratorOptions {
  targets: FuzzTargets
  /** Tells this stream's clientMessageIds apart from every other stream's. */
  tag: string
  /** The server's maxFrameBytes: a frame over it is marked `closes`. */
  maxFrameBytes: number
}

/**
 * One connection's stream of frames. About one in twelve frames is a valid send whose storage is checked
 * at the end; the rest is junk of every kind above, in proportions chosen so a 10^5 run covers them all
 * many times over and stays well under a minute.
 */
export function createFrameGenerator (seed: number, opts: GeneratorOptions) {
  const rng = createRng(seed)
  const { targets, tag } = opts
  let n = 0

  const conversationId = (): unknown => {
    const r = rng()
    if (r < 0.5) return targets.own
    if (r < 0.7) return targets.foreign
    if (r < 0.9) return `unknown-${int(rng, 1e9).toString(36)}`
    return wrongValue(rng)
  }

  function template (type: string): Record<string, unknown> {
    const base: Record<string, unknown> = { type }
    if (rng() < 0.5) base.ref = `f${n}`
    switch (type) {
      case 'join': base.conversationId = conversationId(); if (rng() < 0.5) base.since = int(rng, 100); break
      case 'leave': case 'typing': base.conversationId = conversationId(); break
      case 'send':
        base.conversationId = conversationId()
        base.clientMessageId = `junk-${tag}-${n}`
        base.content = rng() < 0.5 ? randomString(rng, 1 + int(rng, 40)) : 'hello'
        if (rng() < 0.3) base.metadata = { k: randomString(rng, 5) }
        break
      case 'cancel': base.conversationId = conversationId(); base.messageId = `m-${int(rng, 1e6)}`; break
    }
    return base
  }

  function mutate (frame: Record<string, unknown>): void {
    const keys = Object.keys(frame)
    const times = 1 + int(rng, 3)
    for (let i = 0; i < times; i++) {
      const key = pick(rng, [...keys, 'type', 'conversationId', 'content', 'since', 'metadata', 'ref', 'extra'])
      const r = rng()
      if (r < 0.25) delete frame[key]
      else if (r < 0.55) frame[key] = wrongValue(rng)
      else if (r < 0.65) frame[key] = repeated('x', pick(rng, HUGE_LENGTHS))
      else if (r < 0.9) frame[key] = pick(rng, UNICODE_JUNK) + randomString(rng, int(rng, 10))
      else frame[key] = pick(rng, FRAME_TYPES)
    }
  }

  function json (kind: string, value: unknown): FuzzFrame {
    const data = JSON.stringify(value)
    return { kind, data, binary: false, closes: Buffer.byteLength(data) > opts.maxFrameBytes }
  }

  function raw (kind: string, data: string): FuzzFrame {
    return { kind, data, binary: false, closes: Buffer.byteLength(data) > opts.maxFrameBytes }
  }

  const deep = (open: string, close: string, depth: number, inner = '1'): string => repeated(open, depth) + inner + repeated(close, depth)

  const generators: Array<[number, string, () => FuzzFrame]> = [
    [8, 'valid', () => {
      const r = rng()
      if (r < 0.5) {
        const id = `ok-${tag}-${n}`
        return { kind: 'valid send', data: JSON.stringify({ type: 'send', ref: `v${n}`, conversationId: targets.own, clientMessageId: id, content: `valid ${n} ${pick(rng, ['héllo', 'e\u0301', '\uD83D\uDE00', 'plain', '\u200Bzero-width first'])}`, ...(rng() < 0.3 ? { metadata: { n, tags: ['a', 'b'] } } : {}) }), binary: false, closes: false, validSend: id, validRef: `v${n}` }
      }
      if (r < 0.7) return json('valid ping', { type: 'ping', ref: `p${n}` })
      if (r < 0.85) return json('valid join', { type: 'join', conversationId: targets.own, ...(rng() < 0.5 ? { since: int(rng, 50) } : {}) })
      return json('valid typing', { type: 'typing', conversationId: targets.own })
    }],
    [6, 'random bytes', () => rng() < 0.5
      ? { kind: 'random bytes (binary)', data: randomBytes(rng, 1 + int(rng, 2048)), binary: true, closes: false }
      : raw('random text', randomString(rng, 1 + int(rng, 512)))],
    [0.3, 'invalid utf-8', () => ({ kind: 'invalid UTF-8 text', data: Buffer.from([0x7B, 0xC3, 0x28, 0xFF, 0xFE]), binary: false, closes: true })],
    [30, 'mutated', () => {
      const frame = template(pick(rng, FRAME_TYPES))
      mutate(frame)
      return json('mutated frame', frame)
    }],
    [6, 'unicode junk', () => {
      const frame = template(pick(rng, FRAME_TYPES))
      for (const key of ['content', 'clientMessageId', 'conversationId', 'ref', 'type', 'messageId']) {
        if (key in frame && rng() < 0.6) frame[key] = pick(rng, UNICODE_JUNK) + pick(rng, UNICODE_JUNK)
      }
      return json('unicode junk', frame)
    }],
    [6, 'wrong conversation', () => {
      const type = pick(rng, ['join', 'send', 'typing', 'cancel', 'leave'])
      const frame = template(type)
      frame.conversationId = rng() < 0.5 ? targets.foreign : `unknown-${randomString(rng, 6)}`
      return json('other/unknown conversation', frame)
    }],
    [3, 'deep', () => {
      const depth = pick(rng, [17, 17, 100, 1000, 1000, 10_000, 100_000])
      const r = rng()
      if (r < 0.4) return raw('deep metadata', `{"type":"send","conversationId":${JSON.stringify(targets.own)},"clientMessageId":"junk-${tag}-${n}","content":"deep","metadata":${deep('{"a":', '}', depth)}}`)
      if (r < 0.7) return raw('deep array frame', deep('[', ']', depth))
      if (r < 0.85) return raw('deep field', `{"type":"ping","x":${deep('[', ']', depth)}}`)
      return raw('deep unterminated', repeated('[', depth))
    }],
    [2, 'wide', () => {
      const width = pick(rng, [1000, 1000, 10_000, 150_000])
      const r = rng()
      if (r < 0.4) return raw('wide metadata', `{"type":"send","conversationId":${JSON.stringify(targets.own)},"clientMessageId":"junk-${tag}-${n}","content":"wide","metadata":{"list":[${repeated('0,', width)}0]}}`)
      if (r < 0.7) return raw('wide object frame', `{"type":"ping",${once(`keys${width}`, () => Array.from({ length: Math.min(width, 50_000) }, (_, i) => `"k${i}":${i}`).join(','))}}`)
      return raw('wide content', `{"type":"send","conversationId":${JSON.stringify(targets.own)},"clientMessageId":"junk-${tag}-${n}","content":[${repeated('"a",', width)}"a"]}`)
    }],
    [0.2, 'huge', () => {
      const size = pick(rng, [16 * 1024 + 1, 200_000, 900_000, opts.maxFrameBytes + 1])
      return json('huge string', { type: 'send', conversationId: targets.own, clientMessageId: `junk-${tag}-${n}`, content: repeated('y', size) })
    }],
    [4, 'hostile keys', () => {
      const key = pick(rng, HOSTILE_KEYS)
      const where = int(rng, 4)
      const own = JSON.stringify(targets.own)
      if (where === 0) return raw('hostile key (top)', `{"type":"ping","${key}":{"polluted":true,"prototype":{"polluted":true}}}`)
      if (where === 1) return raw('hostile key (metadata)', `{"type":"send","conversationId":${own},"clientMessageId":"junk-${tag}-${n}","content":"hk","metadata":{"${key}":{"polluted":true}}}`)
      if (where === 2) return raw('hostile key (nested)', `{"type":"send","conversationId":${own},"clientMessageId":"junk-${tag}-${n}","content":"hk","metadata":{"a":{"constructor":{"prototype":{"polluted":true}}}}}`)
      return raw('hostile key (type)', JSON.stringify({ type: key, conversationId: targets.own }))
    }],
    [1, 'not an object', () => raw('not an object', pick(rng, ['null', 'true', '1', '"ping"', '[]', '[{"type":"ping"}]', '', ' ', '{', '}', '{"type":"ping"}{"type":"ping"}', 'NaN', '1e999', '{"type":"ping",}']))]
  ]
  const total = generators.reduce((sum, [w]) => sum + w, 0)

  return {
    next (): FuzzFrame {
      n++
      let r = rng() * total
      for (const [weight, , make] of generators) {
        if ((r -= weight) < 0) return make()
      }
      return generators[0][2]()
    }
  }
}

export interface RestRequest {
  kind: string
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH'
  url: string
  headers: Record<string, string>
  body?: string | Buffer
}

/** REST junk: bad JSON, huge bodies, hostile keys, bad params and queries, wrong methods and content types. */
export function createRestGenerator (seed: number, opts: { targets: FuzzTargets, tokens: string[], prefix?: string }) {
  const rng = createRng(seed)
  const prefix = opts.prefix ?? '/chat'
  let auth = { authorization: '' }
  let jsonHeaders = { ...auth, 'content-type': 'application/json' }
  let n = 0
  const id = (): string => pick(rng, [
    opts.targets.own, opts.targets.foreign, encodeBytes(randomString(rng, 8)), 'x'.repeat(5000), '%00', '..%2F..', '%E0%A4%A', '%', '%25', '%ZZ', '__proto__', 'constructor'
  ])
  const body = (): string | Buffer => pick(rng, [
    () => '{', () => 'null', () => '[]', () => '"x"', () => '{"content":', () => randomString(rng, 100),
    () => randomBytes(rng, 200),
    () => JSON.stringify({ clientMessageId: `junk-rest-${n}`, content: wrongValue(rng) }),
    () => JSON.stringify({ clientMessageId: wrongValue(rng), content: 'x' }),
    () => JSON.stringify({ clientMessageId: `junk-rest-${n}`, content: pick(rng, UNICODE_JUNK) }),
    () => `{"clientMessageId":"junk-rest-${n}","content":"x","__proto__":{"polluted":true}}`,
    () => `{"clientMessageId":"junk-rest-${n}","content":"x","metadata":{"constructor":{"prototype":{"polluted":true}}}}`,
    () => `{"clientMessageId":"junk-rest-${n}","content":"x","metadata":{"list":[${'0,'.repeat(150_000)}0]}}`,
    () => `{"clientMessageId":"junk-rest-${n}","content":"x","metadata":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`,
    () => `{"title":${JSON.stringify(randomString(rng, 300))},"participants":${JSON.stringify([wrongValue(rng)])},"ai":${JSON.stringify(wrongValue(rng))}}`,
    () => `{"userId":${JSON.stringify(wrongValue(rng))}}`,
    () => '['.repeat(100_000)
  ])()
  const query = (): string => pick(rng, [
    '', '?limit=-1', '?limit=0', '?limit=1e309', '?limit=abc', '?after=1e308', '?after=-5', '?before=9007199254740993',
    '?after=1&before=1', '?limit=999999', '?cursor=%00', `?cursor=${encodeBytes(randomString(rng, 20))}`, '?limit=1&limit=2', '?__proto__[x]=1'
  ])

  return {
    next (): RestRequest {
      n++
      // Each user in turn, so no one user's REST rate limit is what answers.
      auth = { authorization: `Bearer ${opts.tokens[n % opts.tokens.length]}` }
      jsonHeaders = { ...auth, 'content-type': 'application/json' }
      const r = rng()
      if (r < 0.35) return { kind: 'POST message junk', method: 'POST', url: `${prefix}/conversations/${id()}/messages`, headers: jsonHeaders, body: body() }
      if (r < 0.45) return { kind: 'POST conversation junk', method: 'POST', url: `${prefix}/conversations`, headers: jsonHeaders, body: body() }
      if (r < 0.52) return { kind: 'POST participant junk', method: 'POST', url: `${prefix}/conversations/${id()}/participants`, headers: jsonHeaders, body: body() }
      if (r < 0.72) return { kind: 'GET bad params', method: 'GET', url: `${prefix}/conversations/${id()}/messages${query()}`, headers: auth }
      if (r < 0.8) return { kind: 'GET list bad query', method: 'GET', url: `${prefix}/conversations${query()}`, headers: auth }
      if (r < 0.85) return { kind: 'DELETE junk', method: 'DELETE', url: `${prefix}/conversations/${id()}/participants/${id()}`, headers: auth }
      if (r < 0.9) {
        const big = Buffer.alloc(pick(rng, [2, 7]) * 1024 * 1024, 0x61)
        return { kind: 'huge body', method: 'POST', url: `${prefix}/conversations/${opts.targets.own}/messages`, headers: jsonHeaders, body: big }
      }
      if (r < 0.95) return { kind: 'wrong content type', method: 'POST', url: `${prefix}/conversations/${opts.targets.own}/messages`, headers: { ...auth, 'content-type': pick(rng, ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1']) }, body: body() }
      return { kind: 'wrong method/auth', method: pick(rng, ['PUT', 'PATCH', 'DELETE'] as const), url: `${prefix}/conversations/${id()}/messages`, headers: rng() < 0.5 ? { authorization: `Bearer ${randomBytes(rng, 20).toString('base64')}` } : auth }
    }
  }
}

/** What a fuzz run saw. */
export interface FuzzStats {
  framesSent: number
  /** Frames sent by kind. */
  kinds: Record<string, number>
  /** Frames received, by type (`error` frames by `error:CODE`). */
  replies: Record<string, number>
  /** Error frames with status >= 500, a few kept as examples. */
  serverErrors: number
  serverErrorSamples: unknown[]
  /** Socket closes by code (abuse may close a socket; the fuzzer reconnects). */
  closes: Record<string, number>
  /** Syncs (a frame after each batch whose reply proves the batch handled) unanswered in time: a stuck socket. */
  stalls: number
  reconnects: number
  validSends: number
  /** Valid sends refused, by error code (a rate limit may refuse one; nothing else should). */
  validRefused: Record<string, number>
  /** Valid sends that got no reply at all (their socket closed under them). */
  validNotAcked: string[]
  /** Every ack: messageId → where and what. */
  acked: Map<string, { conversationId: string, clientMessageId: string }>
}

export function emptyStats (): FuzzStats {
  return { framesSent: 0, kinds: {}, replies: {}, serverErrors: 0, serverErrorSamples: [], closes: {}, stalls: 0, reconnects: 0, validSends: 0, validRefused: {}, validNotAcked: [], acked: new Map() }
}

/** Refs of the fuzzer's own sync frames: their replies are not counted. */
const SYNC_PREFIX = 'sync-'

const inc = (counts: Record<string, number>, key: string, by = 1): void => { counts[key] = (counts[key] ?? 0) + by }

/** One socket of one fuzzing user; counts what it receives and hands out the replies a driver waits for. */
class FuzzSocket {
  readonly ws: WebSocket
  readonly ready: Promise<boolean>
  readonly closed: Promise<number>
  private waiters = new Map<string, (frame: Record<string, unknown> | undefined) => void>()
  /** Valid sends waiting for their reply: ref → clientMessageId. */
  private pendingValid = new Map<string, string>()

  constructor (url: string, stats: FuzzStats) {
    this.ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 })
    let onReady: (ok: boolean) => void = () => {}
    this.ready = new Promise((resolve) => { onReady = resolve })
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code) => {
        inc(stats.closes, String(code))
        onReady(false)
        for (const w of this.waiters.values()) w(undefined)
        this.waiters.clear()
        resolve(code)
      })
    })
    this.ws.on('error', () => {})
    this.ws.on('message', (data) => {
      let frame: Record<string, any>
      try { frame = JSON.parse(data.toString()) } catch { inc(stats.replies, 'unparsable'); return }
      const type = String(frame.type)
      const isSync = typeof frame.ref === 'string' && frame.ref.startsWith(SYNC_PREFIX)
      if (!isSync) inc(stats.replies, type === 'error' ? `error:${String(frame.code)}` : type)
      if (type === 'ready') onReady(true)
      if (type === 'error' && (typeof frame.status !== 'number' || frame.status >= 500)) {
        stats.serverErrors++
        if (stats.serverErrorSamples.length < 10) stats.serverErrorSamples.push(frame)
      }
      if (type === 'ack') stats.acked.set(frame.messageId, { conversationId: frame.conversationId, clientMessageId: frame.clientMessageId })
      if (typeof frame.ref === 'string' && this.pendingValid.delete(frame.ref) && type === 'error') inc(stats.validRefused, String(frame.code))
      if (typeof frame.ref === 'string') {
        const waiter = this.waiters.get(frame.ref)
        if (waiter !== undefined) {
          this.waiters.delete(frame.ref)
          waiter(frame)
        }
      }
    })
  }

  send (frame: FuzzFrame): void {
    if (frame.validSend !== undefined) this.pendingValid.set(frame.validRef ?? '', frame.validSend)
    this.ws.send(frame.data, { binary: frame.binary })
  }

  /**
   * A `leave` of a conversation nobody is in, after everything sent so far: frames are handled in order, so its
   * `left` means all were handled. (Not a `ping`: the server answers those as they arrive, ahead of the queue.)
   */
  async sync (ref: string, ms: number): Promise<'ok' | 'closed' | 'stalled'> {
    if (this.ws.readyState !== WebSocket.OPEN) return 'closed'
    const reply = new Promise<Record<string, unknown> | undefined>((resolve) => { this.waiters.set(ref, resolve) })
    this.ws.send(JSON.stringify({ type: 'leave', conversationId: 'fuzz-sync', ref }))
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'stalled'>((resolve) => { timer = setTimeout(() => resolve('stalled'), ms) })
    const result = await Promise.race([reply.then((f) => f === undefined ? 'closed' as const : 'ok' as const), timeout])
    clearTimeout(timer)
    return result
  }

  /** Valid sends not answered by now. */
  takeUnacked (): string[] {
    const out = [...this.pendingValid.values()]
    this.pendingValid.clear()
    return out
  }

  close (): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate()
  }
}

export interface SocketFuzzOptions {
  /** The socket URL for a user's token. */
  url: (token: string) => string
  /** One token per connection (several connections may share a user). */
  tokens: string[]
  frames: number
  seed: number
  targets: FuzzTargets
  maxFrameBytes: number
  /** Frames between syncs; keep it under the server's maxQueuedFrames. */
  batch?: number
  /** How long a sync may wait for its pong before the socket counts as stalled. */
  syncTimeoutMs?: number
  onProgress?: (stats: FuzzStats) => void
}

/**
 * Sends `frames` frames spread over one connection per token, in batches each followed by a sync frame whose
 * reply proves the batch was handled. A frame that may close the socket is sent alone between syncs; a closed
 * socket is reopened. Stops by itself: every wait is bounded.
 */
export async function fuzzSockets (opts: SocketFuzzOptions, stats: FuzzStats = emptyStats()): Promise<FuzzStats> {
  const batch = opts.batch ?? 64
  const syncMs = opts.syncTimeoutMs ?? 30_000
  const perConnection = Math.ceil(opts.frames / opts.tokens.length)

  async function open (token: string): Promise<FuzzSocket> {
    for (let attempt = 0; ; attempt++) {
      const socket = new FuzzSocket(opts.url(token), stats)
      if (await socket.ready) return socket
      socket.close()
      if (attempt >= 20) throw new Error('the server refuses new sockets')
    }
  }

  async function run (index: number): Promise<void> {
    const token = opts.tokens[index]
    const gen = createFrameGenerator(opts.seed * 1000 + index, { targets: opts.targets, tag: `${opts.seed}-${index}`, maxFrameBytes: opts.maxFrameBytes })
    let socket = await open(token)
    let syncs = 0
    let inBatch = 0
    const quota = Math.min(perConnection, opts.frames - perConnection * index)

    const settle = async (): Promise<void> => {
      const result = await socket.sync(`${SYNC_PREFIX}${index}-${syncs++}`, syncMs)
      inBatch = 0
      if (result === 'ok') return
      if (result === 'stalled') {
        stats.stalls++
        socket.close()
        await socket.closed
      }
      stats.validNotAcked.push(...socket.takeUnacked())
      socket = await open(token)
      stats.reconnects++
    }

    for (let sent = 0; sent < quota; sent++) {
      const frame = gen.next()
      inc(stats.kinds, frame.kind)
      if (frame.validSend !== undefined) stats.validSends++
      if (frame.closes && inBatch > 0) await settle()
      socket.send(frame)
      stats.framesSent++
      inBatch++
      if (frame.closes || inBatch >= batch) await settle()
      if (stats.framesSent % 5000 === 0) opts.onProgress?.(stats)
    }
    await settle()
    stats.validNotAcked.push(...socket.takeUnacked())
    socket.ws.close(1000) // a clean close, so 1006 counts only the server's cut-offs
    await socket.closed
  }

  await Promise.all(opts.tokens.map(async (_, i) => { await run(i) }))
  return stats
}

/** status 0: no answer (the connection failed). */
export interface RestResult { status: number, body: string }
export type RestCall = (req: RestRequest) => Promise<RestResult>

export interface RestStats {
  requests: number
  statuses: Record<string, number>
  serverErrors: number
  serverErrorSamples: Array<{ kind: string, url: string, status: number, body: string }>
  /** Requests the server never answered (status 0), huge bodies it refused mid-upload aside. */
  noAnswer: number
}

/** Sends `count` junk REST requests, a few at a time, and counts the statuses. */
export async function fuzzRest (call: RestCall, opts: { count: number, seed: number, targets: FuzzTargets, tokens: string[], concurrency?: number, acked?: FuzzStats['acked'] }): Promise<RestStats> {
  const gen = createRestGenerator(opts.seed, { targets: opts.targets, tokens: opts.tokens })
  const stats: RestStats = { requests: 0, statuses: {}, serverErrors: 0, serverErrorSamples: [], noAnswer: 0 }
  const requests = Array.from({ length: opts.count }, () => gen.next())
  let next = 0
  async function worker (): Promise<void> {
    while (next < requests.length) {
      const req = requests[next++]
      const res = await call(req)
      stats.requests++
      inc(stats.statuses, res.status === 0 ? `no answer (${req.kind})` : String(res.status))
      // A junk POST that was valid after all is stored: the check afterwards counts it as acked.
      if (res.status === 201 && req.url.endsWith('/messages')) {
        const message = JSON.parse(res.body) as { id: string, conversationId: string, clientMessageId: string }
        opts.acked?.set(message.id, { conversationId: message.conversationId, clientMessageId: message.clientMessageId })
      }
      // The server may reset a connection still sending a body it refused (413): only then is no answer fine.
      if (res.status === 0 && req.kind !== 'huge body') stats.noAnswer++
      if (res.status >= 500 || (res.status === 0 && req.kind !== 'huge body')) {
        stats.serverErrors++
        if (stats.serverErrorSamples.length < 10) stats.serverErrorSamples.push({ kind: req.kind, url: req.url.slice(0, 120), status: res.status, body: res.body.slice(0, 300) })
      }
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker))
  return stats
}

/** GETs a conversation's whole log over REST, page by page. */
export async function readAllMessages (call: RestCall, conversationId: string, token: string): Promise<Array<Record<string, any>>> {
  const all: Array<Record<string, any>> = []
  let after = 0
  let retries = 3
  for (;;) {
    const res = await call({ kind: 'read', method: 'GET', url: `/chat/conversations/${conversationId}/messages?after=${after}&limit=500`, headers: { authorization: `Bearer ${token}` } })
    if (res.status === 429 && retries-- > 0) {
      // The REST rate limit: come back when it says (bounded: a few retries).
      const { retryAfterMs } = JSON.parse(res.body) as { retryAfterMs?: number }
      await new Promise((resolve) => setTimeout(resolve, Math.min(retryAfterMs ?? 1000, 61_000)))
      continue
    }
    if (res.status !== 200) throw new Error(`reading messages: ${res.status} ${res.body.slice(0, 200)}`)
    const items = JSON.parse(res.body).items as Array<Record<string, any>>
    all.push(...items)
    if (items.length < 500) return all
    after = items[items.length - 1].seq
  }
}

/**
 * What storage holds against what the fuzzer was told: every text message stored was acked (nothing junk
 * slipped in unannounced), every ack is stored, and the seqs have no gap.
 */
export function compareStored (stored: Array<Record<string, any>>, stats: FuzzStats, conversationId: string): { storedNotAcked: string[], ackedNotStored: string[], seqGaps: number } {
  const texts = stored.filter((m) => m.kind === 'text')
  const storedIds = new Set(texts.map((m) => m.id as string))
  const ackedHere = [...stats.acked].filter(([, a]) => a.conversationId === conversationId).map(([id]) => id)
  const ackedIds = new Set(ackedHere)
  let seqGaps = 0
  for (let i = 0; i < stored.length; i++) if (stored[i].seq !== i + 1) seqGaps++
  return {
    storedNotAcked: texts.filter((m) => !ackedIds.has(m.id)).map((m) => `${m.seq}:${String(m.clientMessageId)}`),
    ackedNotStored: ackedHere.filter((id) => !storedIds.has(id)),
    seqGaps
  }
}
