// Example client for fastify-nlweb-chat (docs/protocol.md). Plain browser JS, no build step.
// User text only ever goes through textContent / attributes, never innerHTML.
'use strict'

const $ = (id) => document.getElementById(id)
const state = {
  token: null, user: null, ws: null, backoff: 500, pingTimer: null, pollTimer: null,
  convs: [], current: null,
  names: new Map(), namesChanged: false, // userId -> display name seen on messages (participants added by id are stored with name = id)
  rooms: new Map() // conversationId -> { conversation, messages: Map<seq, Message>, lastSeq, pending: Map<clientMessageId, {...}>, typing: Map }
}

/** el('div', { className: 'x', onclick: fn }, 'text', child) — strings become text nodes. */
function el (tag, props, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
    else if (k in node) node[k] = v
    else node.setAttribute(k, v)
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c))
  return node
}

function toast (text) {
  const t = el('div', { className: 'toast' }, text)
  $('toasts').append(t)
  setTimeout(() => t.remove(), 5000)
}

function uuid () {
  if (crypto.randomUUID) return crypto.randomUUID() // secure contexts only (https, localhost)
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

const time = (iso) => { try { return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) } catch { return '' } }
const safeUrl = (u) => { try { const x = new URL(u, location.href); return /^https?:$/.test(x.protocol) ? x.href : null } catch { return null } }
/** A participant's display name: the stored one, unless it is just the id and a better one was seen on a message. */
const nameOf = (p) => (p.name && p.name !== p.id ? p.name : state.names.get(p.id) || p.name || p.id)

// ---- REST ---------------------------------------------------------------------------------------------------

async function api (method, path, body) {
  const headers = {}
  if (state.token) headers.authorization = `Bearer ${state.token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  if (res.status === 204) return null
  const data = await res.json().catch(() => null)
  if (res.status === 401 && state.token) logout()
  if (!res.ok) throw new Error(data && data.code ? `${data.code}: ${data.message}` : `HTTP ${res.status}`)
  return data
}

async function login (userId, name, admin) {
  const { token } = await api('POST', '/auth/dev-login', { userId, name, admin })
  state.token = token
  state.user = { userId, name, admin }
  sessionStorage.setItem('chat-session', JSON.stringify({ token, user: state.user }))
  start()
}

function logout () {
  sessionStorage.removeItem('chat-session')
  state.token = null
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.close(1000)
  location.reload()
}

function start () {
  $('login').hidden = true
  $('app').hidden = false
  $('logout').hidden = false
  $('me').textContent = `${state.user.name || state.user.userId}${state.user.admin ? ' (admin)' : ''}`
  state.names.set(state.user.userId, state.user.name || state.user.userId)
  loadConversations()
  connect()
  // nothing is pushed when someone else adds you to a conversation: poll the list (quietly) while visible
  clearInterval(state.pollTimer)
  state.pollTimer = setInterval(() => { if (document.visibilityState === 'visible') loadConversations(true) }, 10000)
  window.addEventListener('focus', () => loadConversations(true))
}

async function loadConversations (quiet) {
  if (!state.token) return
  try {
    const { items } = await api('GET', '/chat/conversations?limit=100')
    state.convs = items
    renderConvs()
  } catch (err) { if (!quiet) toast(err.message) }
}

// ---- WebSocket ----------------------------------------------------------------------------------------------

function connect () {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const ws = new WebSocket(`${proto}//${location.host}/chat/ws?access_token=${encodeURIComponent(state.token)}`)
  state.ws = ws
  ws.onmessage = (ev) => {
    let frame
    try { frame = JSON.parse(ev.data) } catch { return }
    if (frame.type === 'ready') ws.wasReady = true
    handle(frame)
  }
  ws.onclose = (ev) => {
    if (state.ws !== ws) return
    clearInterval(state.pingTimer)
    setStatus(false)
    if (!state.token) return
    if (ev.code === 1008) toast('Disconnected by the server (policy)')
    // an upgrade refused with 401 (expired token) only shows up as a close: ask REST, which logs out on 401
    if (!ws.wasReady) api('GET', '/chat/conversations?limit=1').catch(() => {})
    const delay = state.backoff + Math.random() * 300
    state.backoff = Math.min(state.backoff * 2, 15000)
    setTimeout(connect, delay)
  }
}

function send (frame) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) { state.ws.send(JSON.stringify(frame)); return true }
  return false
}

function setStatus (on) {
  $('status').replaceChildren(el('span', { className: on ? 'dot on' : 'dot' }), on ? 'online' : 'reconnecting…')
}

