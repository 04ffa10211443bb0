import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { FastifyRequest } from 'fastify'
import type { Registry } from 'prom-client'
import { CHAT_ERR_INVALID_OPTS } from './errors.ts'
import type { AnswerRuleInput, AskHandler } from './participants/nlweb.ts'
import type { ChatUser } from './schemas/entities.ts'
import type { PostgresPool } from './storage/postgres.ts'
import type { ChatStorage } from './storage/types.ts'
import type { Fanout, FanoutConfig } from './fanout/index.ts'
import type { ResolveUsers } from './users.ts'

const Limits = Type.Object({
  maxMessageBytes: Type.Integer({ minimum: 1, default: 16 * 1024, description: 'UTF-8 bytes of one message content' }),
  maxFrameBytes: Type.Integer({ minimum: 1024, default: 1024 * 1024, description: 'Largest socket frame; larger ones close with 1009' }),
  maxParticipants: Type.Integer({ minimum: 2, default: 100 }),
  historyWindow: Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'Messages `join` returns without `since`' }),
  replayLimit: Type.Integer({ minimum: 1, maximum: 10000, default: 500, description: 'Most messages `join` with `since` replays' }),
  maxQueuedFrames: Type.Integer({ minimum: 1, default: 1024, description: 'Frames one socket may have waiting before QUEUE_FULL' }),
  maxPendingSends: Type.Integer({
    minimum: 2,
    default: 1000,
    description: 'Messages of one conversation being stored at once (per instance): from half of it, AI answers there are shed; at it, sends get QUEUE_FULL'
  }),
  maxBufferedBytes: Type.Integer({ minimum: 1024, default: 8 * 1024 * 1024, description: 'Outbound bytes before a slow socket is closed with 4029' }),
  maxTitleLength: Type.Integer({ minimum: 1, default: 200 }),
  maxMetadataBytes: Type.Integer({ minimum: 2, default: 4096, description: 'Serialized bytes of a message or conversation `metadata`' }),
  presenceBatchAbove: Type.Integer({
    minimum: 0,
    default: 100,
    description: 'Conversations with more participants than this get presence coalesced: one `presence` frame per presenceIntervalMs instead of a `participant` frame per change'
  }),
  presenceIntervalMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 500, description: 'How often a big conversation\'s presence changes go out, at most' })
}, { additionalProperties: false, default: {} })

/** A token bucket: `max` at once, refilled at `max` per `windowMs`; `max` 0 turns the limit off. */
const rate = (max: number, windowMs: number, what: string) => Type.Object({
  max: Type.Integer({ minimum: 0, default: max, description: `${what} one user may do per window; 0 turns it off` }),
  windowMs: Type.Integer({ minimum: 1, default: windowMs })
}, { additionalProperties: false, default: {} })

const RateLimit = Type.Object({
  max: Type.Integer({ minimum: 0, default: 300, description: 'Messages one user may send per window; 0 turns it off' }),
  windowMs: Type.Integer({ minimum: 1, default: 10_000 }),
  conversations: rate(600, 60_000, 'Conversations created'),
  participants: rate(1200, 60_000, 'Participant adds and removes'),
  typing: rate(100, 10_000, 'Typing frames'),
  joins: rate(1000, 10_000, 'Joins'),
  rest: rate(1000, 10_000, 'REST requests (through @fastify/rate-limit, with x-ratelimit-* headers)')
}, { additionalProperties: false, default: {} })

const Cache = Type.Object({
  max: Type.Integer({ minimum: 1, default: 1000, description: 'Active conversations kept in memory' }),
  messages: Type.Integer({ minimum: 1, default: 200, description: 'Recent messages kept per cached conversation' })
}, { additionalProperties: false, default: {} })

