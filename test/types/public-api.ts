// Type-level checks of the public API: compiled by `tsc --noEmit` (part of `npm test`), never run.
import Fastify from 'fastify'
import chat, {
  NLWebParticipant, createMemoryStorage, type AskHandler, type ChatOptions, type ChatStorage, type Message
} from '../../lib/index.ts'

const app = Fastify()
const handler: AskHandler = async (params, sink) => {
  const q: string = params.query
  await sink.write({ message_type: 'summary', message: q })
}

// The README's handler shape: the plugin always passes `{ signal }`, so it may be destructured.
const readmeHandler: AskHandler = async (params, sink, { signal }) => {
  signal.throwIfAborted()
  await sink.write({ message_type: 'summary', message: params.query })
}
// A handler that ignores the signal fits as well.
const noSignal: AskHandler = async (params) => { void params }

void app.register(chat, { prefix: '/chat', storage: 'memory', ai: { handler } })
void app.register(chat, { ai: { handler: readmeHandler } })
void app.register(chat, { agents: [new NLWebParticipant({ handler: noSignal })] })
void app.register(chat, { storage: { type: 'sqlite', filename: './data/x.db' }, ai: { handler: 'askHandler', timeoutMs: 1000 } })
void app.register(chat, { storage: createMemoryStorage(), limits: { maxMessageBytes: 1000 }, rateLimit: { max: 0 } })
void app.register(chat, { identify: (request) => ({ id: request.id, name: 'n', roles: [] }) })
void app.register(chat, { agents: [new NLWebParticipant({ handler, id: 'bot', name: 'Bot' })], ai: false })

// @ts-expect-error storage must be 'memory', a storage config or a ChatStorage
void app.register(chat, { storage: 'mongo' })
// @ts-expect-error limits are numbers
void app.register(chat, { limits: { maxMessageBytes: '10kb' } })
// @ts-expect-error the AI needs a handler
void app.register(chat, { ai: { name: 'Bot' } })
// @ts-expect-error the signal is an AbortSignal, not a string
const wrongSignal: AskHandler = async (params, sink, { signal }: { signal: string }) => { void signal }
// @ts-expect-error identify returns a user or null
void app.register(chat, { identify: () => 'alice' })

const options: ChatOptions = { heartbeatMs: 10_000 }
// @ts-expect-error unknown options are rejected by the type too
const typo: ChatOptions = { heartbeat: 10_000 }

async function usesDecorator (): Promise<void> {
  await app.ready()
  const storage: ChatStorage = app.chat.storage
  const messages: Message[] = await storage.getMessages('id', { limit: 10 })
  // @ts-expect-error seq is a number
  const seq: string = messages[0].seq
  void seq
}

void options
void typo
void wrongSignal
void usesDecorator