function room (id) {
  let r = state.rooms.get(id)
  if (!r) {
    r = { conversation: state.convs.find((c) => c.id === id) || null, messages: new Map(), lastSeq: 0, pending: new Map(), typing: new Map() }
    state.rooms.set(id, r)
  }
  return r
}

function join (id) {
  const r = room(id)
  // resume from the last seq seen, but from before any answer still streaming so its final version is replayed
  let since = r.lastSeq
  for (const m of r.messages.values()) if (m.status === 'streaming' && m.seq <= since) since = m.seq - 1
  send(since > 0 ? { type: 'join', conversationId: id, since, ref: `join:${id}` } : { type: 'join', conversationId: id, ref: `join:${id}` })
}

function addMessage (r, m) {
  r.messages.set(m.seq, m)
  if (m.sender && m.sender.type !== 'system' && m.sender.name && state.names.get(m.sender.id) !== m.sender.name) {
    state.names.set(m.sender.id, m.sender.name)
    state.namesChanged = true
  }
  // lastSeq = highest seq with no gap below it, so a resume never skips anything
  while (r.messages.has(r.lastSeq + 1)) r.lastSeq++
  if (m.clientMessageId && m.sender.id === state.user.userId) r.pending.delete(m.clientMessageId)
}

async function fillGap (id, after, before) {
  const r = room(id)
  try {
    while (after + 1 < before) {
      const { items } = await api('GET', `/chat/conversations/${encodeURIComponent(id)}/messages?after=${after}&before=${before}&limit=200`)
      const last = items.length ? items[items.length - 1].seq : after
      if (last <= after) break
      items.forEach((m) => addMessage(r, m))
      after = last
    }
  } catch (err) { toast(err.message) }
  if (state.current === id) renderLog()
}

/** The conversation is gone for us (deleted, removed, or unknown after a server restart). */
function dropRoom (id) {
  const r = state.rooms.get(id)
  if (r) for (const t of r.typing.values()) clearTimeout(t)
  state.rooms.delete(id)
  if (state.current === id) {
    state.current = null
    $('compose').hidden = true
    $('convHead').hidden = true
    $('app').classList.remove('in-conv')
    $('convHead').replaceChildren()
    $('log').replaceChildren(el('p', { id: 'empty' }, 'Pick or create a conversation.'))
    $('typing').textContent = ''
  }
  loadConversations(true)
}

function handle (f) {
  const r = f.conversationId ? state.rooms.get(f.conversationId) : null
  switch (f.type) {
    case 'ready':
      state.backoff = 500
      setStatus(true)
      clearInterval(state.pingTimer)
      state.pingTimer = setInterval(() => send({ type: 'ping' }), 25000)
      loadConversations(true)
      for (const [id, rr] of state.rooms) {
        join(id)
        for (const p of rr.pending.values()) if (!p.failed) sendPending(id, p) // same clientMessageId: deduped server-side
      }
      break
    case 'joined': {
      const jr = room(f.conversationId)
      const since = jr.lastSeq
      jr.conversation = f.conversation
      // a first join returns the newest window: count from just below it
      if (since === 0 && f.messages.length) jr.lastSeq = Math.max(0, f.messages[0].seq - 1)
      f.messages.forEach((m) => addMessage(jr, m))
      if (!f.recovered && since > 0 && f.messages.length && f.messages[0].seq > since + 1) fillGap(f.conversationId, since, f.messages[0].seq)
      if (state.current === f.conversationId) { renderHead(); renderLog() }
      break
    }
    case 'ack':
      if (r) {
        const p = r.pending.get(f.clientMessageId)
        if (p) { p.acked = true; if (r.messages.has(f.seq)) r.pending.delete(f.clientMessageId) }
      }
      break
    case 'message':
    case 'stream.start':
    case 'stream.end':
    {
      const mr = room(f.conversationId)
      addMessage(mr, f.message)
      clearTimeout(mr.typing.get(f.message.sender.id))
      if (mr.typing.delete(f.message.sender.id) && f.conversationId === state.current) renderTyping()
      break
    }
    case 'stream.chunk':
      if (r) {
        for (const m of r.messages.values()) {
          if (m.id !== f.messageId) continue
          m.parts = m.parts || []
          m.parts[f.index] = f.part
        }
      }
      break
    case 'typing':
      if (r && f.participantId !== state.user.userId) {
        clearTimeout(r.typing.get(f.participantId))
        r.typing.set(f.participantId, setTimeout(() => { r.typing.delete(f.participantId); renderTyping() }, 3500))
      }
      break
    case 'participant':
      if (f.event === 'left' && f.participant.id === state.user.userId) { dropRoom(f.conversationId); break }
      // The server tells us when we are added to a conversation we have not opened: show it in the list.
      if (!r && f.event === 'joined' && f.participant.id === state.user.userId) { loadConversations(true); break }
      if (r && r.conversation) {
        const list = r.conversation.participants
        const i = list.findIndex((p) => p.id === f.participant.id)
        if (f.event === 'left') { if (i >= 0) list.splice(i, 1) } else if (i >= 0) { list[i] = { ...list[i], ...f.participant } } else list.push(f.participant)
        if (f.event === 'joined' || f.event === 'left') loadConversations(true)
      }
      break
    case 'left': // the server ended this subscription: we were removed, or the conversation was deleted
      dropRoom(f.conversationId)
      break
    case 'error':
      if (f.ref && f.ref.startsWith('send:')) {
        for (const rr of state.rooms.values()) { const p = rr.pending.get(f.ref.slice(5)); if (p) p.failed = true }
      }
      if (f.ref && f.ref.startsWith('join:') && f.code === 'NOT_FOUND') {
        // e.g. deleted while we were offline: only worth a word if it was on screen
        const id = f.ref.slice(5)
        if (state.current === id) toast('This conversation is no longer available')
        dropRoom(id)
        break
      }
      if (f.ref && f.ref.startsWith('cancel:') && f.code === 'NOT_FOUND') break // it had already finished: stream.end says how
      toast(`${f.code}: ${f.message}`)
      if (state.current) renderLog()
      break
  }
  if (state.namesChanged) { // a better display name was seen on a message
    state.namesChanged = false
    renderConvs()
    if (state.current) renderHead()
  }
  if (f.conversationId && f.conversationId === state.current) {
    if (f.type === 'typing') renderTyping()
    else if (f.type === 'participant') renderHead()
    else if (f.type !== 'joined') renderLog()
  }
}

