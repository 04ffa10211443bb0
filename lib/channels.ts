import type { FastifyBaseLogger } from 'fastify'
import type { CachedConversation, ConversationCache } from './cache.ts'
import { Channel, type WireFrame } from './delivery.ts'
import type { Fanout, FanoutEvent } from './fanout/index.ts'
import { createRoomPresence, type RoomPresence, type RoomPresenceOptions } from './room-presence.ts'
import type { Message } from './schemas/entities.ts'
import type { ChatStorage } from './storage/types.ts'

export interface Channels {
  /** The live channel of a conversation, made on first use. */
  open (entry: CachedConversation): Channel
  peek (id: string): Channel | undefined
  /** Forgets a channel nobody listens to and nothing is in flight on. */
  release (channel: Channel): void
  /** Ends a conversation's live side, or one user's part of it: their subscriptions are over. */
  endSubscriptions (id: string, userId?: string): void
  /** A message this instance stored and delivered: the other instances deliver it too. */
  stored (message: Message, extra?: WireFrame[]): void
  /** A frame outside the sequence to every socket of the conversation, on every instance. */
  broadcast (id: string, frame: WireFrame, exceptUserId?: string): void
  /** A stored message changed (an AI answer ended): `frame` to every socket, the new copy to every cache. */
  updated (message: Message, frame: WireFrame): void
  /** Membership or state changed here: other instances drop what they cached (and end a removed user's subscriptions). */
  changed (id: string, change?: { removed?: string, deleted?: boolean }): void
  /** An event another instance published. */
  receive (event: FanoutEvent): void
  /** Events may have been lost: forget cached state and read every live channel's news from storage. */
  resync (): void
  all (): IterableIterator<Channel>
  /** Presence frames of each conversation: per change in small ones, coalesced in big ones (room-presence.ts). */
  readonly presence: RoomPresence
  readonly size: number
  close (): void
}

/** While the fan-out is down, live channels read storage this often, so delivery goes on from storage. */
const POLL_MS = 500
/** How a `presence` frame (server-frames.ts) starts. */
const PRESENCE = '{"type":"presence"'

/**
 * The live conversations of this process. A channel lives while sockets listen or appends are in flight, so
 * its sequencer outlives cache evictions. Through the fan-out, what happens here reaches the other instances'
 * channels, and theirs reaches ours; storage fills whatever the fan-out loses.
 */
