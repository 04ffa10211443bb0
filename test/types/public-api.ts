// Type-level checks of the public API: compiled by `tsc --noEmit` (part of `npm test`), never run.
import Fastify from 'fastify'
import chat, {
  NLWebParticipant, createMemoryStorage, type AskHandler, type ChatApi, type ChatOptions, type ChatUser, type Conversation,
  type HealthReply, type Message, type Participant, type PostedMessage
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
  const api: ChatApi = app.chat
  const alice: ChatUser = { id: 'alice', name: 'Alice', roles: [] }
  const conversation: Conversation = await api.createConversation(alice, { title: 'From a job', participants: ['bob'] })
  await api.createConversation(alice)
  const posted: PostedMessage = await api.postMessage(alice, conversation.id, { clientMessageId: 'job-1', content: 'hi' })
  const created: boolean = posted.created
  const messages: Message[] = (await api.listMessages(alice, conversation.id, { after: 0, limit: 10 })).items
  const page: { items: Conversation[], nextCursor: string | null } = await api.listConversations(alice, { limit: 5 })
  const bob: Participant = await api.addParticipant(alice, conversation.id, { userId: 'carol', name: 'Carol' })
  await api.removeParticipant(alice, conversation.id, bob.id)
  await api.getConversation(alice, conversation.id)
  await api.deleteConversation(alice, conversation.id)
  const closed: number = api.disconnect('bob', 4000, 'bye')
  api.disconnect('bob')
  const health: HealthReply = await api.health()
  const sockets: number = health.connections
  const limit: number = api.options.limits.maxMessageBytes
  const prefix: string = app.chat.options.prefix

  // @ts-expect-error seq is a number
  const seq: string = messages[0].seq
  // @ts-expect-error the services are internal: no storage on the public decorator
  void app.chat.storage
  // @ts-expect-error nor the conversation manager
  void app.chat.manager
  // @ts-expect-error nor the socket registry
  void app.chat.connections
  // @ts-expect-error the options are read-only
  app.chat.options.prefix = '/elsewhere'
  // @ts-expect-error their groups too
  app.chat.options.limits.maxMessageBytes = 1
  // @ts-expect-error a message needs its clientMessageId
  await api.postMessage(alice, conversation.id, { content: 'no id' })
  // @ts-expect-error the acting user has roles
  await api.getConversation({ id: 'alice', name: 'Alice' }, conversation.id)
  // @ts-expect-error unknown body keys are rejected
  await api.createConversation(alice, { titel: 'typo' })
  void seq
  void created
  void page
  void closed
  void sockets
  void limit
  void prefix
}

void options
void typo
void wrongSignal
void usesDecorator