function sendPending (id, p) {
  send({ type: 'send', conversationId: id, clientMessageId: p.clientMessageId, content: p.content, ref: `send:${p.clientMessageId}` })
}

// ---- rendering ----------------------------------------------------------------------------------------------

function renderConvs () {
  if (!state.convs.length) return $('convs').replaceChildren(el('li', { className: 'none' }, 'No conversations yet.'))
  $('convs').replaceChildren(...state.convs.map((c) => el('li', {
    className: c.id === state.current ? 'active' : '',
    onclick: () => openConversation(c.id)
  }, c.title || '(untitled)', el('small', {}, c.participants.map(nameOf).join(', ')))))
}

function openConversation (id) {
  state.current = id
  const isNew = !state.rooms.has(id)
  room(id).rendered = false // start at the newest message
  if (isNew) join(id)
  $('compose').hidden = false
  $('convHead').hidden = false
  $('app').classList.add('in-conv')
  renderConvs(); renderHead(); renderLog(); renderTyping()
  $('text').focus()
}

function renderHead () {
  const r = state.rooms.get(state.current)
  const c = r && r.conversation
  const back = el('button', { type: 'button', className: 'back', title: 'Conversations', onclick: () => $('app').classList.remove('in-conv') }, '‹')
  if (!c) return $('convHead').replaceChildren(back, el('div', { className: 'title' }, el('b', {}, 'Loading…')))
  $('convHead').replaceChildren(back, el('div', { className: 'title' }, el('b', { title: c.title || '' }, c.title || '(untitled)'), ...c.participants.map((p) =>
    el('span', { className: 'who', title: `${p.id} · ${p.role}` }, el('span', { className: p.online || p.type === 'ai' ? 'dot on' : 'dot' }), nameOf(p), p.type === 'ai' ? el('span', { className: 'tag' }, 'AI') : null))))
}

