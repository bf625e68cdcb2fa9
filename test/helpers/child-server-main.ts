/**
 * A small download server run as a child process by the reliability tests (`node --import tsx`),
 * so that they can read its memory and descriptors from /proc and see whether it survives:
 * ObjectDownloadView over real Postgres on plain node:http, `GET /d/<slug>` serving Document.file,
 * and `GET /stats`: the bytes queued in its sockets, its connections and `process.memoryUsage()`.
 *
 * Environment: DATABASE_URL, MEDIA_ROOT (the default storage's root), and optionally
 * DB_POOL_SIZE, DB_CONNECT_TIMEOUT_MS and DB_QUERY_TIMEOUT_MS for the DataSource. It prints
 * `listening <port>` once ready. View failures go to stderr as `[view] …` lines, anything the view
 * rethrew as `[unexpected] …` (answered 500); an uncaught error ends the process, as it would in
 * an app.
 */
import 'reflect-metadata'
import http from 'node:http'
import type { Socket } from 'node:net'
import { DataSource } from 'typeorm'
import { Document } from '../../entities/Document'
import { LocalStorage, ObjectDownloadView, storages } from '../../src'
import { serve } from '../../src/node/serve'
import { CHILD_APPLICATION_NAME } from './child-server'

function required(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

function optionalInteger(name: string): number | undefined {
  const value = process.env[name]
  return value ? Number(value) : undefined
}

const describeError = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)

async function main(): Promise<void> {
  storages.register('default', new LocalStorage({ root: required('MEDIA_ROOT') }))
  const queryTimeout = optionalInteger('DB_QUERY_TIMEOUT_MS')
  const dataSource = new DataSource({
    type: 'postgres',
    url: required('DATABASE_URL'),
    applicationName: CHILD_APPLICATION_NAME,
    entities: [Document],
    poolSize: optionalInteger('DB_POOL_SIZE'),
    connectTimeoutMS: optionalInteger('DB_CONNECT_TIMEOUT_MS'),
    extra: queryTimeout === undefined ? {} : { query_timeout: queryTimeout },
  })
  const view = new ObjectDownloadView({
    dataSource,
    entity: Document,
    lookup: 'slug',
    file: 'file',
    logger: {
      error: (message, error) => process.stderr.write(`[view] ${message}: ${describeError(error)}\n`),
    },
  })
  const server = http.createServer((req, res) => {
    if (req.url === '/stats') {
      // What the server holds for its clients: bytes written to sockets that the kernel has not taken.
      let queuedBytes = 0
      for (const socket of sockets) queuedBytes += socket.writableLength
      const body = JSON.stringify({ queuedBytes, connections: sockets.size, ...process.memoryUsage() })
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
      res.end(body)
      return
    }
    const match = /^\/d\/([^/?]+)$/.exec(req.url ?? '')
    if (!match?.[1]) {
      res.writeHead(404, { 'Content-Length': '0' }).end()
      return
    }
    serve(view, req, res, { slug: decodeURIComponent(match[1]) }).catch((error: unknown) => {
      process.stderr.write(`[unexpected] ${describeError(error)}\n`)
      if (res.headersSent) res.destroy()
      else res.writeHead(500, { 'Content-Length': '0' }).end()
    })
  })
  const sockets = new Set<Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await dataSource.initialize()
  server.listen(0, '127.0.0.1', () => {
    const address = server.address()
    process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`)
  })
  process.once('SIGTERM', () => {
    server.closeAllConnections()
    server.close()
    dataSource.destroy().finally(() => process.exit(0))
  })
}

main().catch((error: unknown) => {
  process.stderr.write(`[startup] ${describeError(error)}\n`)
  process.exit(1)
})
