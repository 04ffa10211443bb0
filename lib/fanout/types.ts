import type { SharedCounter } from '../rate-limit.ts'
import type { Message } from '../schemas/entities.ts'

/**
 * What one instance tells the others about the conversations it serves. Every instance applies an event to
 * its own sockets and caches; the instance that published it has done so already.
 */
export type FanoutEvent =
  /** A message this instance stored; `extra` frames (participant events) follow it. */
  | { type: 'message', conversationId: string, message: Message, extra?: string[] }
  /** A stored message changed (an AI answer ended): caches take it, `frame` goes to the sockets. */
  | { type: 'updated', conversationId: string, message: Message, frame: string }
  /** A frame outside the sequence (stream chunks, typing, presence), to every socket but `except`'s user. */
  | { type: 'frame', conversationId: string, frame: string, except?: string }
  /** The conversation changed (membership, closed): drop cached state; `removed` loses its subscriptions. */
  | { type: 'changed', conversationId: string, removed?: string, deleted?: boolean }
  /** A frame for all of a user's sockets, joined or not (added to a conversation). */
  | { type: 'notify', userId: string, frame: string }
  /** A user's first socket on `instance` opened, or its last one closed. */
  | { type: 'presence', instance: string, userId: string, online: boolean }
  /** `instance` is alive, with these users online on it. */
  | { type: 'heartbeat', instance: string, users: string[] }
  /** `instance` has just started: the others answer with a heartbeat (fan-outs without an instance directory). */
  | { type: 'hello', instance: string }

/**
 * Which instances are alive, each with its online users: a record per instance that expires unless renewed
 * (a key with a TTL). An instance that stops renewing it (killed, cut off) drops out within the TTL.
 */
export interface InstanceDirectory {
  /** Records `instance` alive, with these users online, for `ttlMs`. */
  beat (instance: string, users: string[], ttlMs: number): Promise<void>
  /** The instances whose record has not expired, with their users. Rejects when the directory is unreachable. */
  alive (): Promise<Map<string, string[]>>
  /** Drops `instance`'s record at once (it is closing). */
  remove (instance: string): Promise<void>
}

export interface FanoutHandlers {
  /** An event another instance published. */
  event: (event: FanoutEvent) => void
  /** Events may have been missed (the link to the others was down): resync live state from storage. */
  resync: () => void
}

/**
 * The seam between instances: in-process (one instance, nothing to send) or Redis pub/sub. Publishing never
 * waits and never throws: storage stays the source of truth, and a lost event is a gap that storage fills.
 */
export interface Fanout {
  readonly name: string
  /** False when no other instance can hear it: then nothing is serialized for it. */
  readonly shared: boolean
  /** False while the link to the other instances is down (health reports it). */
  readonly connected: boolean
  start (handlers: FanoutHandlers): Promise<void>
  /** Resolves once the link is up (at once when it is). */
  whenConnected (): Promise<void>
  publish (event: FanoutEvent): void
  /** A counter every instance shares (per-user rate limits), when the link has one. */
  readonly counter?: SharedCounter
  /** The Redis client (ioredis) behind the link, if any: the REST rate limiter counts there too. */
  readonly redis?: unknown
  /** Where instances record that they are alive (presence), when the link has one; else heartbeats are events. */
  readonly instances?: InstanceDirectory
  close (): Promise<void>
}

/** Options of the Redis fan-out (lib/fanout/redis.ts); typed here so that hosts without ioredis type-check. */
export interface RedisFanoutOptions {
  /** `redis://host:port/db`; or give `client`. */
  url?: string
  /** The host's ioredis client (e.g. from @fastify/redis): used to publish, duplicated to subscribe; never closed by us. */
  client?: object
  /** The pub/sub channel all instances of one deployment share. */
  channel?: string
  /** An instance not heard from for this long is taken as dead: its users go offline for the others. */
  presenceTtlMs?: number
}
