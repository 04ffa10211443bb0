import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'

const config = loadConfig()
// Request lines leave the query string out: a browser's WebSocket carries its token there (access_token).
const app = await buildApp({
  config,
  logger: {
    level: process.env.LOG_LEVEL ?? 'info',
    serializers: {
      req: (req) => ({ method: req.method, url: req.url.split('?')[0], host: req.host, remoteAddress: req.ip })
    }
  }
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void app.close().then(() => process.exit(0)) })
}
await app.listen({ port: config.port, host: config.host })
