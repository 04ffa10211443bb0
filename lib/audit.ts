import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { newId } from './ids.ts'
import type { ChatStorage } from './storage/types.ts'

/** A security event: who (a user id, or `anonymous`), what, on what, from where. */
export interface SecurityEvent {
  actor?: string
  /** e.g. auth.unauthorized, auth.forbidden, admin.forbidden, rate.limited, socket.closed */
  action: string
  target?: string
  ip?: string
  details?: Record<string, unknown>
}

export interface SecurityAudit {
  /** Records the event in the audit log (`/admin/audit`); never waits, never throws. */
  record (event: SecurityEvent): void
}

/** One record per action and actor (or address) per window; the repeats in between are counted in the next one. */
const WINDOW_MS = 10_000
/** Keys remembered for the window; past this the oldest are forgotten (a flood of addresses costs no memory). */
const MAX_KEYS = 10_000
/** Records of anonymous events per action per window, whatever the number of addresses they come from. */
const MAX_ANONYMOUS = 20

/**
 * Security events go to the same audit log as admin actions. A client that provokes them in a loop (401s,
 * rate limits) must not flood storage: each action and actor is recorded at most once per window, and the
 * next record says how many were left out.
 */
export function createSecurityAudit (storage: ChatStorage, log: FastifyBaseLogger): SecurityAudit {
  const recent = new Map<string, { until: number, skipped: number }>()
  /** Per action: anonymous records in the current window, and those left out past MAX_ANONYMOUS. */
  const anonymous = new Map<string, { until: number, count: number, skipped: number }>()
  return {
    record (event) {
      const actor = event.actor ?? 'anonymous'
      const now = Date.now()
      const key = `${event.action}\u0000${actor}\u0000${event.actor === undefined ? event.ip ?? '' : ''}`
      const seen = recent.get(key)
      if (seen !== undefined && seen.until > now) {
        seen.skipped++
        return
      }
      let suppressed = 0
      if (event.actor === undefined) {
        // Many addresses (an IPv6 range, a botnet) must not mean many rows: a cap per action per window.
        let window = anonymous.get(event.action)
        if (window === undefined || window.until <= now) {
          suppressed = window?.skipped ?? 0
          anonymous.set(event.action, window = { until: now + WINDOW_MS, count: 0, skipped: 0 })
        }
        if (window.count >= MAX_ANONYMOUS) {
          window.skipped++
          return
        }
        window.count++
      }
      const details: Record<string, unknown> = { ...event.details }
      if (event.ip !== undefined) details.ip = event.ip
      if (seen !== undefined && seen.skipped > 0) details.repeats = seen.skipped
      if (suppressed > 0) details.suppressed = suppressed // anonymous events of this action left out in the window before
      recent.delete(key)
      if (recent.size >= MAX_KEYS) recent.delete(recent.keys().next().value as string)
      recent.set(key, { until: now + WINDOW_MS, skipped: 0 })
      storage.appendAudit({ id: newId(), at: new Date(now).toISOString(), actor, action: event.action, target: event.target, details })
        .catch((err: unknown) => { log.warn({ err, action: event.action }, 'chat audit: a security event could not be stored') })
    }
  }
}

/** The path of a request without its query string (a token may ride there). */
export function pathOf (url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

/**
 * onResponse hook for the chat routes: refusals that matter for security are audited — 401 (the host's auth
 * hook or ours found no user, the WebSocket upgrade included), 403 (admin routes, soft launch) and 429.
 */
export function auditRefusals (audit: SecurityAudit, userOf: (request: FastifyRequest) => { id: string } | undefined): {
  onRequest: (request: FastifyRequest) => Promise<void>
  onResponse: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
} {
  // Read when the request arrives: by onResponse a refused upgrade's socket is gone, and its address with it.
  const ips = new WeakMap<FastifyRequest, string>()
  return {
    async onRequest (request) {
      const ip = request.ip
      if (ip !== undefined) ips.set(request, ip)
    },
    onResponse
  }
  async function onResponse (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const status = reply.statusCode
    if (status !== 401 && status !== 403 && status !== 429) return
    const path = pathOf(request.url)
    const action = status === 401 ? 'auth.unauthorized' : status === 429 ? 'rate.limited' : path.includes('/admin/') ? 'admin.forbidden' : 'auth.forbidden'
    audit.record({ actor: userOf(request)?.id, action, target: `${request.method} ${path}`, ip: ips.get(request) ?? request.ip })
  }
}