export function createChannels (deps: {
  storage: ChatStorage
  cache: ConversationCache
  log: FastifyBaseLogger
  fanout: Fanout
  /** `remote`: stored by another instance (or read back from storage after a fan-out outage). */
  onDeliver: (message: Message, remote: boolean) => void
  /** Another instance deleted a conversation (its AI answers here stop). */
  onDeleted?: (id: string) => void
  /** When presence is coalesced (`limits.presenceBatchAbove`, `limits.presenceIntervalMs`). */
  presence?: RoomPresenceOptions
}): Channels {
  const { storage, cache, log, fanout } = deps
  const channels = new Map<string, Channel>()
  // With one instance there is nobody to tell: nothing is serialized for the fan-out.
  const shared = fanout.shared
  const presence = createRoomPresence(deps.presence ?? { batchAbove: 100, intervalMs: 500 }, broadcast)

  function onDeliver (message: Message, remote: boolean): void {
    cache.putMessage(message)
    deps.onDeliver(message, remote)
  }

  async function fill (id: string, after: number, before: number): Promise<Message[]> {
    return await storage.getMessages(id, { after, before, limit: before - after - 1 })
  }

  function onError (err: unknown): void {
    log.error({ err }, 'chat delivery failed')
  }

  function endSubscriptions (id: string, userId?: string): void {
    const ch = channels.get(id)
    if (ch === undefined) return
    if (userId === undefined) {
      channels.delete(id)
      presence.forget(id)
      for (const sub of ch.close()) sub.ended()
      return
    }
    // Taken off without a presence change (they are no participant any more): a change of theirs still waiting
    // in a big conversation's batch must not go out after their `left`.
    presence.drop(id, userId)
    for (const sub of [...ch.subscribers]) {
      if (sub.userId === userId) {
        ch.remove(sub)
        sub.ended()
      }
    }
    release(ch)
  }

  function release (ch: Channel): void {
    if (ch.idle && channels.get(ch.id) === ch) {
      ch.close()
      channels.delete(ch.id)
      presence.forget(ch.id)
    }
  }

  function broadcast (id: string, frame: WireFrame, exceptUserId?: string): void {
    channels.get(id)?.broadcast(frame, exceptUserId)
    if (shared) fanout.publish({ type: 'frame', conversationId: id, frame: frame.toString(), except: exceptUserId })
  }

  function receive (event: FanoutEvent): void {
    if (event.type === 'notify' || event.type === 'presence' || event.type === 'heartbeat' || event.type === 'hello') return // the services' part
    const ch = channels.get(event.conversationId)
    switch (event.type) {
      case 'message': {
        if (ch === undefined) {
          // Nobody listens here: keep the cached copy only if the message extends it without a gap.
          const entry = cache.peek(event.conversationId)
          if (entry !== undefined && event.message.seq !== entry.record.lastSeq + 1) cache.delete(event.conversationId)
          else cache.putMessage(event.message)
          return
        }
        ch.deliver(event.message, event.extra?.map((f) => Buffer.from(f)), undefined, true)
        ch.fillNow()
        return
      }
      case 'updated':
        cache.putMessage(event.message)
        ch?.broadcast(Buffer.from(event.frame))
        return
      case 'frame':
        // Another instance's presence changes: joiners here get a participant list built after them.
        if (event.frame.startsWith(PRESENCE)) presence.stale(event.conversationId)
        ch?.broadcast(Buffer.from(event.frame), event.except)
        return
      case 'changed':
        cache.delete(event.conversationId)
        presence.stale(event.conversationId)
        if (event.deleted === true) {
          endSubscriptions(event.conversationId)
          deps.onDeleted?.(event.conversationId)
        } else if (event.removed !== undefined) {
          endSubscriptions(event.conversationId, event.removed)
        }
    }
  }

  function resync (): void {
    cache.clear()
    for (const ch of channels.values()) ch.catchUp()
  }

  let poll: NodeJS.Timeout | undefined
  if (shared) {
    poll = setInterval(() => {
      if (!fanout.connected) for (const ch of channels.values()) ch.catchUp()
    }, POLL_MS).unref()
  }

  return {
    open (entry) {
      let ch = channels.get(entry.record.id)
      if (ch === undefined) {
        ch = new Channel(entry.record.id, entry.record.lastSeq, { onDeliver, fill, onError, gapMs: 1000 })
        channels.set(ch.id, ch)
      }
      return ch
    },
    peek: (id) => channels.get(id),
    release,
    endSubscriptions,
    stored (message, extra) {
      if (shared) fanout.publish({ type: 'message', conversationId: message.conversationId, message, extra: extra?.map((f) => f.toString()) })
    },
    broadcast,
    updated (message, frame) {
      cache.putMessage(message)
      channels.get(message.conversationId)?.broadcast(frame)
      if (shared) fanout.publish({ type: 'updated', conversationId: message.conversationId, message, frame: frame.toString() })
    },
    changed (id, change = {}) {
      presence.stale(id)
      // Before the `left` goes out: nothing of the removed user's waits to follow it.
      if (change.removed !== undefined) presence.drop(id, change.removed)
      if (shared) fanout.publish({ type: 'changed', conversationId: id, ...change })
    },
    receive,
    resync,
    all: () => channels.values(),
    presence,
    get size () { return channels.size },
    close () {
      clearInterval(poll)
      // Batches still waiting go out first: the other instances learn who went offline here.
      presence.close()
      for (const ch of channels.values()) ch.close()
      channels.clear()
    }
  }
}
