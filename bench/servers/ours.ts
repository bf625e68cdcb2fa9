/**
 * @module The bench's "ours": the demo app (demo/app.ts buildApp) on the bench database and media
 * root, plus one bench-only route, `/bench/x-accel/:slug/`: the same ObjectDownloadView with
 * X-Accel-Redirect, for nginx to complete. Started by bench/run.ts; not a public entry point.
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
import { Not } from 'typeorm'
import { buildApp, MEDIA_LOCATION } from '../../demo/app'
import { Document } from '../../entities/Document'
import { createDataSource } from '../../ormconfig'
import { LocalStorage, ObjectDownloadView, storages, xAccelRedirect } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'

/** The bench-only route: ObjectDownloadView by slug, handed off to nginx. */
export const X_ACCEL_ROUTE = '/bench/x-accel/:slug/'
/** The bench-only route: the same view with a per-request scope (`where`), streamed by Node. */
export const SCOPED_ROUTE = '/bench/scoped/:slug/'

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

  // The demo's routes as they are: /object/default-file/:slug/ is the measured one.
  const app = buildApp(dataSource)
  app.all(
    X_ACCEL_ROUTE,
    toHandler(
      new ObjectDownloadView({
        dataSource,
        entity: Document,
        lookup: 'slug',
        file: 'file',
        handoff: xAccelRedirect({ rules: [{ storage: 'default', location: MEDIA_LOCATION }] }),
      }),
    ),
  )
  app.all(
    SCOPED_ROUTE,
    toHandler(
      new ObjectDownloadView({
        dataSource,
        entity: Document,
        lookup: 'slug',
        file: 'file',
        // One parameter per request, as `{ published: true }` would be; every bench row has a title.
        where: () => ({ title: Not('') }),
      }),
    ),
  )
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
    dataSource.destroy().then(exit, exit)
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
