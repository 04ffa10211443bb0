import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/**
 * The example chat page: `public/index.html` at `/`, and its script, `public/chat.ts` with the typed client
 * (`lib/client`) bundled in, built with esbuild when the host starts and served as browser ESM at `/chat.js`
 * (with its source map at `/chat.js.map`). Nothing is written to disk.
 */

interface Asset {
  body: Buffer | Uint8Array
  type: string
  etag: string
}

const PUBLIC = new URL('./public/', import.meta.url)

function asset (body: Buffer | Uint8Array, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }
}

/** Bundles the page's entry: one ESM file for the browser, and its source map. */
async function bundle (): Promise<Map<string, Asset>> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('chat.ts', PUBLIC))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    outdir: fileURLToPath(PUBLIC), // names the outputs; write: false keeps them in memory
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'silent'
  })
  const assets = new Map<string, Asset>()
  for (const file of result.outputFiles) {
    const name = basename(file.path)
    assets.set(`/${name}`, asset(file.contents, name.endsWith('.map') ? 'application/json; charset=utf-8' : 'text/javascript; charset=utf-8'))
  }
  return assets
}

/** Built once per process (hosts in tests start many times); a restarted process builds the page afresh. */
let built: Promise<Map<string, Asset>> | undefined

export default async function page (fastify: FastifyInstance): Promise<void> {
  const bundled = built ??= bundle()
  bundled.catch(() => { built = undefined }) // a failed build is tried again by the next host
  const assets = new Map(await bundled)
  assets.set('/', asset(await readFile(new URL('index.html', PUBLIC)), 'text/html; charset=utf-8'))

  for (const [url, file] of assets) {
    fastify.get(url, async (request: FastifyRequest, reply: FastifyReply) => {
      // Revalidated on every load, so a restarted host with a changed page is picked up at once.
      reply.header('cache-control', 'no-cache').header('etag', file.etag).type(file.type)
      if (request.headers['if-none-match'] === file.etag) return await reply.code(304).send()
      return await reply.send(file.body)
    })
  }
}
