import type { FastifyBaseLogger } from 'fastify'
import { startAnswerSweep } from './answer-sweep.ts'
import { createAuth, type ChatAuth } from './auth.ts'
import { createConversationCache, type CachedConversation, type ConversationCache } from './cache.ts'
import { encode } from './delivery.ts'
import { createChannels, type Channels } from './channels.ts'
import { createFanout, type Fanout } from './fanout/index.ts'
import { ChatConnection } from './connection.ts'
import { ConnectionRegistry } from './connections.ts'
import { createConversationManager, type ConversationManager } from './conversations.ts'
import { newId } from './ids.ts'
import { createMetrics, type ChatMetrics } from './metrics.ts'
import { createPresence } from './presence.ts'
import type { ResolvedOptions } from './options.ts'
import type { AgentApi, AgentParticipant } from './participants/participant.ts'
import type { ChatUser, Message } from './schemas/entities.ts'
import { createStorage } from './storage/index.ts'
import type { ChatStorage } from './storage/types.ts'
import type { WebSocket } from 'ws'

/** `stream.end` with the stored message; parts serialized as they streamed are spliced in, not serialized again. */
function streamEndFrame (conversationId: string, message: Message, partsJson: string | undefined): Buffer {
  if (partsJson === undefined || message.parts === undefined) return encode({ type: 'stream.end', conversationId, message })
  const { parts, ...rest } = message
  const head = JSON.stringify({ type: 'stream.end', conversationId, message: rest })
  return Buffer.from(`${head.slice(0, -2)},"parts":${partsJson}}}`)
}

/** Everything the routes use; built once per plugin registration. */
export interface ChatServices {
  options: ResolvedOptions
  storage: ChatStorage
  cache: ConversationCache
  channels: Channels
  fanout: Fanout
  connections: ConnectionRegistry
  manager: ConversationManager
  metrics: ChatMetrics
  auth: ChatAuth
  agents: Map<string, AgentParticipant>
  /** Wraps a new socket of an authenticated user. */
  connect (socket: WebSocket, user: ChatUser): ChatConnection
  close (): Promise<void>
}