const UserMapping = Type.Object({
  property: Type.String({ minLength: 1, default: 'user', description: 'Request property the host auth hook sets' }),
  id: Type.String({ minLength: 1, default: 'id' }),
  name: Type.String({ minLength: 1, default: 'name' }),
  roles: Type.String({ minLength: 1, default: 'roles' }),
  expires: Type.String({
    minLength: 1,
    default: 'exp',
    description: 'Property holding when the user\'s token expires, in seconds since the epoch (a JWT\'s `exp`); sockets close with 4001 then'
  })
}, { additionalProperties: false, default: {} })

const PostgresSchemaName = Type.String({
  minLength: 1,
  maxLength: 63,
  pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
  description: 'PostgreSQL schema holding the tables, created if missing (default `chat`)'
})

/**
 * The host's node-postgres Pool (e.g. @fastify/postgres's `fastify.pg.pool`): an instance, so it is checked
 * apart (`query` and `connect` functions) and stands in the schema as an object.
 */
const PostgresPoolOption = Type.Unsafe<PostgresPool>(Type.Object({}, { description: 'The host\'s pg Pool: used, never ended by the chat' }))

const StorageConfig = Type.Union([
  Type.Literal('memory'),
  Type.Object({ type: Type.Literal('memory') }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('sqlite'),
    filename: Type.String({ minLength: 1 }),
    lockTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, description: 'How long a write waits (retried with timers, never blocking) for a lock another process holds before UNAVAILABLE; default 1000' })),
    maxSizeBytes: Type.Optional(Type.Integer({ minimum: 4096, description: 'Largest the database file may grow; past it writes fail as on a full disk (UNAVAILABLE)' }))
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('postgres'),
    connectionString: Type.String({ minLength: 1, description: 'postgres://user:pass@host:port/db; the storage opens and ends its own pool' }),
    schema: Type.Optional(PostgresSchemaName)
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('postgres'),
    pool: PostgresPoolOption,
    schema: Type.Optional(PostgresSchemaName)
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('azure'),
    connectionString: Type.String({ minLength: 1, description: 'Azure Storage (or Cosmos DB Table API) connection string; Azurite\'s for development' }),
    tablePrefix: Type.Optional(Type.String({
      pattern: '^[A-Za-z][A-Za-z0-9]{0,50}$',
      description: 'Letters and digits before the table names (`chat`, `chatindex`), to share an account'
    }))
  }, { additionalProperties: false })
], { default: 'memory' })

const FanoutConfig = Type.Union([
  Type.Literal('local'),
  Type.Object({ type: Type.Literal('local') }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('redis'),
    url: Type.Optional(Type.String({ minLength: 1, description: 'redis://host:port/db; or give `client`' })),
    channel: Type.Optional(Type.String({ minLength: 1, description: 'The pub/sub channel the instances share' })),
    presenceTtlMs: Type.Optional(Type.Integer({ minimum: 100, description: 'An instance silent this long is taken as dead (default 15000)' }))
  }, { additionalProperties: false })
], { default: 'local' })

const AiContext = Type.Object({
  queries: Type.Integer({ minimum: 0, maximum: 50, default: 5, description: 'Earlier questions passed as `prev`' }),
  answers: Type.Integer({ minimum: 0, maximum: 10, default: 1, description: 'Earlier AI answers passed as `last_ans`' }),
  itemsPerAnswer: Type.Integer({ minimum: 1, maximum: 50, default: 10 })
}, { additionalProperties: false, default: {} })

/** The AI participant, minus its code (`handler`, `shouldAnswer`), which is checked apart. */
export const AiOptionsSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$', default: 'assistant' }),
  name: Type.String({ minLength: 1, maxLength: 64, default: 'Assistant' }),
  timeoutMs: Type.Integer({ minimum: 1, default: 30_000 }),
  site: Type.Optional(Type.String({ minLength: 1 })),
  context: AiContext
}, { additionalProperties: false })

/** The host's user directory, minus its code (`resolve`), which is checked apart. */
export const UsersOptionsSchema = Type.Object({
  timeoutMs: Type.Integer({ minimum: 1, default: 2000, description: 'How long a create or add waits for `resolve` before naming people by id' })
}, { additionalProperties: false })

