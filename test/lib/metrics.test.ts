import { Counter, Registry } from 'prom-client'
import t from 'tap'
import { createConversation, startApp } from '../helpers/app.ts'

t.test('the chat\'s metrics go on the host\'s prom-client registry when it passes one, beside its own', async (t) => {
  const registry = new Registry()
  new Counter({ name: 'host_requests_total', help: 'the host\'s own', registers: [registry] }).inc()
  const ta = await startApp(t, { metrics: { registry } })
  const conv = await createConversation(ta, 'alice')
  const alice = await ta.connect('alice')
  await alice.call({ type: 'send', conversationId: conv.id, clientMessageId: 'm1', content: 'hello' })
  const text = await registry.metrics()
  t.match(text, /chat_messages_total\{kind="text"\} 1/, 'the send is counted on the host\'s registry')
  t.match(text, /host_requests_total/, 'the host\'s own series are still there')
  t.notMatch(text, /process_cpu|nodejs_/, 'no process metrics unless asked')
  t.match((await ta.app.inject({ method: 'GET', url: '/chat/metrics' })).body, /chat_messages_total\{kind="text"\} 1/, '/chat/metrics serves the same series')
})

t.test('process metrics only when asked, without a chat_ prefix that would double the host\'s', async (t) => {
  const off = await startApp(t)
  t.notMatch((await off.app.inject({ method: 'GET', url: '/chat/metrics' })).body, /process_cpu|chat_process_/, 'off by default')
  const on = await startApp(t, { metrics: { processMetrics: true } })
  t.match((await on.app.inject({ method: 'GET', url: '/chat/metrics' })).body, /^process_cpu_user_seconds_total/m, 'on when asked')
})

t.test('metrics.registry must be a prom-client Registry', async (t) => {
  await t.rejects(startApp(t, { metrics: { registry: {} as Registry } }), { code: 'CHAT_ERR_INVALID_OPTS', message: /metrics\.registry/ })
})

t.test('an app rebuilt on the same host registry registers the chat\'s metrics again; two at once is a clear option error', async (t) => {
  const registry = new Registry()
  const first = await startApp(t, { metrics: { registry } })
  await t.rejects(startApp(t, { metrics: { registry } }), { code: 'CHAT_ERR_INVALID_OPTS', message: /chat_connections/ })
  await first.app.close()
  t.notMatch(await registry.metrics(), /chat_connections/, 'taken off when the app closed')
  const second = await startApp(t, { metrics: { registry } })
  const alice = await second.connect('alice')
  t.ok(alice)
  t.match(await registry.metrics(), /chat_connections 1/, 'the rebuilt app counts on the same registry')
})

t.test('/chat/metrics serves the chat\'s series only, not the rest of a host registry', async (t) => {
  const registry = new Registry()
  new Counter({ name: 'host_secret_total', help: 'the host\'s own', registers: [registry] }).inc()
  const ta = await startApp(t, { metrics: { registry } })
  const text = (await ta.app.inject({ method: 'GET', url: '/chat/metrics' })).body
  t.match(text, /chat_connections/)
  t.notMatch(text, /host_secret_total/)
})
