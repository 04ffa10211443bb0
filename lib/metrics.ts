import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface ChatMetrics {
  readonly registry: Registry
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
 * Prometheus metrics, on the host's prom-client registry when it gives one (`metrics.registry`: the chat's
 * series beside its own, on its /metrics), else on a registry of the plugin's own (never the global one, so
 * two apps in one process do not collide). Node's process metrics only when asked (`metrics.processMetrics`):
 * a host usually collects them already. `gauges` are read at scrape time.
 */
export function createMetrics (
  gauges: { conversations: () => number, channels: () => number },
  opts: { registry?: Registry, processMetrics?: boolean } = {}
): ChatMetrics {
  const registry = opts.registry ?? new Registry()
  if (opts.processMetrics === true) collectDefaultMetrics({ register: registry })
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
  return {
    registry,
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
}
