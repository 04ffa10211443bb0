import type { FastifyInstance } from 'fastify'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { test } from 'tap'
import { buildApp } from '../../examples/app.ts'
import { loadConfig } from '../../examples/config.ts'
import { createAskHandler, type AskHandler } from '../../examples/nlweb/handler.ts'
import type { Message } from '../../lib/client/index.ts'

// The example page (examples/public/chat.ts on the typed client) in a real Chromium: two users, the AI, a
// server restart mid-conversation. Waits on page conditions only; every wait has a bound.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const WAIT = { timeout: 15_000 }
const SCREENSHOT = process.env.BROWSER_SCREENSHOT // a path: the page as the test leaves it, to look at

/** The example host on a port, SQLite in a file, so a host started again on the same port and file resumes. */
async function startHost (db: string, askHandler: AskHandler, port = 0): Promise<FastifyInstance> {
  const app = await buildApp({ config: loadConfig({ CHAT_STORAGE: 'sqlite', CHAT_DB: db }), askHandler })
  await app.listen({ port, host: '127.0.0.1' })
  return app
}

function portOf (app: FastifyInstance): number {
  const address = app.server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}

async function signIn (page: Page, base: string, id: string, name: string): Promise<void> {
  await page.goto(base)
  await page.fill('#loginId', id)
  await page.fill('#loginName', name)
  await page.click('#login button[type=submit]')
  await page.locator('#status[data-state=open]').waitFor(WAIT)
}

async function say (page: Page, text: string): Promise<void> {
  await page.fill('#text', text)
  await page.press('#text', 'Enter')
}

/** The seqs of the messages the page shows, top to bottom. */
async function shownSeqs (page: Page): Promise<number[]> {
  return await page.$$eval('#messages .msg', (nodes) => nodes.map((n) => Number((n as HTMLElement).dataset.seq)))
}

