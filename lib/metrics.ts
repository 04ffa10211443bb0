import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import { CHAT_ERR_INVALID_OPTS } from './errors.ts'

export interface ChatMetrics {
  /** The chat's own series (and process metrics when asked without a host registry): what /metrics serves. */
  readonly registry: Registry
  /** Takes the chat's series off the host's registry (the plugin is closing). */
  detach (): void
  readonly messages: Counter<'kind'>
  readonly duplicates: Counter
  readonly errors: Counter<'code' | 'transport'>
  readonly storeSeconds: Histogram
  readonly connections: Gauge
  readonly aiAnswers: Counter<'status'>
  readonly aiFirstChunkSeconds: Histogram
  readonly aiShed: Counter
}

/**
 * Prometheus metrics on a registry of the plugin's own (never the global one, so two apps in one process do
 * not collide), served at /metrics. When the host gives its prom-client registry (`metrics.registry`), the
 * chat's series are registered there too, beside its own, and taken off again when the plugin closes (an app
 * rebuilt on the same registry, as tests do, registers them again); the chat's /metrics still serves only the
 * chat's. Node's process metrics only when asked (`metrics.processMetrics`), on the host's registry when it
 * has none yet. `gauges` are read at scrape time.
 */
export function createMetrics (
  gauges: { conversations: () => number, channels: () => number },
  opts: { registry?: Registry, processMetrics?: boolean } = {}
): ChatMetrics {
  const registry = new Registry()
  const host = opts.registry
  if (opts.processMetrics === true) {
    const target = host ?? registry
    if (target.getSingleMetric('process_cpu_user_seconds_total') === undefined) collectDefaultMetrics({ register: target })
  }
  const connections = new Gauge({ name: 'chat_connections', help: 'Open chat sockets', registers: [registry] })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'chat_cached_conversations',
    help: 'Conversations held in the cache',
    registers: [registry],
    collect () { this.set(gauges.conversations()) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'chat_live_conversations',
    help: 'Conversations with subscribed sockets or messages in flight',
    registers: [registry],
    collect () { this.set(gauges.channels()) }
  })
  /** The chat's own series (not process metrics), as registered objects. */
  function chatMetrics (): Array<Metric & { name: string }> {
    return registry.getMetricsAsArray()
      .filter((m) => m.name.startsWith('chat_'))
      .map((m) => registry.getSingleMetric(m.name) as Metric & { name: string })
  }
  const metrics: ChatMetrics = {
    registry,
    detach () {
      if (host === undefined) return
      for (const m of chatMetrics()) {
        if (host.getSingleMetric(m.name) === m) host.removeSingleMetric(m.name)
      }
    },
    connections,
    messages: new Counter({ name: 'chat_messages_total', help: 'Messages stored', labelNames: ['kind'], registers: [registry] }),
    duplicates: new Counter({ name: 'chat_duplicate_sends_total', help: 'Sends answered from dedupe', registers: [registry] }),
    errors: new Counter({ name: 'chat_errors_total', help: 'Errors returned to clients', labelNames: ['code', 'transport'], registers: [registry] }),
    storeSeconds: new Histogram({
      name: 'chat_store_seconds',
      help: 'Time to store one message',
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      registers: [registry]
    }),
    aiShed: new Counter({ name: 'chat_ai_shed_total', help: 'Agents whose answers were stopped because their conversation was overloaded', registers: [registry] }),
    aiAnswers: new Counter({ name: 'chat_ai_answers_total', help: 'AI answers by final status', labelNames: ['status'], registers: [registry] }),
    aiFirstChunkSeconds: new Histogram({
      name: 'chat_ai_first_chunk_seconds',
      help: 'From the question to the first streamed chunk',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry]
    })
  }
  if (host !== undefined) {
    const chat = chatMetrics()
    const taken = chat.find((m) => host.getSingleMetric(m.name) !== undefined)
    if (taken !== undefined) {
      throw new CHAT_ERR_INVALID_OPTS(`"metrics.registry" already has ${taken.name}: is the chat registered twice on it, or an app using it not closed?`)
    }
    for (const m of chat) host.registerMetric(m)
  }
  return metrics
}
