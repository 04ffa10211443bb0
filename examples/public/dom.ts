/// <reference lib="dom" />
/// <reference lib="dom.iterable" />

/**
 * DOM helpers of the example page. User text only ever goes in through text nodes and attributes, never
 * innerHTML.
 */

export type Child = Node | string | number | null | undefined | false
type Props = Record<string, unknown>

/** `el('div', { className: 'x', onclick: fn }, 'text', child)`: strings become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap> (tag: K, props: Props = {}, ...children: Array<Child | Child[]>): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value as EventListener)
    else if (key === 'dataset') Object.assign(node.dataset, value)
    else if (key in node) (node as unknown as Record<string, unknown>)[key] = value
    else node.setAttribute(key, String(value))
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    node.append(child instanceof Node ? child : String(child))
  }
  return node
}

/** The element with this id, typed by the caller; the page's HTML defines them all. */
export function byId<T extends HTMLElement = HTMLElement> (id: string): T {
  const node = document.getElementById(id)
  if (node === null) throw new Error(`#${id} is missing from index.html`)
  return node as T
}

/** A short note at the bottom right, gone after a few seconds. */
export function toast (text: string): void {
  const note = el('div', { className: 'toast', role: 'status' }, text)
  byId('toasts').append(note)
  setTimeout(() => { note.remove() }, 5000)
}

export function time (iso: string): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}

/** An http(s) link from untrusted data, or null (no `javascript:` and friends). */
export function safeUrl (url: unknown): string | null {
  if (typeof url !== 'string') return null
  try {
    const parsed = new URL(url, location.href)
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null
  } catch {
    return null
  }
}

/** A message id for dedupe (`clientMessageId`): random, also outside secure contexts. */
export function uuid (): string {
  if (typeof crypto.randomUUID === 'function' && isSecureContext) return crypto.randomUUID()
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6] & 0x0f) | 0x40
  b[8] = (b[8] & 0x3f) | 0x80
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
