import type { CachedConversation, ConversationCache } from './cache.ts'
import type { Channels } from './channels.ts'
import type { Subscriber } from './delivery.ts'
import { participantFrame, shareEncoded, typingFrame } from './server-frames.ts'
import type { ResolvedOptions } from './options.ts'
import type { AgentParticipant } from './participants/participant.ts'
import type { ChatUser, Conversation, Message } from './schemas/entities.ts'
import type { ChatStorage } from './storage/types.ts'

export interface JoinResult {
  conversation: Conversation
  lastSeq: number
  messages: Message[]
  recovered: boolean
  /** A big conversation (more than `limits.presenceBatchAbove` participants): `conversation.participants` is its first part. */
  participantCount?: number
  /** With `participantCount`: the ids of the participants online. */
  online?: string[]
  /** AI answers still streaming here, with their parts so far; absent when there are none. */
  streaming?: Message[]
}

/** True when `messages` (ascending) end at `top`, or the range (after, top] is empty. */
export function coversUpTo (messages: Message[], after: number, top: number): boolean {
  return top <= after || (messages.length > 0 && messages[messages.length - 1].seq >= top)
}

/**
 * The answers still streaming in a conversation whose stream.start went out at or below `upto` (a later one
 * reaches the subscriber live, stream.start first), with their parts so far (AgentParticipant.streaming).
 */
function streamingAnswers (agents: Map<string, AgentParticipant>, id: string, upto: number): Message[] {
  const list: Message[] = []
  for (const agent of agents.values()) {
    for (const m of agent.streaming?.(id) ?? []) if (m.seq <= upto) list.push(m)
  }
  return list.sort((a, b) => a.seq - b.seq)
}

/**
 * The live side of conversations for one socket: joining (subscribe + the history that meets the live
 * frames exactly), leaving, presence and typing. Membership comes from the manager's `member`.
 */
export function createLive (deps: {
  storage: ChatStorage
  cache: ConversationCache
  channels: Channels
  limits: ResolvedOptions['limits']
  member: (user: ChatUser, id: string) => Promise<CachedConversation>
  view: (entry: CachedConversation) => Conversation
  isOnline: (userId: string) => boolean
  /** Their answers in progress are part of a join (`streaming`). */
  agents?: Map<string, AgentParticipant>
}) {
  const { storage, cache, channels, limits, member, view } = deps
  const agents = deps.agents ?? new Map<string, AgentParticipant>()
  /**
   * A big conversation's history as the last joiner got it: joiners in a storm get the same messages (until one
   * arrives or changes), so they share one list, serialized once (shareEncoded) for every `joined` that carries it.
   */
  const windows = new WeakMap<CachedConversation, Message[]>()

  /** `messages` as a list shared with the previous joiner when it holds the same messages (the same objects). */
  function sharedHistory (entry: CachedConversation, messages: Message[]): Message[] {
    const last = windows.get(entry)
    if (last !== undefined && last.length === messages.length && last.every((m, i) => m === messages[i])) return last
    const list = shareEncoded([...messages]) // a copy: the list is frozen, and `messages` may be the storage's
    windows.set(entry, list)
    return list
  }

  return {
    /**
     * Subscribes `sub` and returns the history it needs: up to the last seq delivered at the moment it
     * subscribed, so live frames (seq above that) continue it with no gap and no repeat. Answers streaming at
     * that moment come with the parts broadcast so far; the chunks after it are held on `sub`, so they follow
     * from index = parts.length.
     */
    async join (user: ChatUser, id: string, since: number | undefined, sub: Subscriber): Promise<JoinResult> {
      const entry = await member(user, id)
      const ch = channels.open(entry)
      // Subscribing and reading the answers in progress happen in one synchronous step: a chunk broadcast
      // before it is in `streaming`, one after it reaches `sub`, none both.
      const firstOfUser = ch.add(sub)
      const upto = ch.delivered
      const streaming = streamingAnswers(agents, id, upto)
      let after: number
      let recovered: boolean
      let limit: number
      if (since === undefined) {
        limit = limits.historyWindow
        after = Math.max(0, upto - limit)
        recovered = false
      } else {
        limit = limits.replayLimit
        recovered = upto - since <= limit
        after = recovered ? Math.min(since, upto) : upto - limit
      }
      let messages: Message[]
      try {
        // From the cache only when it holds the whole range up to what was delivered (it may lag after
        // an eviction); otherwise from storage.
        const hit = cache.window(entry, after, upto + 1)
        messages = hit !== undefined && coversUpTo(hit, after, upto)
          ? hit.slice(-limit)
          : await storage.getMessages(id, { after, before: upto + 1, limit })
      } catch (err) {
        ch.remove(sub)
        channels.release(ch)
        throw err
      }
      if (streaming.length > 0) {
        // The history's copy of an answer in progress is its placeholder (or, if it ended meanwhile, the
        // final one, whose stream.end is held on `sub`): both lists show it as of the subscription.
        const live = new Map(streaming.map((m) => [m.id, m]))
        messages = messages.map((m) => live.get(m.id) ?? m)
      }
      if (firstOfUser) {
        const p = entry.participants.get(user.id)
        if (p !== undefined) {
          channels.presence.change(entry, user.id, true, () => participantFrame(id, 'online', { ...p, online: true }), user.id)
        }
      }
      let result: JoinResult
      if (channels.presence.big(entry)) {
        // Not the whole list: its first part, the count and who is online, built once per presence interval
        // and shared by every joiner (room-presence.ts).
        const snap = channels.presence.snapshot(entry, () => view(entry).participants)
        const conversation = { ...entry.record, participants: snap.participants }
        // The history too, unless it carries answers in progress (as this joiner saw them) or is a replay
        // after `since` (each rejoiner's own range: nothing to share).
        if (streaming.length === 0 && since === undefined) messages = sharedHistory(entry, messages)
        result = { conversation, participantCount: snap.participantCount, online: snap.online, lastSeq: upto, messages, recovered }
      } else {
        result = { conversation: view(entry), lastSeq: upto, messages, recovered }
      }
      if (streaming.length > 0) result.streaming = streaming
      return result
    },

    /** Unsubscribes; tells the others when the user's last socket there went away. */
    leave (sub: Subscriber, id: string): void {
      const ch = channels.peek(id)
      if (ch === undefined || !ch.subscribers.has(sub)) return
      if (ch.remove(sub)) {
        const entry = cache.peek(id)
        const p = entry?.participants.get(sub.userId)
        if (entry !== undefined && p !== undefined) {
          channels.presence.change(entry, p.id, false, () => participantFrame(id, 'offline', { ...p, online: deps.isOnline(p.id) }))
        }
      }
      channels.release(ch)
    },

    async typing (user: ChatUser, id: string): Promise<void> {
      await member(user, id)
      channels.broadcast(id, typingFrame(id, user.id), user.id)
    },
  }
}
