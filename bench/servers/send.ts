/**
 * @module The bench's "send": the baseline a Node user would pick, a plain Express 5 app that
 * serves the bench media root from disk with `send` (no database). `/<key>` uses send's defaults;
 * `/big-chunks/<key>` is the same with 1 MiB reads (`highWaterMark`), an informational column.
 *
 * Environment: MEDIA_ROOT (required), PORT (default: any free one). Tells its parent
 * `{ ready: port }` over IPC; exits on SIGINT, SIGTERM, or when the parent goes away.
 */
import type { Server } from 'node:http'
import express, { type RequestHandler } from 'express'
import send from 'send'

/** Where the 1 MiB-read variant is mounted. */
export const BIG_CHUNKS_PREFIX = '/big-chunks'

/** send(req, path, { root }) piped to the response, as serve-static does; errors go to Express. */
function serve(root: string, extra: send.SendOptions = {}): RequestHandler {
  return (req, res, next) => {
    send(req, req.path, { root, ...extra })
      .on('error', next)
      .pipe(res)
  }
}

async function main(): Promise<void> {
  const root = process.env.MEDIA_ROOT
  if (!root) throw new Error('MEDIA_ROOT must be set')
  const app = express()
  app.disable('x-powered-by')
  // highWaterMark is passed on to fs.createReadStream: 1 MiB reads instead of 64 KiB.
  app.use(BIG_CHUNKS_PREFIX, serve(root, { highWaterMark: 1024 * 1024 } as send.SendOptions))
  app.use(serve(root))

  const server: Server = await new Promise((resolve, reject) => {
    const listening = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', (error?: Error) =>
      error ? reject(error) : resolve(listening),
    )
  })
  const shutdown = () => {
    server.close()
    server.closeAllConnections()
    process.exit(0)
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  process.once('disconnect', shutdown)

  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  if (process.send) process.send({ ready: port })
  else console.log(`send listening on http://127.0.0.1:${port}/`)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