/** The options as data: what can come from a config file or the host's config decorator. */
export const ChatOptionsSchema = Type.Object({
  prefix: Type.String({ pattern: '^/', default: '/chat' }),
  auth: Type.String({ minLength: 1, default: 'authenticate', description: 'Host decorator holding its auth hook' }),
  config: Type.String({ minLength: 1, default: 'config', description: 'Host decorator holding its config; its `chat` key gives defaults' }),
  storage: StorageConfig,
  user: UserMapping,
  adminRole: Type.String({ minLength: 1, default: 'admin' }),
  heartbeatMs: Type.Integer({ minimum: 100, default: 30_000 }),
  limits: Limits,
  rateLimit: RateLimit,
  cache: Cache,
  publicHealth: Type.Boolean({ default: true, description: '/health and /metrics without auth' }),
  metrics: Type.Object({
    processMetrics: Type.Boolean({ default: false, description: 'Also collect Node\'s process metrics (prom-client defaults)' })
  }, { additionalProperties: false, default: {} }),
  fanout: FanoutConfig
})

export type ChatOptionsData = Static<typeof ChatOptionsSchema>

export type AllowUser = (user: ChatUser, request: FastifyRequest) => boolean | Promise<boolean>

/** What a host passes to `app.register(chat, opts)`: the data options plus code. */
export interface ChatPluginOptions extends Partial<Omit<ChatOptionsData, 'storage' | 'limits' | 'rateLimit' | 'cache' | 'user' | 'fanout' | 'metrics'>> {
  /** Prometheus: the host's prom-client `Registry` to register the chat's metrics on, and whether to add process metrics. */
  metrics?: { registry?: Registry, processMetrics?: boolean }
  storage?: ChatOptionsData['storage'] | ChatStorage
  /** How instances tell each other of messages and events: in-process (one instance) or Redis pub/sub. */
  fanout?: ChatOptionsData['fanout'] | { type: 'redis', client: unknown, channel?: string } | Fanout
  limits?: Partial<ChatOptionsData['limits']>
  rateLimit?: Partial<ChatOptionsData['rateLimit']>
  cache?: Partial<ChatOptionsData['cache']>
  user?: Partial<ChatOptionsData['user']>
  /** Maps a request to the chat user instead of `user.*` property names; return null for "nobody". */
  identify?: (request: FastifyRequest) => ChatUser | null
  /**
   * Soft launch: whether chat is enabled for this user (sync or async). Others get 403 FORBIDDEN on every chat
   * route and on the WebSocket upgrade. Without it, chat is on for everyone the host's auth lets in.
   */
  allow?: AllowUser
  /** The AI participant answering through the host's `/ask` handler; false turns off one the host config names. */
  ai?: AiOptions | false
  /** The host's user directory, naming people added by id; false turns off one the host config names. */
  users?: UsersOptions | false
}

export interface ResolvedOptions extends Omit<ChatOptionsData, 'storage' | 'fanout' | 'metrics'> {
  metrics: ChatOptionsData['metrics'] & { registry?: Registry }
  storage: ChatOptionsData['storage'] | ChatStorage
  fanout: FanoutConfig
  identify?: (request: FastifyRequest) => ChatUser | null
  allow?: AllowUser
  ai?: ResolvedAiOptions
  users?: ResolvedUsersOptions
}

export type UsersOptionsData = Static<typeof UsersOptionsSchema>

/**
 * Names for people added by id. `resolve` gets every id of one create (or the one id of an add) in one call
 * and returns the names it knows, by id: `{ bob: 'Bob', carol: { name: 'Carol' } }`. Ids left out are named
 * by their id; so is everyone when it throws or takes longer than `timeoutMs`.
 */
export interface UsersOptions extends Partial<UsersOptionsData> {
  resolve: ResolveUsers
}

export interface ResolvedUsersOptions extends UsersOptionsData {
  resolve: ResolveUsers
}

export type AiOptionsData = Static<typeof AiOptionsSchema>

