import type { FastifyBaseLogger } from 'fastify'
import type { ResolvedUsersOptions } from './options.ts'

/**
 * Display names of people added by id (a conversation created with `participants`, `POST …/participants`).
 * The host's directory names them through `users.resolve`; the signed-in user's own name comes from auth.
 */

/** What the host's directory says of one id: its display name, or an object that has one. */
export type UserName = string | { name: string }

/** The names the directory knows, by id. Ids it does not know are left out (or null). */
export type UserNames = Record<string, UserName | null | undefined>

/**
 * Looks up several ids in one call. `signal` aborts when the chat stops waiting (`users.timeoutMs`), so a
 * directory behind the network can cancel its request.
 */
export type ResolveUsers = (ids: string[], context: { signal: AbortSignal }) => UserNames | Promise<UserNames>

/** The longest stored name, as for a name given in `POST …/participants`. */
export const MAX_NAME_LENGTH = 200

function nameOf (value: unknown): string | undefined {
  const raw = typeof value === 'object' && value !== null ? (value as { name?: unknown }).name : value
  if (typeof raw !== 'string') return undefined
  const name = raw.trim().slice(0, MAX_NAME_LENGTH)
  return name === '' ? undefined : name
}

class ResolveTimeout extends Error {
  constructor (ms: number) {
    super(`users.resolve did not answer within ${ms} ms`)
    this.name = 'ResolveTimeout'
  }
}

export type NameLookup = ReturnType<typeof createNameLookup>

/** One batched, bounded lookup per call. Without `users`, or when the lookup fails, every id is its own name. */
export function createNameLookup (config: ResolvedUsersOptions | undefined, log: FastifyBaseLogger) {
  async function ask (resolve: ResolveUsers, ids: string[], timeoutMs: number): Promise<unknown> {
    const controller = new AbortController()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new ResolveTimeout(timeoutMs)) // first, so the log says why even if the resolver rejects on abort
        controller.abort()
      }, timeoutMs)
      timer.unref()
    })
    try {
      // A resolver that throws synchronously fails the same way as one that rejects.
      return await Promise.race([Promise.resolve().then(() => resolve(ids, { signal: controller.signal })), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    /** The names the host knows for these ids; ids it does not know (or all, if it fails) are absent. */
    async lookup (ids: string[]): Promise<Map<string, string>> {
      const found = new Map<string, string>()
      const wanted = [...new Set(ids)]
      if (config === undefined || wanted.length === 0) return found
      let answer: unknown
      try {
        answer = await ask(config.resolve, wanted, config.timeoutMs)
        if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
          throw new TypeError(`users.resolve must return an object of names by id (got ${Array.isArray(answer) ? 'an array' : typeof answer})`)
        }
      } catch (err) {
        // Naming is a nicety: the conversation is created (or the participant added) with ids as names.
        log.warn({ err, ids: wanted.length }, 'chat users.resolve failed; participants are named by id')
        return found
      }
      for (const id of wanted) {
        if (!Object.hasOwn(answer, id)) continue
        const name = nameOf((answer as Record<string, unknown>)[id])
        if (name !== undefined) found.set(id, name)
      }
      return found
    }
  }
}
