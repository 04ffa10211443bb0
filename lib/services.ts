import type { FastifyBaseLogger } from 'fastify'
import { createAnswers } from './answers.ts'
import { createAuth, type ChatAuth } from './auth.ts'
import { createConversationCache, type ConversationCache } from './cache.ts'
import { createChannels, type Channels } from './channels.ts'
import { createFanout, type Fanout } from './fanout/index.ts'
import { createSecurityAudit, type SecurityAudit } from './audit.ts'
import { ChatConnection, CLOSE_GOING_AWAY, type ConnectionContext } from './connection.ts'
import { ConnectionRegistry } from './connections.ts'
import { createConversationManager, type ConversationManager } from './conversations.ts'
import { createEventStreams, type EventStreams } from './event-stream.ts'
import { createMetrics, type ChatMetrics } from './metrics.ts'
import { createPresence } from './presence.ts'
import type { ResolvedOptions } from './options.ts'
import type { AgentParticipant } from './participants/participant.ts'
import { participantFrame, presenceFrame } from './server-frames.ts'
import type { ChatUser, ParticipantRecord } from './schemas/entities.ts'
import { createStorage } from './storage/index.ts'
import type { ChatStorage } from './storage/types.ts'
import type { WebSocket } from 'ws'

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
  connect (socket: WebSocket, user: ChatUser, ip?: string): ChatConnection
  /** The event streams (`GET /chat/events`), the fallback for networks that block WebSockets. */
  events: EventStreams
  audit: SecurityAudit
  /**
   * Graceful shutdown, before the server stops: sockets refuse new frames and finish those received (stored
   * ⇒ acked), AI answers end (their stream.end reaches the viewers), then every socket closes with 1001.
   */
  drain (): Promise<void>
  close (): Promise<void>
}

export async function createChatServices (options: ResolvedOptions, log: FastifyBaseLogger, agentList: AgentParticipant[] = []): Promise<ChatServices> {
  // First: a registry that refuses the chat's metrics fails startup before anything is opened. Read at scrape time.
  const metrics = createMetrics({ conversations: () => cache.size, channels: () => channels.size }, options.metrics)
  let storage: ChatStorage
  try {
    storage = await createStorage(options.storage)
    await storage.init()
  } catch (err) {
    metrics.detach()
    throw err
  }
  const agents = new Map(agentList.map((a) => [a.id, a]))
  const cache = createConversationCache(storage, options.cache)
  const fanout = await createFanout(options.fanout, log)
  const channels = createChannels({
    storage,
    cache,
    log,
    fanout,
    presence: { batchAbove: options.limits.presenceBatchAbove, intervalMs: options.limits.presenceIntervalMs },
    onDeliver (message, remote) { answers.delivered(message, remote) },
    onDeleted (id) { answers.deleted(id) }
  })
  const audit = createSecurityAudit(storage, log)
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
    onError (err) { log.debug({ err }, 'chat presence: the instance directory is unreachable') },
    onGone (userIds) {
      log.info({ users: userIds.length }, 'chat presence: an instance went silent; its users are offline')
      // Their instance died: nobody sent their `offline`; every instance tells its own sockets: a `participant`
      // frame per user in a conversation of the default size, ONE `presence` frame listing them in a big one
      // (protocol extension 26; nothing of it waits in a batch here: they were nobody's local users).
      for (const ch of channels.all()) {
        const entry = cache.peek(ch.id)
        if (entry === undefined) continue
        const members = userIds.filter((id) => entry.participants.has(id))
        if (members.length === 0) continue
        if (channels.presence.big(entry)) {
          channels.presence.stale(ch.id) // the next `joined` lists them offline
          ch.broadcast(presenceFrame(ch.id, [], members))
          continue
        }
        for (const id of members) {
          ch.broadcast(participantFrame(ch.id, 'offline', { ...(entry.participants.get(id) as ParticipantRecord), online: false }))
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
    answers: {
      claim: (entry, question) => answers.claim(entry, question),
      settle: (question, result) => { answers.settle(question, result) },
      shed: (id) => answers.shed(id)
    },
    isOnline: (id) => presence.isOnline(id),
    counter: fanout.counter,
    notify: (id, frame) => {
      connections.notify(id, frame)
      if (fanout.shared) fanout.publish({ type: 'notify', userId: id, frame: frame.toString() })
    }
  })

  const answers = createAnswers({
    agents,
    storage,
    cache,
    channels,
    log,
    metrics,
    post: manager.post,
    timeoutMs: options.ai?.timeoutMs ?? 30_000
  })
  await fanout.start({
    event (event) {
      if (event.type === 'notify') connections.notify(event.userId, Buffer.from(event.frame))
      else if (event.type === 'presence' || event.type === 'heartbeat' || event.type === 'hello') presence.receive(event)
      else channels.receive(event)
    },
    resync () { channels.resync() }
  })
  await presence.start()
  // After the fan-out starts: the answers the sweep ends reach the sockets of every instance.
  await answers.start({ alone: !fanout.shared })

  const events = createEventStreams({
    manager,
    connections,
    options,
    log,
    onPolicyClose: (stream, code, reason) => {
      audit.record({ actor: stream.userId, action: 'socket.closed', target: stream.id, ip: stream.ip, details: { code, reason, transport: 'sse' } })
    }
  })

  // Every socket's context: one object for all of them (an idle socket holds nothing of its own here).
  const socketContext: ConnectionContext = {
    manager,
    options,
    metrics,
    log,
    onClose: (c) => { connections.remove(c) },
    onPolicyClose: (c, code, reason) => {
      audit.record({ actor: c.userId, action: 'socket.closed', target: c.id, ip: c.ip, details: { code, reason } })
    }
  }

  return {
    options,
    storage,
    cache,
    channels,
    fanout,
    connections,
    manager,
    metrics,
    auth: createAuth(options, new Set(['system', ...agents.keys()])),
    agents,
    connect (socket, user, ip) {
      const conn = new ChatConnection(socket, user, socketContext, ip)
      if (conn.isOpen) {
        connections.add(conn)
        conn.start()
      }
      return conn
    },
    events,
    audit,
    async drain () {
      events.drain()
      await Promise.all(connections.all().map(async (c) => { await c.quiesce() }))
      await answers.close()
      connections.closeAll(CLOSE_GOING_AWAY, 'server shutting down')
    },
    async close () {
      await answers.close()
      channels.close()
      await presence.close()
      await fanout.close()
      await storage.close()
      metrics.detach()
    }
  }
}
