import type { FastifyBaseLogger } from 'fastify'
import { loadDriver } from '../storage/index.ts'
import { createLocalFanout } from './local.ts'
import type { Fanout, RedisFanoutOptions } from './types.ts'

export type * from './types.ts'
export { createLocalFanout }

export type FanoutConfig = 'local' | { type: 'local' } | ({ type: 'redis' } & RedisFanoutOptions) | Fanout

/** The fan-out the options name; a ready instance passes through. ioredis loads only when Redis is chosen. */
export async function createFanout (config: FanoutConfig, log: FastifyBaseLogger): Promise<Fanout> {
  if (typeof config === 'object' && 'publish' in config) return config
  if (typeof config === 'object' && config.type === 'redis') {
    const { createRedisFanout } = await loadDriver('ioredis', 'the Redis fan-out', async () => await import('./redis.ts'))
    return createRedisFanout(config, log)
  }
  return createLocalFanout()
}
