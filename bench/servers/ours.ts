/**
 * @module The bench's "ours": the demo app (demo/app.ts buildApp) on the bench database and media
 * root, plus bench-only routes: `/bench/x-accel/:slug/` (the same ObjectDownloadView with
 * X-Accel-Redirect, for nginx to complete), `/bench/scoped/:slug/` (with a per-request scope), and
 * the same three views with issue 15's caches on (a RowCache kept true by a ChangeListener, and a
 * ContentCache), under `/bench/cached/`, `/bench/x-accel-cached/` and `/bench/scoped-cached/`.
 * `/bench/cache-stats` tells the driver what the caches did. Started by bench/run.ts; not a public
 * entry point.
 *
 * Environment: BENCH_DATABASE_URL (required), MEDIA_ROOT (required), PORT (default: any free one),
 * BENCH_SOURCE_MAPS (a file to write the source maps of the loaded TypeScript modules to at exit,
 * for reading a `--cpu-prof` profile).
 * It tells its parent `{ ready: port }` over IPC, and exits through process.exit on SIGINT,
 * SIGTERM, or when the parent goes away, so a `--cpu-prof` profile is always written.
 */
import 'reflect-metadata'
import { writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { findSourceMap } from 'node:module'
import path from 'node:path'
import type { Express } from 'express'
import { Not } from 'typeorm'
import { buildApp, MEDIA_LOCATION, ROUTES } from '../../demo/app'
import { Document } from '../../entities/Document'
import { createDataSource } from '../../ormconfig'
import {
  LocalStorage,
  ObjectDownloadView,
  type ObjectDownloadViewOptions,
  storages,
  xAccelRedirect,
} from '../../src'
import { ChangeListener, ContentCache, RowCache } from '../../src/cache'
import { downloadErrorHandler, toHandler } from '../../src/express'

/** The bench-only route: ObjectDownloadView by slug, handed off to nginx. */
export const X_ACCEL_ROUTE = '/bench/x-accel/:slug/'
/** The bench-only route: the same view with a per-request scope (`where`), streamed by Node. */
export const SCOPED_ROUTE = '/bench/scoped/:slug/'
/** The demo's measured view (`/object/default-file/:slug/`) with the row cache and the content cache. */
export const CACHED_ROUTE = '/bench/cached/:slug/'
/** The X-Accel route's view with the row cache (nginx sends the bytes: no content cache). */
export const X_ACCEL_CACHED_ROUTE = '/bench/x-accel-cached/:slug/'
/** The scoped route's view with the row cache and the content cache. */
export const SCOPED_CACHED_ROUTE = '/bench/scoped-cached/:slug/'
/** What the caches and their listener did, as JSON (see {@link CacheReport}). */
export const CACHE_STATS_ROUTE = '/bench/cache-stats'

/** The answer of {@link CACHE_STATS_ROUTE}. */
export interface CacheReport {
  /** Whether the ChangeListener listens (the row cache serves only then). */
  listening: boolean
  listener: ChangeListener['stats']
  rows: RowCache['stats']
  content: ContentCache['stats'] & { maxFileSize: number }
  /** process.memoryUsage() of ours, in bytes. */
  memory: NodeJS.MemoryUsage
}

/**
 * Moves the layer of each `[twin, cached]` route of `app`'s router right after its twin's, so that
 * Express tries as many layers before the cached route as before the uncached one, plus one: the
 * demo's route stays the first layer, and the cached routes are not measured behind all the demo's.
 * (`app.router.stack` is the router's list of layers, in the order Express tries them.)
 */
function placeBeside(app: Express, pairs: readonly (readonly [twin: string, cached: string])[]): void {
  const stack = (app.router as unknown as { stack: { route?: { path?: string } }[] }).stack
  const at = (path: string) => {
    const index = stack.findIndex((layer) => layer.route?.path === path)
    if (index < 0) throw new Error(`no route ${path} in the app's router`)
    return index
  }
  for (const [twin, cached] of pairs) {
    const [layer] = stack.splice(at(cached), 1)
    if (layer) stack.splice(at(twin) + 1, 0, layer)
  }
}

/** Writes the source maps tsx made for our modules (not node_modules) to `file`: path → payload. */
function dumpSourceMaps(file: string): void {
  const maps: Record<string, unknown> = {}
  for (const loaded of Object.keys(require.cache)) {
    if (loaded.includes(`${path.sep}node_modules${path.sep}`)) continue
    const map = findSourceMap(loaded)
    if (map) maps[loaded] = map.payload
  }
  writeFileSync(file, JSON.stringify(maps))
}

async function main(): Promise<void> {
  const url = process.env.BENCH_DATABASE_URL
  const mediaRoot = process.env.MEDIA_ROOT
  if (!url) throw new Error('BENCH_DATABASE_URL must be set')
  if (!mediaRoot) throw new Error('MEDIA_ROOT must be set')
  storages.register('default', new LocalStorage({ root: mediaRoot }))
  const dataSource = createDataSource(url)
  await dataSource.initialize()
  // Issue 15's caches, as a user sets them up: one RowCache that a ChangeListener keeps true
  // through LISTEN/NOTIFY on the bench database, and one ContentCache for small files' bytes.
  const rows = new RowCache<Record<string, unknown>>()
  const smallFiles = new ContentCache()
  const changes = new ChangeListener({ dataSource, caches: [rows] })
  await changes.start()

  // The demo's routes as they are: /object/default-file/:slug/ is the measured one.
  const app = buildApp(dataSource)
  // Document.file by slug, as the demo's measured route, plus what each bench route adds.
  const documentView = (extra: Partial<ObjectDownloadViewOptions<Document>> = {}) =>
    toHandler(
      new ObjectDownloadView({ dataSource, entity: Document, lookup: 'slug', file: 'file', ...extra }),
    )
  const toNginx = () => xAccelRedirect({ rules: [{ storage: 'default', location: MEDIA_LOCATION }] })
  // One parameter per request, as `{ published: true }` would be; every bench row has a title.
  const scope = () => ({ title: Not('') })
  app.all(X_ACCEL_ROUTE, documentView({ handoff: toNginx() }))
  app.all(SCOPED_ROUTE, documentView({ where: scope }))
  // The same views with the caches on ("cache on"; the routes above are "cache off").
  app.all(CACHED_ROUTE, documentView({ cache: rows, contentCache: smallFiles }))
  app.all(X_ACCEL_CACHED_ROUTE, documentView({ handoff: toNginx(), cache: rows }))
  app.all(SCOPED_CACHED_ROUTE, documentView({ where: scope, cache: rows, contentCache: smallFiles }))
  placeBeside(app, [
    [ROUTES.defaultFile, CACHED_ROUTE],
    [X_ACCEL_ROUTE, X_ACCEL_CACHED_ROUTE],
    [SCOPED_ROUTE, SCOPED_CACHED_ROUTE],
  ])
  app.get(CACHE_STATS_ROUTE, (_req, res) => {
    const report: CacheReport = {
      listening: changes.listening,
      listener: changes.stats,
      rows: rows.stats,
      content: { ...smallFiles.stats, maxFileSize: smallFiles.maxFileSize },
      memory: process.memoryUsage(),
    }
    res.json(report)
  })
  app.use(downloadErrorHandler())

  const server: Server = await new Promise((resolve, reject) => {
    const listening = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', (error?: Error) =>
      error ? reject(error) : resolve(listening),
    )
  })

  let stopping = false
  const shutdown = () => {
    if (stopping) return
    stopping = true
    const exit = () => {
      const mapsFile = process.env.BENCH_SOURCE_MAPS
      if (mapsFile) dumpSourceMaps(mapsFile)
      process.exit(0)
    }
    // Never hang on the way out: the profile is written by process.exit.
    setTimeout(exit, 3000).unref()
    server.close()
    server.closeAllConnections()
    changes
      .close()
      .then(() => dataSource.destroy())
      .then(exit, exit)
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  process.once('disconnect', shutdown)

  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  if (process.send) process.send({ ready: port })
  else console.log(`ours listening on http://127.0.0.1:${port}/`)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
