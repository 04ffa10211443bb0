import type { Static } from '@sinclair/typebox'
import type { Conversation, Message, Participant } from '../schemas/entities.ts'
import type {
  AddParticipantBody, ConversationList, CreateConversationBody, ListMessagesQuery, MessageList, MessageSearchPage, PostMessageBody
} from '../schemas/rest.ts'
import { ChatClientError } from './errors.ts'

export type CreateConversationRequest = Static<typeof CreateConversationBody>
export type AddParticipantRequest = Static<typeof AddParticipantBody>
export type PostMessageRequest = Static<typeof PostMessageBody>
export type MessagesQuery = Static<typeof ListMessagesQuery>
export type ConversationPage = Static<typeof ConversationList>
export type MessagePage = Static<typeof MessageList>
export type SearchPage = Static<typeof MessageSearchPage>

export type FetchLike = (url: string, init: { method: string, headers: Record<string, string>, body?: string }) => Promise<{
  ok: boolean
  status: number
  headers: { get: (name: string) => string | null }
  json: () => Promise<unknown>
  text: () => Promise<string>
}>

/** The chat's REST routes (docs/protocol.md, "REST"), with the client's token as a bearer header. */
export class ChatRest {
  private readonly base: string
  private readonly token: () => Promise<string | undefined>
  private readonly fetch: FetchLike

  constructor (base: string, token: () => Promise<string | undefined>, fetchImpl: FetchLike) {
    this.base = base.replace(/\/$/, '')
    this.token = token
    this.fetch = fetchImpl
  }

  async createConversation (body: CreateConversationRequest = {}): Promise<Conversation> {
    return await this.call<Conversation>('POST', '/conversations', body)
  }

  async listConversations (query: { limit?: number, cursor?: string } = {}): Promise<ConversationPage> {
    return await this.call<ConversationPage>('GET', `/conversations${search(query)}`)
  }

  async getConversation (id: string): Promise<Conversation> {
    return await this.call<Conversation>('GET', `/conversations/${encodeURIComponent(id)}`)
  }

  async deleteConversation (id: string): Promise<void> {
    await this.call('DELETE', `/conversations/${encodeURIComponent(id)}`)
  }

  /** Messages in ascending seq: seq > after, seq < before, at most `limit` (500 at most). */
  async messages (id: string, query: MessagesQuery = {}): Promise<Message[]> {
    const page = await this.call<MessagePage>('GET', `/conversations/${encodeURIComponent(id)}/messages${search(query)}`)
    return page.items
  }

  /**
   * The conversation's messages holding any of the words of `q`, best match first: a page of `limit`, and
   * `nextCursor` to pass back as `cursor` (null on the last page). NOT_IMPLEMENTED (501) on a storage without search.
   */
  async search (id: string, q: string, query: { limit?: number, cursor?: string } = {}): Promise<SearchPage> {
    const path = `/conversations/${encodeURIComponent(id)}/messages${search({ q, limit: query.limit, cursor: query.cursor })}`
    const page = await this.call<MessagePage>('GET', path)
    return { items: page.items, nextCursor: page.nextCursor ?? null }
  }

  async postMessage (id: string, body: PostMessageRequest): Promise<Message> {
    return await this.call<Message>('POST', `/conversations/${encodeURIComponent(id)}/messages`, body)
  }

  async addParticipant (id: string, body: AddParticipantRequest): Promise<Participant> {
    return await this.call<Participant>('POST', `/conversations/${encodeURIComponent(id)}/participants`, body)
  }

  async removeParticipant (id: string, userId: string): Promise<void> {
    await this.call('DELETE', `/conversations/${encodeURIComponent(id)}/participants/${encodeURIComponent(userId)}`)
  }

  private async call<T> (method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {}
    const token = await this.token()
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Awaited<ReturnType<FetchLike>>
    try {
      res = await this.fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    } catch (err) {
      throw new ChatClientError('UNAVAILABLE', 503, `request failed: ${(err as Error).message}`)
    }
    if (res.status === 204) return undefined as T
    const text = await res.text()
    const parsed: unknown = text === '' ? undefined : JSON.parse(text)
    if (res.ok) return parsed as T
    const err = (parsed ?? {}) as { code?: string, message?: string }
    const retryAfter = Number(res.headers.get('retry-after'))
    throw new ChatClientError((err.code ?? 'HTTP') as ChatClientError['code'], res.status, err.message ?? `HTTP ${res.status}`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined)
  }
}

function search (query: Record<string, string | number | undefined>): string {
  const params = Object.entries(query).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
  return params.length === 0 ? '' : `?${params.join('&')}`
}
