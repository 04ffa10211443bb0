/// <reference lib="dom" />

/**
 * Who is signed in, and their token. The example host signs tokens at `POST /auth/dev-login`; they expire
 * (12 h). The chat client asks `session.token()` before every connect and REST call: when the token has
 * expired, or the server refused it, that call waits until the user signs in again, and the client carries on
 * with the new token. Kept in sessionStorage, so a reload keeps the user signed in (per tab).
 */

export interface User {
  id: string
  name: string
  admin: boolean
}

interface Saved {
  token: string
  user: User
}

const KEY = 'chat-session'
/** A token this close to its expiry is treated as expired: it could lapse on the way. */
const MARGIN_MS = 5000

/** The `exp` of a JWT in ms, or undefined (the page reads it only to know when to ask for a new one). */
function expiryOf (token: string): number | undefined {
  try {
    const payload = token.split('.')[1] ?? ''
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'))
    const exp = (JSON.parse(json) as { exp?: unknown }).exp
    return typeof exp === 'number' ? exp * 1000 : undefined
  } catch {
    return undefined
  }
}

export class Session {
  user: User | undefined
  private value: string | undefined
  private refused = false
  private waiting: Array<(token: string) => void> = []
  /** Called when a token is needed and there is no good one: show the sign-in form. */
  onSignInNeeded: () => void = () => {}

  constructor () {
    try {
      const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Saved | null
      if (saved !== null && typeof saved.token === 'string') {
        this.value = saved.token
        this.user = saved.user
      }
    } catch {
      sessionStorage.removeItem(KEY)
    }
  }

  get signedIn (): boolean {
    return this.user !== undefined
  }

  /** The token is usable: present, not past its expiry, not refused by the server. */
  get valid (): boolean {
    if (this.value === undefined || this.refused) return false
    const exp = expiryOf(this.value)
    return exp === undefined || exp - MARGIN_MS > Date.now()
  }

  /** Signs in at the host's dev login; whoever waited for a token gets the new one. */
  async signIn (id: string, name: string, admin: boolean): Promise<void> {
    const res = await fetch('/auth/dev-login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: id, name, admin })
    })
    const body = await res.json().catch(() => null) as { token?: string, message?: string } | null
    if (!res.ok || typeof body?.token !== 'string') throw new Error(body?.message ?? `HTTP ${res.status}`)
    this.value = body.token
    this.refused = false
    this.user = { id, name, admin }
    sessionStorage.setItem(KEY, JSON.stringify({ token: this.value, user: this.user } satisfies Saved))
    const waiting = this.waiting
    this.waiting = []
    for (const resolve of waiting) resolve(body.token)
  }

  /** The token option of the chat client: a good token now, or once the user has signed in again. */
  async token (): Promise<string> {
    if (this.valid && this.value !== undefined) return this.value
    return await new Promise<string>((resolve) => {
      this.waiting.push(resolve)
      if (this.waiting.length === 1) this.onSignInNeeded()
    })
  }

  /** The server answered 401 to this token (expired, or signed with another secret). */
  refuse (): void {
    this.refused = true
  }

  /** The Authorization header for a plain fetch. */
  header (): Record<string, string> {
    return this.value === undefined ? {} : { authorization: `Bearer ${this.value}` }
  }

  signOut (): void {
    sessionStorage.clear()
    this.value = undefined
    this.user = undefined
  }
}
