import t from 'tap'
import { createConversation, startApp } from '../helpers/app.ts'
import { compareStored, fuzzRest, fuzzSockets, readAllMessages, type RestCall } from '../helpers/fuzz.ts'

/** The generator of `npm run fuzz` (bench/fuzz.ts), small: a few thousand frames against an in-process app. */

const SEED = 7
const FRAMES = 2000
const USERS = ['fuzz0', 'fuzz1', 'fuzz2']

t.test('junk frames and REST requests get 4xx replies, never a 5xx or a crash, and store nothing but acked messages', async (t) => {
  const ta = await startApp(t, { rateLimit: { max: 0 } })
  const own = await createConversation(ta, USERS[0], USERS.slice(1))
  const foreign = await createConversation(ta, 'victim')
  const targets = { own: own.id as string, foreign: foreign.id as string }
  const tokens = await Promise.all(USERS.map(async (u) => await ta.token(u)))
  const victim = await ta.token('victim')
  const call: RestCall = async (req) => {
    const res = await ta.app.inject({ method: req.method, url: req.url, headers: req.headers, payload: req.body })
    return { status: res.statusCode, body: res.body }
  }
  const foreignBefore = await readAllMessages(call, targets.foreign, victim)

  const stats = await fuzzSockets({
    url: (token) => `${ta.wsUrl}?access_token=${token}`,
    tokens,
    frames: FRAMES,
    seed: SEED,
    targets,
    maxFrameBytes: 1024 * 1024,
    syncTimeoutMs: 20_000
  })
  const rest = await fuzzRest(call, { count: 300, seed: SEED, targets, tokens, acked: stats.acked })

  t.equal(stats.framesSent, FRAMES)
  t.equal(stats.serverErrors, 0, `no socket reply with status >= 500: ${JSON.stringify(stats.serverErrorSamples)}`)
  t.equal(rest.serverErrors, 0, `no REST reply with status >= 500: ${JSON.stringify(rest.serverErrorSamples)}`)
  t.equal(stats.stalls, 0, 'every batch was answered')
  t.ok((stats.replies['error:BAD_FRAME'] ?? 0) > FRAMES / 4, 'junk was refused as BAD_FRAME')
  t.ok((rest.statuses['400'] ?? 0) > 0 && (rest.statuses['404'] ?? 0) > 0 && (rest.statuses['413'] ?? 0) > 0, 'REST junk got 400, 404 and 413')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')

  const health = await call({ kind: 'health', method: 'GET', url: '/chat/health', headers: {} })
  t.equal(health.status, 200, 'the app still answers')
  t.ok(stats.validSends > 50, 'valid sends were among the junk')
  t.same(stats.validNotAcked, [], 'every valid send was answered')
  t.same(Object.keys(stats.validRefused).filter((code) => code !== 'RATE_LIMITED'), [], 'and acked, unless a rate limit refused it')
  const stored = await readAllMessages(call, targets.own, tokens[0])
  t.same(compareStored(stored, stats, targets.own), { storedNotAcked: [], ackedNotStored: [], seqGaps: 0 }, 'storage holds exactly the acked messages, gap-free')
  t.same(await readAllMessages(call, targets.foreign, victim), foreignBefore, 'the other user\'s conversation is untouched')
})