function renderTyping () {
  const r = state.rooms.get(state.current)
  const names = r ? [...r.typing.keys()].map((id) => nameOf((r.conversation && r.conversation.participants.find((p) => p.id === id)) || { id })) : []
  $('typing').textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…` : ''
}

function renderParts (m) {
  const out = []
  const results = [] // every result_batch of the answer goes into one grid
  let summary = ''
  for (const part of m.parts || []) {
    if (!part || typeof part !== 'object') continue
    if (part.message_type === 'result_batch' && Array.isArray(part.results)) results.push(...part.results.filter((res) => res && typeof res === 'object'))
    else if (typeof part.message === 'string') summary += (summary ? '\n' : '') + part.message
  }
  if (results.length) {
    out.push(el('div', { className: 'cards' }, results.map((res) => {
      const href = safeUrl(res.url)
      const name = String(res.name || res.url || '')
      const title = href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, name) : el('b', {}, name)
      return el('div', { className: 'card' }, title, res.description ? el('p', { title: String(res.description) }, String(res.description)) : null)
    })))
  }
  const text = m.content || summary
  if (text) out.push(el('div', {}, text))
  else if (m.status === 'streaming') out.push(el('span', { className: 'thinking' }, results.length ? 'summarizing' : 'thinking'))
  return out
}

function renderMessage (m) {
  if (m.kind === 'system') return el('div', { className: 'msg system' }, m.content)
  const mine = m.sender.id === state.user.userId
  const meta = el('div', { className: 'meta' }, `${nameOf(m.sender)} · ${time(m.createdAt)}`)
  if (m.kind === 'ai' && m.status && m.status !== 'complete' && m.status !== 'streaming') meta.append(el('span', { className: 'badge' }, m.status))
  if (m.kind === 'ai' && m.status === 'streaming') {
    meta.append(el('button', { type: 'button', className: 'danger', onclick: () => send({ type: 'cancel', conversationId: m.conversationId, messageId: m.id, ref: `cancel:${m.id}` }) }, 'stop'))
  }
  const body = m.kind === 'ai' ? renderParts(m) : [m.content]
  return el('div', { className: `msg ${m.kind}${mine ? ' mine' : ''}` }, meta, ...body)
}

function renderLog () {
  const log = $('log')
  const r = state.rooms.get(state.current)
  if (!r) return
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40
  const sorted = [...r.messages.values()].sort((a, b) => a.seq - b.seq)
  const minSeq = sorted.length ? sorted[0].seq : 0
  const older = minSeq > 1 ? el('button', { type: 'button', style: 'align-self:center', onclick: () => loadOlder(state.current, minSeq) }, 'Load older messages') : null
  const id = state.current
  const pending = [...r.pending.values()].map((p) => el('div', { className: `msg mine ${p.failed ? 'failed' : 'pending'}` },
    el('div', { className: 'meta' }, p.failed ? 'failed' : p.acked ? 'sent' : 'sending…',
      p.failed ? el('button', { type: 'button', onclick: () => { p.failed = false; sendPending(id, p); renderLog() } }, 'retry') : null,
      p.failed ? el('button', { type: 'button', onclick: () => { r.pending.delete(p.clientMessageId); renderLog() } }, 'discard') : null),
    p.content))
  log.replaceChildren(...[older, ...sorted.map(renderMessage), ...pending].filter(Boolean))
  if (atBottom || !r.rendered) log.scrollTop = log.scrollHeight
  r.rendered = sorted.length > 0
}

async function loadOlder (id, before) {
  try {
    const { items } = await api('GET', `/chat/conversations/${encodeURIComponent(id)}/messages?before=${before}&limit=50`)
    const r = room(id)
    items.forEach((m) => addMessage(r, m))
    if (state.current === id) { const log = $('log'); const h = log.scrollHeight; renderLog(); log.scrollTop += log.scrollHeight - h }
  } catch (err) { toast(err.message) }
}

// ---- wiring -------------------------------------------------------------------------------------------------

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault()
  login($('loginId').value.trim(), $('loginName').value.trim() || $('loginId').value.trim(), $('loginAdmin').checked)
    .catch((err) => toast(`Sign-in failed: ${err.message}`))
})
$('logout').addEventListener('click', logout)
$('refresh').addEventListener('click', loadConversations)

$('newConv').addEventListener('submit', async (ev) => {
  ev.preventDefault()
  const participants = $('ncPeople').value.split(',').map((s) => s.trim()).filter(Boolean)
  try {
    const c = await api('POST', '/chat/conversations', { title: $('ncTitle').value.trim() || undefined, participants, ai: $('ncAi').checked })
    $('ncTitle').value = ''; $('ncPeople').value = ''
    state.convs.unshift(c)
    openConversation(c.id)
  } catch (err) { toast(err.message) }
})

let lastTyping = 0
$('text').addEventListener('input', () => {
  if (!state.current || Date.now() - lastTyping < 2500) return
  lastTyping = Date.now()
  send({ type: 'typing', conversationId: state.current })
})

$('compose').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const content = $('text').value.trim()
  if (!content || !state.current) return
  const p = { clientMessageId: uuid(), content, acked: false, failed: false }
  room(state.current).pending.set(p.clientMessageId, p)
  sendPending(state.current, p) // if the socket is down, the 'ready' handler sends it after reconnecting
  $('text').value = ''
  lastTyping = 0
  renderLog()
})

try {
  const saved = JSON.parse(sessionStorage.getItem('chat-session') || 'null')
  if (saved && saved.token) { state.token = saved.token; state.user = saved.user; start() }
} catch { sessionStorage.removeItem('chat-session') }
