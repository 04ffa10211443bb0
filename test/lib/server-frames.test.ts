import t from 'tap'
import type { Message, Participant } from '../../lib/schemas/entities.ts'
import { joinedFrame, shareEncoded } from '../../lib/server-frames.ts'

const participant = (id: string, online: boolean): Participant =>
  ({ id, name: id.toUpperCase(), type: 'human', role: 'member', joinedAt: '2026-01-01T00:00:00.000Z', online })
const message = (seq: number): Message => ({
  id: `m${seq}`,
  conversationId: 'c1',
  seq,
  kind: 'text',
  sender: { id: 'a', name: 'A', type: 'human' },
  content: `hello "${seq}" \u2028`,
  createdAt: '2026-01-01T00:00:00.000Z'
})
const record = { id: 'c1', title: 't', createdBy: 'a', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', lastSeq: 3 }

t.test('a big conversation\'s joined, its shared lists spliced in, reads as the same frame as one serialized whole', async (t) => {
  for (const ref of [undefined, 'r1']) {
    for (const shared of [true, false]) {
      const people = shareEncoded([participant('a', true), participant('b', false)])
      const online = shared ? shareEncoded(['a']) : ['a']
      const messages = shared ? shareEncoded([message(1), message(2), message(3)]) : [message(1), message(2), message(3)]
      const body = { conversationId: 'c1', conversation: { ...record, participants: people }, participantCount: 2, online, lastSeq: 3, messages, recovered: true }
      const frame = joinedFrame(ref, body)
      t.ok(Buffer.isBuffer(frame), 'spliced bytes')
      t.strictSame(JSON.parse(frame.toString()), { type: 'joined', ...body, ...(ref === undefined ? {} : { ref }) }, `ref ${String(ref)}, lists shared: ${String(shared)}`)
    }
  }
})

t.test('a small conversation\'s joined is one JSON string', async (t) => {
  const body = { conversationId: 'c1', conversation: { ...record, participants: [participant('a', true)] }, lastSeq: 3, messages: [message(1)], recovered: false }
  const frame = joinedFrame('r', body)
  t.type(frame, 'string')
  t.strictSame(JSON.parse(frame.toString()), { type: 'joined', ...body, ref: 'r' })
})
