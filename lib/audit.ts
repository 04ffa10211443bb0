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

/**
 * Security events go to the same audit log as admin actions. A client that provokes them in a loop (401s,
 * rate limits) must not flood storage: each action and actor is recorded at most once per window, and the
 * next record says how many were left out.
 */
export function createSecurityAudit (storage: ChatStorage, log: FastifyBaseLogger): SecurityAudit {
  const recent = new Map<string, { until: number, skipped: number }>()
  return {
    record (event) {
      const actor = event.actor ?? 'anonymous'
      const key = `${event.action}\u0000${actor}\u0000${event.actor === undefined ? event.ip ?? '' : ''}`
      const now = Date.now()
      const seen = recent.get(key)
      if (seen !== undefined && seen.until > now) {
        seen.skipped++
        return
      }
      const details: Record<string, unknown> = { ...event.details }
      if (event.ip !== undefined) details.ip = event.ip
      if (seen !== undefined && seen.skipped > 0) details.repeats = seen.skipped
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
