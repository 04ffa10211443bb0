/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { ChatClient, ChatClientError, type ChatClientState, type Conversation, type Message, type ParticipantFrame, type TypingEventFrame } from '../../lib/client/index.ts'
import { byId, el, toast, uuid } from './dom.ts'
import { renderMessage, renderOutgoing, type MessageView, type Outgoing } from './messages.ts'
import { Session } from './session.ts'

/**
 * The example chat page, on the typed client (`fastify-nlweb-chat/client`). The client keeps the socket up,
 * rejoins with `since`, pages gaps over REST and resends unacknowledged messages; this file only keeps what is
 * on screen: the conversation list, the open conversation, the user's unsent messages.
 * Bundled by examples/page.ts at host start and served as /chat.js.
 */

interface Room {
  id: string
  conversation: Conversation | undefined
  /** In seq order, each once: the client's `message` events, older pages read over REST in front. */
  messages: Message[]
  outgoing: Map<string, Outgoing>
  typing: Map<string, ReturnType<typeof setTimeout>>
  unread: boolean
  joining: Promise<void> | undefined
}

const TYPING_SHOWN_MS = 3500
const TYPING_EVERY_MS = 2500
const PROBE_EVERY_MS = 4000
const CURRENT_KEY = 'chat-current'
const STATES: Record<ChatClientState, string> = { connecting: 'connecting…', open: 'online', reconnecting: 'reconnecting…', closed: 'offline' }

const session = new Session()
const rooms = new Map<string, Room>()
const stopping = new Set<string>()
/** The open conversation's rendered messages, by message id: an answer that grows is replaced in place. */
const nodes = new Map<string, HTMLElement>()
let conversations: Conversation[] = []
let current: string | undefined
let client: ChatClient
let probe: ReturnType<typeof setInterval> | undefined
let lastTyping = 0

const log = byId('log')
const input = byId<HTMLInputElement>('text')

function me (): string {
  return session.user?.id ?? ''
}

const view: MessageView = {
  get me () { return me() },
  stopping,
  stop (m) {
    stopping.add(m.id)
    client.cancel(m.conversationId, m.id)
    onUpdate(m)
  }
}

// ---- sign-in ------------------------------------------------------------------------------------------------

function showSignIn (expired: boolean): void {
  const gate = byId('gate')
  gate.hidden = false
  gate.classList.toggle('overlay', expired)
  byId('loginTitle').textContent = expired ? 'Your session has expired' : 'Sign in (dev)'
  byId('loginNote').hidden = !expired
  if (expired && session.user !== undefined) {
    byId<HTMLInputElement>('loginId').value = session.user.id
    byId<HTMLInputElement>('loginName').value = session.user.name
    byId<HTMLInputElement>('loginAdmin').checked = session.user.admin
  }
  byId<HTMLInputElement>(expired ? 'loginName' : 'loginId').focus()
}

async function signIn (): Promise<void> {
  const id = byId<HTMLInputElement>('loginId').value.trim()
  const name = byId<HTMLInputElement>('loginName').value.trim() || id
  const admin = byId<HTMLInputElement>('loginAdmin').checked
  const before = session.user?.id
  await session.signIn(id, name, admin)
  byId('gate').hidden = true
  if (before === undefined) start()
  else if (before !== id) {
    sessionStorage.removeItem(CURRENT_KEY)
    location.reload() // someone else now: start over with their conversations
  }
  // else: the same user with a fresh token; the client, waiting in session.token(), carries on
}

session.onSignInNeeded = () => { showSignIn(true) }

/** A REST call through the client; a 401 marks the token refused, and the retry waits for a new sign-in. */
async function rest<T> (call: (c: ChatClient) => Promise<T>): Promise<T> {
  try {
    return await call(client)
  } catch (err) {
    if (!(err instanceof ChatClientError) || err.status !== 401) throw err
    session.refuse()
    return await call(client)
  }
}

