import type { TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import sjson from 'secure-json-parse'
import { CHAT_ERR_BAD_FRAME } from './errors.ts'
import { ClientFrames, type ClientFrame } from './schemas/frames.ts'

// Compiled once, at load: one checker per client frame type.
const checkers = new Map<string, TypeCheck<TSchema>>(
  Object.entries(ClientFrames).map(([type, schema]): [string, TypeCheck<TSchema>] => [type, TypeCompiler.Compile(schema)])
)

export type BadFrame = InstanceType<typeof CHAT_ERR_BAD_FRAME> & { ref?: string }

/** The longest `ref` echoed on an error, as the frame schemas allow it. */
const MAX_REF_LENGTH = 128

function bad (message: string, ref: unknown): BadFrame {
  const err: BadFrame = new CHAT_ERR_BAD_FRAME(message)
  // A bad frame's ref is unchecked input: echo it only when a valid frame could have carried it, so a
  // megabyte-long ref is not written back.
  if (typeof ref === 'string' && ref.length <= MAX_REF_LENGTH) err.ref = ref
  return err
}

/**
 * Parses and validates one client text frame. Throws CHAT_ERR_BAD_FRAME that says what is wrong (and carries
 * the frame's `ref` when it had one), never anything else.
 */
export function parseClientFrame (text: string): ClientFrame {
  let value: unknown
  try {
    value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
  } catch {
    throw bad('frame is not valid JSON', undefined)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('frame must be a JSON object', undefined)
  const frame = value as Record<string, unknown>
  const type = frame.type
  const ref = frame.ref
  if (typeof type !== 'string') throw bad('frame needs a string "type"', frame.ref)
  const checker = checkers.get(type)
  if (checker === undefined) throw bad(`unknown frame type "${type.slice(0, 40)}"`, frame.ref)
  if (!checker.Check(frame)) {
    const first = checker.Errors(frame).First()
    const field = first === undefined ? '' : first.path.replace(/^\//, '').replaceAll('/', '.')
    throw bad(`${type}: ${field === '' ? 'frame' : `"${field}"`} ${first?.message.toLowerCase() ?? 'is invalid'}`, ref)
  }
  return frame as ClientFrame
}