/** The AI participant's options: the handler by reference, or the name of the host decorator holding it. */
export interface AiOptions extends Partial<Omit<AiOptionsData, 'context'>> {
  handler: AskHandler | string
  context?: Partial<AiOptionsData['context']>
  shouldAnswer?: (input: AnswerRuleInput) => boolean
}

export interface ResolvedAiOptions extends AiOptionsData {
  handler: AskHandler | string
  shouldAnswer?: (input: AnswerRuleInput) => boolean
}

function firstError (schema: TSchema, data: unknown, prefix: string): string | undefined {
  const error = Value.Errors(schema, data).First()
  if (error === undefined) return undefined
  const name = prefix + (error.path.replace(/^\//, '').replaceAll('/', '.') || '')
  return `"${name.replace(/\.$/, '') || 'options'}" ${error.message.toLowerCase()} (got ${JSON.stringify(error.value)})`
}

function resolveAi (input: unknown): ResolvedAiOptions | undefined {
  if (input === undefined || input === false || input === null) return undefined
  if (!isPlainObject(input)) throw new CHAT_ERR_INVALID_OPTS('"ai" must be an object with a "handler"')
  const { handler, shouldAnswer, ...data } = input
  if (typeof handler !== 'function' && (typeof handler !== 'string' || handler === '')) {
    throw new CHAT_ERR_INVALID_OPTS('"ai.handler" must be the ask handler function or the name of the host decorator holding it')
  }
  if (shouldAnswer !== undefined && typeof shouldAnswer !== 'function') {
    throw new CHAT_ERR_INVALID_OPTS('"ai.shouldAnswer" must be a function')
  }
  const resolved = Value.Default(AiOptionsSchema, Value.Clone(data))
  const problem = firstError(AiOptionsSchema, resolved, 'ai.')
  if (problem !== undefined) throw new CHAT_ERR_INVALID_OPTS(problem)
  return { ...(resolved as AiOptionsData), handler: handler as AskHandler | string, shouldAnswer: shouldAnswer as ResolvedAiOptions['shouldAnswer'] }
}

function resolveUsers (input: unknown): ResolvedUsersOptions | undefined {
  if (input === undefined || input === false || input === null) return undefined
  if (!isPlainObject(input)) throw new CHAT_ERR_INVALID_OPTS('"users" must be an object with a "resolve" function')
  const { resolve, ...data } = input
  if (typeof resolve !== 'function') throw new CHAT_ERR_INVALID_OPTS('"users.resolve" must be a function (ids) => names by id')
  const resolved = Value.Default(UsersOptionsSchema, Value.Clone(data))
  const problem = firstError(UsersOptionsSchema, resolved, 'users.')
  if (problem !== undefined) throw new CHAT_ERR_INVALID_OPTS(problem)
  return { ...(resolved as UsersOptionsData), resolve: resolve as ResolveUsers }
}

const FASTIFY_KEYS = new Set(['logLevel', 'logSerializers'])
const CODE_KEYS = ['identify', 'allow'] as const

function isStorage (value: unknown): value is ChatStorage {
  return typeof value === 'object' && value !== null && typeof (value as ChatStorage).appendMessage === 'function'
}

function isPool (value: unknown): value is PostgresPool {
  return typeof value === 'object' && value !== null &&
    typeof (value as PostgresPool).query === 'function' && typeof (value as PostgresPool).connect === 'function'
}

/**
 * Takes the host's pg Pool out of `storage.pool`, checked, leaving an empty object in its place: the schema
 * checks the rest, and the pool is never cloned.
 */
function takePool (input: Record<string, unknown>): PostgresPool | undefined {
  const storage = input.storage
  if (!isPlainObject(storage) || storage.pool === undefined) return undefined
  if (!isPool(storage.pool)) {
    throw new CHAT_ERR_INVALID_OPTS('"storage.pool" must be a node-postgres Pool (an object with query and connect functions)')
  }
  input.storage = { ...storage, pool: {} }
  return storage.pool
}

/** Takes the host's prom-client Registry out of `metrics.registry`, checked; the schema checks the rest. */
function takeRegistry (input: Record<string, unknown>): Registry | undefined {
  const metrics = input.metrics
  if (!isPlainObject(metrics) || metrics.registry === undefined) return undefined
  const registry = metrics.registry as Registry
  if (typeof registry !== 'object' || registry === null || typeof registry.registerMetric !== 'function' || typeof registry.metrics !== 'function') {
    throw new CHAT_ERR_INVALID_OPTS('"metrics.registry" must be a prom-client Registry')
  }
  const { registry: _taken, ...rest } = metrics
  input.metrics = rest
  return registry
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype
}

/**
 * Explicit options win over the host config, key by key (one level deep for the option groups). `storage`
 * is one choice, replaced whole: a SQLite file name has no place beside a PostgreSQL pool.
 */
function merge (base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue
    const mergeable = key !== 'storage' && isPlainObject(value) && isPlainObject(out[key])
    out[key] = mergeable ? { ...out[key] as object, ...value as object } : value
  }
  return out
}

/**
 * Validates and completes the options. `fromConfig` is the host config's `chat` object, if any.
 * Throws CHAT_ERR_INVALID_OPTS naming the first bad option.
 */
export function resolveOptions (explicit: ChatPluginOptions, fromConfig: unknown): ResolvedOptions {
  if (fromConfig !== undefined && !isPlainObject(fromConfig)) {
    throw new CHAT_ERR_INVALID_OPTS('the host config\'s "chat" entry must be an object')
  }
  const input = merge(fromConfig ?? {}, explicit as Record<string, unknown>)
  for (const key of FASTIFY_KEYS) delete input[key]

  const code: Partial<Record<(typeof CODE_KEYS)[number], unknown>> = {}
  for (const key of CODE_KEYS) {
    if (input[key] !== undefined && typeof input[key] !== 'function') {
      throw new CHAT_ERR_INVALID_OPTS(`"${key}" must be a function`)
    }
    code[key] = input[key]
    delete input[key]
  }
  const storage = input.storage
  if (isStorage(storage)) delete input.storage
  const pool = takePool(input)
  const registry = takeRegistry(input)
  // Instances (a Fanout, or the host's Redis client) are taken as they are; the rest is checked as data.
  const fanout = input.fanout
  const fanoutInstance = isPlainObject(fanout) && ('publish' in fanout || 'client' in fanout) ? fanout : undefined
  if (fanoutInstance !== undefined) delete input.fanout
  const ai = resolveAi(input.ai)
  delete input.ai
  const users = resolveUsers(input.users)
  delete input.users

  const known = new Set(Object.keys(ChatOptionsSchema.properties))
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw new CHAT_ERR_INVALID_OPTS(`unknown option "${key}"`)
  }

  const data = Value.Default(ChatOptionsSchema, Value.Clone(input))
  const problem = firstError(ChatOptionsSchema, data, '')
  if (problem !== undefined) throw new CHAT_ERR_INVALID_OPTS(problem)
  const resolved = data as ResolvedOptions
  if (resolved.prefix.length > 1 && resolved.prefix.endsWith('/')) resolved.prefix = resolved.prefix.slice(0, -1)
  if (resolved.limits.maxMessageBytes > resolved.limits.maxFrameBytes) {
    throw new CHAT_ERR_INVALID_OPTS('"limits.maxMessageBytes" must not exceed "limits.maxFrameBytes"')
  }
  if (isStorage(storage)) resolved.storage = storage
  if (pool !== undefined) Object.assign(resolved.storage, { pool })
  if (registry !== undefined) resolved.metrics.registry = registry
  if (fanoutInstance !== undefined) resolved.fanout = fanoutInstance as unknown as FanoutConfig
  if (code.identify !== undefined) resolved.identify = code.identify as ResolvedOptions['identify']
  if (code.allow !== undefined) resolved.allow = code.allow as AllowUser
  if (ai !== undefined) resolved.ai = ai
  if (users !== undefined) resolved.users = users
  return resolved
}
