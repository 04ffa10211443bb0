import type { FastifyBaseLogger } from 'fastify'
import type { CachedConversation, ConversationCache } from './cache.ts'
import { Channel, type Subscriber } from './delivery.ts'
import type { Message } from './schemas/entities.ts'
import type { ChatStorage } from './storage/types.ts'

export interface Channels {
  /** The live channel of a conversation, made on first use. */
  open (entry: CachedConversation): Channel
  peek (id: string): Channel | undefined
  /** Forgets a channel nobody listens to and nothing is in flight on. */
  release (channel: Channel): void
  /** Ends a conversation's live side (deleted); returns its subscribers. */
  end (id: string): Subscriber[]
  all (): IterableIterator<Channel>
  readonly size: number
  close (): void
}

/**
 * The live conversations of this process. A channel lives while sockets listen or appends are in flight, so
 * its sequencer outlives cache evictions.
 */
export function createChannels (deps: {
  storage: ChatStorage
  cache: ConversationCache
  log: FastifyBaseLogger
  onDeliver: (message: Message) => void
}): Channels {
  const { storage, cache, log } = deps
  const channels = new Map<string, Channel>()

  function onDeliver (message: Message): void {
    cache.putMessage(message)
    deps.onDeliver(message)
  }

  async function fill (id: string, after: number, before: number): Promise<Message[]> {
    return await storage.getMessages(id, { after, before, limit: before - after - 1 })
  }

  function onError (err: unknown): void {
    log.error({ err }, 'chat delivery failed')
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
    release (ch) {
      if (ch.idle && channels.get(ch.id) === ch) {
        ch.close()
        channels.delete(ch.id)
      }
    },
    end (id) {
      const ch = channels.get(id)
      if (ch === undefined) return []
      channels.delete(id)
      return ch.close()
    },
    all: () => channels.values(),
    get size () { return channels.size },
    close () {
      for (const ch of channels.values()) ch.close()
      channels.clear()
    }
  }
}
