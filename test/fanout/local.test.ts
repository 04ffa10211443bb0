import { EventEmitter } from 'node:events'
import { test } from 'tap'
import { createLocalFanout } from '../../lib/fanout/index.ts'
import { fanoutContract } from './contract.ts'

test('in-process fan-out on a shared bus keeps the contract', async (t) => {
  const bus = new EventEmitter()
  bus.setMaxListeners(0)
  fanoutContract(t, async () => [createLocalFanout(bus), createLocalFanout(bus)])
})

test('alone (the default) it is not shared and publishing is a no-op', async (t) => {
  const fanout = createLocalFanout()
  await fanout.start({ event: () => { t.fail('nobody else exists') }, resync: () => {} })
  t.equal(fanout.shared, false)
  fanout.publish({ type: 'frame', conversationId: 'c', frame: 'x' })
  await fanout.whenConnected()
  await fanout.close()
})
