// Users and one big conversation on the example host (bench/server.ts), through its REST API: dev-login
// tokens, and a conversation whose participants are added in the request that creates it (up to its
// limit of 1000 ids), the rest one by one.
import { postJson } from './processes.ts'

/** Runs `fn` over the items, at most `limit` at once; results in order. */
export async function mapLimit<T, R> (items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i])
    }
  }))
  return out
}

/** A dev-login token per user id. */
export async function tokensFor (base: string, userIds: string[]): Promise<Map<string, string>> {
  const tokens = await mapLimit(userIds, 32, async (userId) => (await postJson(base, '/auth/dev-login', { userId })).token as string)
  return new Map(userIds.map((id, i) => [id, tokens[i]]))
}

/** Creates a conversation owned by `ownerToken`'s user with `members` as participants; returns its id. */
export async function createRoom (base: string, ownerToken: string, members: string[], title = 'bench'): Promise<string> {
  const CREATE_MAX = 1000 // the schema's maxItems for `participants` on create
  const id = (await postJson(base, '/chat/conversations', { title, participants: members.slice(0, CREATE_MAX) }, ownerToken)).id as string
  await mapLimit(members.slice(CREATE_MAX), 16, async (userId) => await postJson(base, `/chat/conversations/${id}/participants`, { userId }, ownerToken))
  return id
}

export const wsUrl = (port: number, token: string): string => `ws://127.0.0.1:${port}/chat/ws?access_token=${token}`
