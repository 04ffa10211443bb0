import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { test } from 'tap'
import { createRedisFanout } from '../../lib/fanout/redis.ts'
import { fanoutContract } from './contract.ts'

/** Against the machine's Redis, each test on a pub/sub channel of its own. */
test('Redis fan-out keeps the contract', async (t) => {
  const channel = `test-${randomUUID()}`
  const log = { warn () {}, info () {}, error () {}, debug () {} } as unknown as FastifyBaseLogger
  fanoutContract(t, async () => [
    createRedisFanout({ url: 'redis://127.0.0.1:6379', channel }, log),
    createRedisFanout({ url: 'redis://127.0.0.1:6379', channel }, log)
  ])
})