/** While reconnecting: is the server down, or does it refuse the token (a refused upgrade is only a close)? */
function watchToken (on: boolean): void {
  clearInterval(probe)
  probe = undefined
  if (!on) return
  probe = setInterval(() => {
    if (!session.valid) return
    fetch('/chat/conversations?limit=1', { headers: session.header() })
      .then((res) => { if (res.status === 401) session.refuse() }, () => { /* the server is down: keep waiting */ })
  }, PROBE_EVERY_MS)
}

// ---- the client ---------------------------------------------------------------------------------------------

function start (): void {
  const user = session.user
  if (user === undefined) return
  byId('gate').hidden = true
  byId('app').hidden = false
  byId('logout').hidden = false
  byId('status').hidden = false
  byId('me').replaceChildren(el('span', {}, user.name, user.admin ? el('span', { className: 'tag' }, 'admin') : null))

  client = new ChatClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/chat/ws`,
    token: async () => await session.token(),
    // Called as a plain function: the browser's fetch throws "Illegal invocation" when called as a method.
    fetch: async (url, init) => await fetch(url, init)
  })
  let readies = 0
  client.on('state', onState)
  client.on('ready', () => { if (readies++ > 0) void loadConversations() }) // added to one while away?
  client.on('joined', ({ conversation }) => { onConversation(conversation) })
  client.on('message', onMessage)
  client.on('update', onUpdate)
  client.on('participant', onParticipant)
  // A big conversation's presence comes coalesced (extension 26); the head counts those it does not list.
  client.on('presence', (f) => { if (current === f.conversationId) renderHead() })
  client.on('typing', onTyping)
  client.on('error', onClientError)
  onState(client.state)
  void loadConversations()
}

function onState (state: ChatClientState): void {
  const status = byId('status')
  status.dataset.state = state
  document.body.dataset.state = state
  status.replaceChildren(el('span', { className: state === 'open' ? 'dot on' : 'dot', title: STATES[state] }), el('span', { className: 'label' }, STATES[state]))
  watchToken(state === 'reconnecting')
  const r = current === undefined ? undefined : rooms.get(current)
  if (r === undefined) return
  for (const o of r.outgoing.values()) {
    if (o.state !== 'failed') o.state = state === 'open' ? 'sending' : 'waiting'
  }
  renderUnsent(r)
}

function onClientError (err: ChatClientError): void {
  if (err.code === 'NOT_FOUND' && stopping.size > 0) {
    // A stop that came too late: the answer had already ended, and its final version is on screen.
    stopping.clear()
    if (current !== undefined) renderLog()
    return
  }
  toast(`${err.code}: ${err.message}`)
}

function room (id: string): Room {
  let r = rooms.get(id)
  if (r === undefined) {
    r = { id, conversation: conversations.find((c) => c.id === id), messages: [], outgoing: new Map(), typing: new Map(), unread: false, joining: undefined }
    rooms.set(id, r)
  }
  return r
}

function onConversation (conversation: Conversation): void {
  const i = conversations.findIndex((c) => c.id === conversation.id)
  if (i >= 0) conversations[i] = conversation
  else conversations.unshift(conversation)
  const r = rooms.get(conversation.id)
  if (r !== undefined) r.conversation = conversation
  renderList()
  if (current === conversation.id) renderHead()
}

function onMessage (m: Message): void {
  const r = room(m.conversationId)
  r.messages.push(m)
  const typing = r.typing.get(m.sender.id)
  if (typing !== undefined) {
    clearTimeout(typing)
    r.typing.delete(m.sender.id)
  }
  const mine = m.sender.id === me() && m.clientMessageId !== undefined && r.outgoing.delete(m.clientMessageId)
  if (current !== r.id) {
    r.unread = true
    renderList()
    return
  }
  const bottom = atBottom()
  if (mine) log.querySelector(`[data-client-message-id="${CSS.escape(m.clientMessageId ?? '')}"]`)?.remove()
  const node = renderMessage(m, view)
  nodes.set(m.id, node)
  byId('messages').append(node)
  renderTyping()
  if (r.messages.length === 1) renderOlder(r)
  if (bottom || mine) scrollDown()
}

/** An AI answer grew or ended: the same message object, rendered again in place. */
function onUpdate (m: Message): void {
  if (m.status !== 'streaming') stopping.delete(m.id)
  const node = nodes.get(m.id)
  if (current !== m.conversationId || node === undefined) return
  const bottom = atBottom()
  const next = renderMessage(m, view)
  node.replaceWith(next)
  nodes.set(m.id, next)
  if (bottom) scrollDown()
}

function onParticipant (f: ParticipantFrame): void {
  const self = f.participant.id === me()
  if (self && f.event === 'left') {
    removed(f.conversationId)
    return
  }
  const listed = conversations.find((c) => c.id === f.conversationId)
  if (listed === undefined) {
    // Extension 16: told when someone adds us, on every socket.
    if (self && f.event === 'joined') void loadConversations()
    return
  }
  for (const c of new Set([listed, rooms.get(f.conversationId)?.conversation])) {
    if (c === undefined) continue
    const i = c.participants.findIndex((p) => p.id === f.participant.id)
    if (f.event === 'left') {
      if (i >= 0) c.participants.splice(i, 1)
    } else if (i >= 0) {
      c.participants[i] = { ...c.participants[i], ...f.participant }
    } else {
      c.participants.push(f.participant)
    }
  }
  renderList()
  if (current === f.conversationId) {
    renderHead()
    renderTyping()
  }
}

function onTyping (f: TypingEventFrame): void {
  if (f.participantId === me()) return
  const r = rooms.get(f.conversationId)
  if (r === undefined) return
  clearTimeout(r.typing.get(f.participantId))
  r.typing.set(f.participantId, setTimeout(() => {
    r.typing.delete(f.participantId)
    if (current === r.id) renderTyping()
  }, TYPING_SHOWN_MS))
  if (current === r.id) renderTyping()
}

/** We were removed from the conversation (or it was deleted): forget it. */
function removed (id: string): void {
  const title = conversations.find((c) => c.id === id)?.title
  client.leave(id)
  const r = rooms.get(id)
  if (r !== undefined) for (const timer of r.typing.values()) clearTimeout(timer)
  rooms.delete(id)
  conversations = conversations.filter((c) => c.id !== id)
  if (current === id) {
    current = undefined
    toast(`You are no longer in “${title ?? 'this conversation'}”`)
  }
  renderAll()
}

async function loadConversations (): Promise<void> {
  try {
    const page = await rest(async (c) => await c.rest.listConversations({ limit: 100 }))
    conversations = page.items.map((c) => rooms.get(c.id)?.conversation ?? c)
    // Deleted, or removed while we were away (the whole list is here when there is no next page).
    if (page.nextCursor === null) for (const id of [...rooms.keys()]) if (!conversations.some((c) => c.id === id)) removed(id)
    renderList()
    if (current !== undefined) renderHead()
    else {
      const last = sessionStorage.getItem(CURRENT_KEY)
      if (last !== null && conversations.some((c) => c.id === last)) open(last)
    }
  } catch (err) {
    toast(`Could not list conversations: ${(err as Error).message}`)
  }
}

function open (id: string): void {
  current = id
  sessionStorage.setItem(CURRENT_KEY, id) // reopened after a reload
  const r = room(id)
  r.unread = false
  r.joining ??= client.join(id).then(() => {}, (err: unknown) => {
    toast(`Could not open the conversation: ${(err as Error).message}`)
    if (err instanceof ChatClientError && err.code === 'NOT_FOUND') removed(id)
    else r.joining = undefined
  })
  byId('app').classList.add('in-conv')
  renderAll()
  scrollDown()
  input.focus()
}

function deliver (r: Room, o: Outgoing): void {
  o.state = client.state === 'open' ? 'sending' : 'waiting'
  delete o.error
  if (current === r.id) renderUnsent(r)
  // Queued by the client while disconnected, resent with the same clientMessageId until acked: stored once.
  client.send(r.id, o.content, { clientMessageId: o.clientMessageId }).catch((err: unknown) => {
    if (!r.outgoing.has(o.clientMessageId) || (err instanceof ChatClientError && err.code === 'CLOSED')) return
    o.state = 'failed'
    o.error = reason(err)
    if (current === r.id) renderUnsent(r)
  })
}

function reason (err: unknown): string {
  if (!(err instanceof ChatClientError)) return String(err)
  if (err.code === 'RATE_LIMITED' && err.retryAfterMs !== undefined) return `too many messages, retry in ${Math.ceil(err.retryAfterMs / 1000)} s`
  if (err.code === 'TOO_LARGE') return 'too long'
  if (err.code === 'FORBIDDEN') return 'the conversation is closed'
  return err.message
}

async function loadOlder (r: Room): Promise<void> {
  const before = r.messages[0]?.seq
  if (before === undefined) return
  try {
    const older = await rest(async (c) => await c.rest.messages(r.id, { before, limit: 50 }))
    if (r.messages[0]?.seq !== before) return // loaded twice meanwhile
    r.messages.unshift(...older)
    if (current !== r.id) return
    const height = log.scrollHeight
    renderLog()
    log.scrollTop += log.scrollHeight - height
  } catch (err) {
    toast(`Could not load older messages: ${(err as Error).message}`)
  }
}

// ---- rendering ----------------------------------------------------------------------------------------------

function atBottom (): boolean {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40
}

function scrollDown (): void {
  log.scrollTop = log.scrollHeight
}

function renderAll (): void {
  renderList()
  renderHead()
  renderLog()
  renderTyping()
  const open = current !== undefined
  byId('compose').hidden = !open
  byId('convHead').hidden = !open
  if (!open) byId('app').classList.remove('in-conv')
}

function others (c: Conversation): string {
  const names = c.participants.filter((p) => p.id !== me()).map((p) => p.name)
  return names.length > 0 ? names.join(', ') : 'just you'
}

function renderList (): void {
  const list = byId('convs')
  if (conversations.length === 0) {
    list.replaceChildren(el('li', { className: 'none' }, 'No conversations yet.'))
    return
  }
  list.replaceChildren(...conversations.map((c) => el('li', {
    className: [c.id === current ? 'active' : '', rooms.get(c.id)?.unread === true ? 'unread' : ''].join(' ').trim(),
    dataset: { id: c.id },
    onclick: () => { open(c.id) }
  }, el('span', { className: 'title' }, c.title !== '' ? c.title : '(untitled)'), el('small', {}, others(c)))))
}

function renderHead (): void {
  const head = byId('convHead')
  const r = current === undefined ? undefined : rooms.get(current)
  if (r === undefined) {
    head.replaceChildren()
    return
  }
  const back = el('button', { type: 'button', className: 'back', title: 'Conversations', onclick: () => { byId('app').classList.remove('in-conv') } }, '‹')
  const c = r.conversation
  if (c === undefined) {
    head.replaceChildren(back, el('div', { className: 'title' }, el('b', {}, 'Loading…')))
    return
  }
  const people = c.participants.map((p) => el('span', { className: 'who', title: `${p.id} · ${p.role}`, dataset: { id: p.id } },
    el('span', { className: p.online || p.type === 'ai' ? 'dot on' : 'dot' }), p.name, p.type === 'ai' ? el('span', { className: 'tag' }, 'AI') : null))
  // A big conversation's `joined` lists only its first participants: the rest as a count, with who is online.
  const more = client.participantCount(c.id) - c.participants.length
  if (more > 0) people.push(el('span', { className: 'who' }, `+${more} more · ${client.online(c.id).length} online`))
  const who = el('input', { type: 'text', placeholder: 'add by user id', 'aria-label': 'Add a participant by user id', autocomplete: 'off' })
  const add = el('form', { className: 'add', onsubmit: (ev: Event) => { ev.preventDefault(); void addPerson(r, who) } }, who, el('button', { type: 'submit' }, 'Add'))
  head.replaceChildren(back, el('div', { className: 'title' }, el('b', { title: c.title }, c.title !== '' ? c.title : '(untitled)'), el('div', { className: 'people' }, people)), add)
}

async function addPerson (r: Room, field: HTMLInputElement): Promise<void> {
  const userId = field.value.trim()
  if (userId === '') return
  try {
    await rest(async (c) => await c.rest.addParticipant(r.id, { userId }))
    field.value = '' // the participant event shows them
  } catch (err) {
    toast(err instanceof ChatClientError && err.code === 'CONFLICT' ? `${userId} is already in this conversation` : `Could not add ${userId}: ${(err as Error).message}`)
  }
}

function renderTyping (): void {
  const r = current === undefined ? undefined : rooms.get(current)
  const names = r === undefined ? [] : [...r.typing.keys()].map((id) => r.conversation?.participants.find((p) => p.id === id)?.name ?? id)
  byId('typing').textContent = names.length === 0 ? '' : `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…`
}

function renderOlder (r: Room): void {
  const first = r.messages[0]
  const older = byId('older')
  older.hidden = first === undefined || first.seq <= 1
  older.onclick = () => { void loadOlder(r) }
}

function renderUnsent (r: Room): void {
  byId('outgoing').replaceChildren(...[...r.outgoing.values()].map((o) => renderOutgoing(o,
    () => { deliver(r, o) },
    () => { r.outgoing.delete(o.clientMessageId); renderUnsent(r) })))
}

function renderLog (): void {
  nodes.clear()
  const r = current === undefined ? undefined : rooms.get(current)
  byId('empty').hidden = r !== undefined
  if (r === undefined) {
    byId('messages').replaceChildren()
    byId('outgoing').replaceChildren()
    byId('older').hidden = true
    return
  }
  byId('messages').replaceChildren(...r.messages.map((m) => {
    const node = renderMessage(m, view)
    nodes.set(m.id, node)
    return node
  }))
  renderUnsent(r)
  renderOlder(r)
}

// ---- wiring -------------------------------------------------------------------------------------------------

byId('login').addEventListener('submit', (ev) => {
  ev.preventDefault()
  signIn().catch((err: unknown) => { toast(`Sign-in failed: ${(err as Error).message}`) })
})

byId('logout').addEventListener('click', () => {
  client.close()
  session.signOut()
  location.reload()
})

byId('refresh').addEventListener('click', () => { void loadConversations() })

byId('newConv').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const title = byId<HTMLInputElement>('ncTitle').value.trim()
  const participants = byId<HTMLInputElement>('ncPeople').value.split(',').map((s) => s.trim()).filter(Boolean)
  const ai = byId<HTMLInputElement>('ncAi').checked
  rest(async (c) => await c.rest.createConversation({ ...(title !== '' ? { title } : {}), participants, ai })).then((c) => {
    byId<HTMLInputElement>('ncTitle').value = ''
    byId<HTMLInputElement>('ncPeople').value = ''
    onConversation(c)
    open(c.id)
  }, (err: unknown) => { toast(`Could not create the conversation: ${(err as Error).message}`) })
})

input.addEventListener('input', () => {
  if (current === undefined || Date.now() - lastTyping < TYPING_EVERY_MS) return
  lastTyping = Date.now()
  client.typing(current)
})

byId('compose').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const content = input.value.trim()
  if (content === '' || current === undefined) return
  const r = room(current)
  const o: Outgoing = { clientMessageId: uuid(), content, state: 'sending' }
  r.outgoing.set(o.clientMessageId, o)
  input.value = ''
  lastTyping = 0
  deliver(r, o)
  scrollDown()
})

if (session.signedIn) start()
else showSignIn(false)