const missing = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (install Debian's chromium, or set CHROMIUM_PATH)`
const ci = process.env.CI !== undefined && process.env.CI !== ''

if (missing !== undefined && ci) {
  test('the browser test has a Chromium in CI', async (t) => { t.fail(missing) })
} else {
  if (missing !== undefined) console.log(`# browser test skipped: ${missing}`)
  test('example page in Chromium: two users and the AI, streamed cards, a host restart with nothing lost or doubled', { skip: missing ?? false }, async (t) => {
    // The example's own /ask, with a gate the test can close to hold an answer mid-stream.
    const ask = createAskHandler()
    let gate: Promise<void> | undefined
    let openGate = (): void => {}
    const askHandler: AskHandler = async (params, sink, options) => {
      let parts = 0
      await ask(params, {
        async write (frame) {
          if (parts++ === 1 && gate !== undefined) {
            const aborted = new Promise<void>((resolve) => { options?.signal?.addEventListener('abort', () => { resolve() }, { once: true }) })
            await Promise.race([gate, aborted])
          }
          await sink.write(frame)
        }
      }, options)
    }

    const dir = mkdtempSync(join(tmpdir(), 'chat-browser-'))
    const db = join(dir, 'chat.db')
    let app = await startHost(db, askHandler)
    const port = portOf(app)
    const base = `http://127.0.0.1:${port}`
    t.teardown(async () => { await app.close(); rmSync(dir, { recursive: true, force: true }) })

    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    t.teardown(async () => { await browser.close() })
    const alice = await (await browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage()
    const bob = await (await browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage()
    const pageErrors: string[] = []
    for (const page of [alice, bob]) page.on('pageerror', (err) => { pageErrors.push(err.message) })

    await signIn(alice, base, 'alice', 'Alice Liddell')
    await signIn(bob, base, 'bob', 'Bob Marley')

    // Alice creates a conversation with Bob and the AI; Bob is told and finds it in his list.
    await alice.fill('#ncTitle', 'Dinner plans')
    await alice.fill('#ncPeople', 'bob')
    await alice.check('#ncAi')
    await alice.click('#newConv button[type=submit]')
    await alice.locator('#convHead .who', { hasText: 'Bob Marley' }).waitFor(WAIT)
    await alice.locator('#convHead .who', { hasText: 'Assistant' }).waitFor(WAIT)
    const conversationId = await alice.$eval('#convs li.active', (li) => (li as HTMLElement).dataset.id ?? '')
    t.ok(conversationId, 'the new conversation is open')
    await bob.locator(`#convs li[data-id="${conversationId}"]`).click(WAIT)
    await bob.locator('#convHead .who', { hasText: 'Alice Liddell' }).waitFor(WAIT)
    await bob.locator('#messages .msg.system', { hasText: 'Bob Marley' }).first().waitFor(WAIT)

    // Typing shows on the other side; the message follows.
    await alice.fill('#text', 'hi Bob')
    await bob.locator('#typing', { hasText: 'Alice Liddell is typing' }).waitFor(WAIT)
    await alice.press('#text', 'Enter')
    await bob.locator('#messages .msg.text', { hasText: 'hi Bob' }).waitFor(WAIT)
    await alice.locator('#messages .msg.text.mine', { hasText: 'hi Bob' }).waitFor(WAIT)
    t.equal(await bob.textContent('#typing'), '', 'typing cleared by the message')

    // An @assistant question: result cards while the answer streams (held after its first part), on both pages.
    gate = new Promise((resolve) => { openGate = resolve })
    await say(bob, '@assistant vegetarian pasta for dinner?')
    for (const page of [alice, bob]) {
      await page.locator('#messages .msg.ai[data-status=streaming] .card').first().waitFor(WAIT)
      await page.locator('#messages .msg.ai[data-status=streaming] button.stop').waitFor(WAIT)
    }
    openGate()
    gate = undefined
    for (const page of [alice, bob]) {
      await page.locator('#messages .msg.ai[data-status=complete] .text').waitFor(WAIT)
    }
    const cards = await alice.locator('#messages .msg.ai .card').count()
    t.ok(cards >= 2, `the answer shows its result cards (${cards})`)
    t.equal(await bob.locator('#messages .msg.ai .card').count(), cards, 'the same cards on both pages')
    t.equal(await alice.locator('#messages .msg.ai').count(), 1, 'one growing message, not one per part')

    // Stop: the next answer is held, Alice stops it, both pages show it stopped.
    gate = new Promise((resolve) => { openGate = resolve })
    await say(alice, '@Assistant and something with mushrooms?')
    await alice.locator('#messages .msg.ai[data-status=streaming] button.stop').click(WAIT)
    for (const page of [alice, bob]) {
      await page.locator('#messages .msg.ai[data-status=cancelled] .badge', { hasText: 'stopped' }).waitFor(WAIT)
    }
    openGate()
    gate = undefined

    // The host goes away mid-conversation. Both pages say so; what they send meanwhile waits in the client.
    await say(alice, 'before the restart')
    await bob.locator('#messages .msg', { hasText: 'before the restart' }).waitFor(WAIT)
    await app.close()
    for (const page of [alice, bob]) await page.locator('#status[data-state=reconnecting]').waitFor(WAIT)
    await say(alice, 'sent while the server was down')
    await say(bob, 'me too, while it was down')
    for (const page of [alice, bob]) await page.locator('#outgoing .msg.waiting').waitFor(WAIT)

    // Same port, same SQLite file: the pages reconnect, resume and send what waited, each once.
    app = await startHost(db, askHandler, port)
    for (const page of [alice, bob]) {
      await page.locator('#status[data-state=open]').waitFor(WAIT)
      await page.locator('#messages .msg', { hasText: 'sent while the server was down' }).waitFor(WAIT)
      await page.locator('#messages .msg', { hasText: 'me too, while it was down' }).waitFor(WAIT)
      await page.locator('#outgoing .msg').waitFor({ state: 'detached', ...WAIT })
    }
    await say(bob, 'and after it')
    await alice.locator('#messages .msg', { hasText: 'and after it' }).waitFor(WAIT)

    // What the pages show is what is stored: the same seqs, each once, in order.
    const token = (await app.inject({ method: 'POST', url: '/auth/dev-login', payload: { userId: 'alice' } })).json().token as string
    const res = await app.inject({ url: `/chat/conversations/${conversationId}/messages?limit=500`, headers: { authorization: `Bearer ${token}` } })
    const stored = (res.json() as { items: Message[] }).items
    const storedSeqs = stored.map((m) => m.seq)
    t.same(storedSeqs, Array.from({ length: stored.length }, (_, i) => i + 1), 'storage holds seq 1..N')
    t.equal(stored.filter((m) => m.content === 'sent while the server was down').length, 1, 'the queued message stored once')
    for (const [name, page] of [['alice', alice], ['bob', bob]] as const) {
      await page.waitForFunction((n) => document.querySelectorAll('#messages .msg').length >= n, stored.length, WAIT)
      t.same(await shownSeqs(page), storedSeqs, `${name}'s page shows every stored message once, in order`)
    }
    const aiStatuses = stored.filter((m) => m.kind === 'ai').map((m) => m.status)
    t.same(aiStatuses, ['complete', 'cancelled'], 'the answers as stored')

    // An expired token: the page asks Bob to sign in again, then carries on where he was.
    const expired = app.jwt.sign({ id: 'bob', name: 'Bob Marley', roles: [] }, { expiresIn: -60_000 })
    await bob.evaluate((token) => {
      const saved = JSON.parse(sessionStorage.getItem('chat-session') ?? '{}') as { token: string }
      sessionStorage.setItem('chat-session', JSON.stringify({ ...saved, token }))
    }, expired)
    await bob.reload()
    await bob.locator('#gate.overlay #loginTitle', { hasText: 'expired' }).waitFor(WAIT)
    t.equal(await bob.inputValue('#loginId'), 'bob', 'the same user, filled in')
    await bob.click('#login button[type=submit]')
    await bob.locator('#status[data-state=open]').waitFor(WAIT)
    await bob.waitForFunction((n) => document.querySelectorAll('#messages .msg').length >= n, stored.length, WAIT)
    t.same(await shownSeqs(bob), storedSeqs, 'after signing in again, the conversation as stored')

    if (SCREENSHOT !== undefined) await bob.screenshot({ path: SCREENSHOT })
    t.same(pageErrors, [], 'no script errors on either page')
  })

  test('example page in Chromium with WebSockets blocked: the page carries on over event streams and REST', { skip: missing ?? false }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-browser-'))
    const app = await startHost(join(dir, 'chat.db'), createAskHandler())
    const base = `http://127.0.0.1:${portOf(app)}`
    t.teardown(async () => { await app.close(); rmSync(dir, { recursive: true, force: true }) })
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] })
    t.teardown(async () => { await browser.close() })
    const alice = await (await browser.newContext()).newPage()
    const bob = await (await browser.newContext()).newPage()
    const pageErrors: string[] = []
    for (const page of [alice, bob]) page.on('pageerror', (err) => { pageErrors.push(err.message) })
    // Alice's network lets no WebSocket through: every one fails before it opens, as behind a blocking proxy.
    await alice.addInitScript(() => {
      const w = window as unknown as { WebSocket: unknown, wsTries: number }
      w.wsTries = 0
      w.WebSocket = class Blocked {
        readyState = 0
        onopen: unknown = null
        onmessage: unknown = null
        onclose: ((e: { code: number }) => void) | null = null
        onerror: ((e: unknown) => void) | null = null
        constructor () {
          w.wsTries++
          setTimeout(() => { this.readyState = 3; this.onerror?.({}); this.onclose?.({ code: 1006 }) }, 0)
        }

        send (): void {}
        close (): void {}
      }
    })
    const streams: string[] = []
    alice.on('request', (r) => { if (r.url().includes('/chat/events')) streams.push(r.url()) })

    await signIn(alice, base, 'alice', 'Alice Liddell')
    await signIn(bob, base, 'bob', 'Bob Marley')
    t.ok(await alice.evaluate(() => (window as unknown as { wsTries: number }).wsTries) >= 2, 'the page tried WebSockets first')
    await alice.fill('#ncTitle', 'Blocked')
    await alice.fill('#ncPeople', 'bob')
    await alice.click('#newConv button[type=submit]')
    await alice.locator('#convHead .who', { hasText: 'Bob Marley' }).waitFor(WAIT)
    const conversationId = await alice.$eval('#convs li.active', (li) => (li as HTMLElement).dataset.id ?? '')
    await bob.locator(`#convs li[data-id="${conversationId}"]`).click(WAIT)
    await say(alice, 'hi Bob, from behind the proxy')
    await bob.locator('#messages .msg.text', { hasText: 'from behind the proxy' }).waitFor(WAIT)
    await bob.fill('#text', 'hi Alice')
    await alice.locator('#typing', { hasText: 'Bob Marley is typing' }).waitFor(WAIT)
    await bob.press('#text', 'Enter')
    await alice.locator('#messages .msg.text', { hasText: 'hi Alice' }).waitFor(WAIT)
    t.ok(streams.some((u) => u.includes(`conversationId=${conversationId}`)), 'alice reads the conversation from an event stream')
    t.same(await shownSeqs(alice), await shownSeqs(bob), 'both pages show the same messages')
    t.same(pageErrors, [], 'no script errors on either page')
  })
}