export async function createChatServices (options: ResolvedOptions, log: FastifyBaseLogger, agentList: AgentParticipant[] = []): Promise<ChatServices> {
  const storage = await createStorage(options.storage)
  await storage.init()
  const agents = new Map(agentList.map((a) => [a.id, a]))
  const cache = createConversationCache(storage, options.cache)
  const fanout = await createFanout(options.fanout, log)
  const channels = createChannels({
    storage,
    cache,
    log,
    fanout,
    onDeliver (message, remote) {
      // Agents hear every message of the conversations they are in (an evicted one is loaded again).
      if (agents.size === 0) return
      // The agent that claimed this question answers it, even if it left the conversation meanwhile:
      // its placeholder is stored and must be finished. Claims are made where the question is stored, so
      // each question is answered once, by the instance that stored it.
      const claim = manager.takeClaim(message)
      if (claim !== undefined) agents.get(claim.agentId)?.onMessage(message.conversationId, message, claim.reply)
      if (remote) return // the instance that stored it tells its agents
      const except = claim?.agentId
      const entry = cache.peek(message.conversationId)
      if (entry !== undefined) {
        tellAgents(entry, message, except)
      } else {
        cache.get(message.conversationId).then((loaded) => { tellAgents(loaded, message, except) },
          (err: unknown) => { log.error({ err }, 'chat AI notification failed') })
      }
    },
    onDeleted (id) {
      for (const agent of agents.values()) agent.cancel(id)
    }
  })

  /** Every AI participant of the conversation but `except` hears the message. */
  function tellAgents (entry: CachedConversation | null, message: Message, except: string | undefined): void {
    for (const p of entry?.participants.values() ?? []) {
      if (p.type === 'ai' && p.id !== except) agents.get(p.id)?.onMessage(message.conversationId, message)
    }
  }
  const metrics = createMetrics({ conversations: () => cache.size, channels: () => channels.size })
  const connections = new ConnectionRegistry({
    heartbeatMs: options.heartbeatMs,
    metrics,
    onPresence: (userId, online) => { presence.local(userId, online) }
  })
  const presence = createPresence({
    fanout,
    isLocal: (userId) => connections.isOnline(userId),
    localUsers: () => connections.users(),
    ttlMs: (typeof options.fanout === 'object' && 'presenceTtlMs' in options.fanout ? options.fanout.presenceTtlMs : undefined) ?? 15_000,
    onGone (userIds) {
      log.info({ users: userIds.length }, 'chat presence: an instance went silent; its users are offline')
      // Their instance died: nobody sent their `offline`; every instance tells its own sockets.
      for (const ch of channels.all()) {
        const entry = cache.peek(ch.id)
        for (const id of userIds) {
          const p = entry?.participants.get(id)
          if (p !== undefined) ch.broadcast(encode({ type: 'participant', conversationId: ch.id, event: 'offline', participant: { ...p, online: false } }))
        }
      }
    }
  })
  const manager = createConversationManager({
    storage,
    cache,
    channels,
    options,
    metrics,
    log,
    agents,
    isOnline: (id) => presence.isOnline(id),
    counter: fanout.counter,
    notify: (id, frame) => {
      connections.notify(id, frame)
      if (fanout.shared) fanout.publish({ type: 'notify', userId: id, frame: frame.toString() })
    }
  })

  const api: AgentApi = {
    async participants (conversationId) {
      const entry = await cache.get(conversationId)
      return entry === null ? [] : [...entry.participants.values()]
    },
    async recentMessages (conversationId, limit) {
      const entry = await cache.get(conversationId)
      if (entry === null) return []
      const hi = entry.record.lastSeq + 1
      return cache.window(entry, Math.max(0, hi - 1 - limit), hi) ??
        await storage.getMessages(conversationId, { limit })
    },
    async post (conversationId, draft) {
      return await manager.post(conversationId, { ...draft, id: draft.id ?? newId(), createdAt: new Date().toISOString() })
    },
    broadcast (conversationId, frame) {
      channels.broadcast(conversationId, Buffer.from(frame))
    },
    flush (conversationId) {
      channels.peek(conversationId)?.flush()
    },
    async finish (conversationId, messageId, patch, encoded, ended) {
      const message = await storage.updateMessage(conversationId, messageId, patch, encoded)
      if (message === null) return null
      ended?.(message) // no await from here to the broadcast: a joining socket sees the answer listed or ended
      channels.updated(message, streamEndFrame(conversationId, message, encoded?.parts))
      return message
    }
  }
  for (const agent of agents.values()) agent.attach(api, { log, metrics })
  await fanout.start({
    event (event) {
      if (event.type === 'notify') connections.notify(event.userId, Buffer.from(event.frame))
      else if (event.type === 'presence' || event.type === 'heartbeat' || event.type === 'hello') presence.receive(event)
      else channels.receive(event)
    },
    resync () { channels.resync() }
  })
  // After the fan-out starts: the answers it ends reach the sockets of every instance.
  const sweep = await startAnswerSweep({ storage, channels, log, timeoutMs: options.ai?.timeoutMs ?? 30_000, alone: !fanout.shared })

  return {
    options,
    storage,
    cache,
    channels,
    fanout,
    connections,
    manager,
    metrics,
    auth: createAuth(options),
    agents,
    connect (socket, user) {
      const conn = new ChatConnection(socket, user, {
        manager,
        options,
        metrics,
        log,
        onClose: (c) => { connections.remove(c) }
      })
      connections.add(conn)
      return conn
    },
    async close () {
      await sweep.close()
      await Promise.all([...agents.values()].map(async (a) => { await a.close() }))
      channels.close()
      presence.close()
      await fanout.close()
      await storage.close()
    }
  }
}
