/**
 * @module `npm start`: the demo server. DATABASE_URL when set, else an embedded Postgres with its
 * data in EMBEDDED_PG_DATA_DIR (default .data/postgres) on EMBEDDED_PG_PORT (default 54329); media
 * under MEDIA_ROOT (default media/), or in an S3 bucket with STORAGE=s3 and S3_BUCKET (see
 * `mediaStorage()` in ormconfig.ts); migrations and seeds on every start.
 *
 * SIGINT (Ctrl-C) and SIGTERM, also while it starts, stop it: the step under way ends (the embedded
 * Postgres starting, the migrations), then the HTTP server closes with all its connections, the
 * DataSource is destroyed, the embedded Postgres shuts down, and the process exits with status 0,
 * since this is the way to stop the demo and npm reports any other status as a failure. A second
 * signal (a second Ctrl-C, a second or more after the first) exits at once with 128 + its number
 * (130, 143), and a shutdown that takes over 10 s with 1; both give the embedded Postgres an
 * immediate shutdown first, so that no postgres process stays behind.
 */
import 'reflect-metadata'
import { once } from 'node:events'
import type { Server } from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type { DataSource } from 'typeorm'
import { createDataSource, mediaStorage } from '../ormconfig'
import { storages } from '../src'
import { buildApp } from './app'
import { DownloadAudit } from './download-audit'
import { type EmbeddedDatabase, startEmbeddedPostgres } from './embedded-postgres'
import { seed } from './seed'

const root = path.resolve(__dirname, '..')

/** How long a shutdown may take before the process exits anyway. */
const SHUTDOWN_TIMEOUT = 10_000

/**
 * Under `npm start` one Ctrl-C arrives twice: the terminal signals its whole foreground process
 * group, and npm forwards the SIGINT it got to its script. A signal this soon after the first is
 * that echo, not a second signal.
 */
const SIGNAL_ECHO = 1_000

/** What main() has started so far, for close() to stop. */
const running: {
  server?: Server
  dataSource?: DataSource
  embedded?: EmbeddedDatabase
  audit?: DownloadAudit
} = {}

/** Aborted when the shutdown begins: main() starts nothing more. */
const stopping = new AbortController()

/** When the shutdown began (Date.now()), once it has. */
let stoppingSince: number | undefined

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000)
  const host = process.env.HOST ?? '127.0.0.1'
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number, not "${process.env.PORT}"`)
  // STORAGE=s3 and S3_* keep the media in a bucket instead of the local folder (ormconfig.ts).
  const media = mediaStorage()
  storages.register('default', media)
  console.log(`media storage: ${media.name}`)

  let url = process.env.DATABASE_URL
  if (!url) {
    // EMBEDDED_PG_DATA_DIR: another cluster than the repository's, e.g. a test's temporary one.
    const dataDir = process.env.EMBEDDED_PG_DATA_DIR || '.data/postgres'
    console.log(`DATABASE_URL is not set: starting the embedded PostgreSQL in ${dataDir} …`)
    running.embedded = await startEmbeddedPostgres({
      dataDir: path.resolve(root, dataDir),
      database: 'downloadview',
      port: Number(process.env.EMBEDDED_PG_PORT ?? 54329),
      signal: stopping.signal,
      exitOnSignal: false, // onSignal() below shuts down in order
    })
    url = running.embedded.url
  }
  stopping.signal.throwIfAborted()
  const dataSource = createDataSource(url)
  running.dataSource = dataSource
  await dataSource.initialize()
  stopping.signal.throwIfAborted()
  await migrateAndSeed(dataSource)
  stopping.signal.throwIfAborted()

  running.audit = new DownloadAudit(dataSource)
  const server = buildApp(dataSource, { audit: running.audit }).listen(port, host)
  running.server = server
  await once(server, 'listening')
  const address = server.address()
  const actual = typeof address === 'object' && address ? address.port : port
  console.log(`typeorm-downloadview demo listening on http://${host}:${actual}/`)
}

/** SIGINT and SIGTERM: the first one shuts down; a real second one (not npm's echo) exits now. */
function onSignal(signal: NodeJS.Signals): void {
  if (stoppingSince === undefined) {
    console.log(`${signal}: shutting down the demo (send it again to exit at once)`)
    void shutdown(0)
  } else if (Date.now() - stoppingSince >= SIGNAL_ECHO) {
    exitNow(`${signal} again: exiting without waiting for the shutdown`, 128 + os.constants.signals[signal])
  }
}

/**
 * Lets the step under way in main() end (it starts nothing more), stops what it started, and exits
 * with `status`; with 1 after SHUTDOWN_TIMEOUT at the latest.
 */
async function shutdown(status: number): Promise<void> {
  if (stoppingSince !== undefined) return
  stoppingSince = Date.now()
  stopping.abort()
  setTimeout(() => exitNow(`The shutdown took over ${SHUTDOWN_TIMEOUT} ms: exiting now`, 1), SHUTDOWN_TIMEOUT)
  await startup.catch(() => undefined)
  try {
    await close()
  } catch (error) {
    console.error(error)
    exitNow('The shutdown failed: exiting now', 1)
  }
  process.exit(status)
}

/** Stops what main() started, last started first. */
async function close(): Promise<void> {
  const { server, dataSource, embedded, audit } = running
  try {
    if (server?.listening) {
      const closed = new Promise((resolve) => server.close(resolve))
      // Keep-alive connections, and responses still sending, would hold close() up.
      server.closeAllConnections()
      await closed
    }
    // The download events still queued, for two seconds at most: a database that hangs loses them.
    if (audit)
      await Promise.race([audit.flush(), new Promise((resolve) => setTimeout(resolve, 2000).unref())])
    if (dataSource?.isInitialized) await dataSource.destroy()
  } finally {
    await embedded?.stop()
  }
}

/** Exits now with `status`, after an immediate shutdown of the embedded Postgres. */
function exitNow(message: string, status: number): never {
  console.error(message)
  // A Postgres still starting is not in `running` yet: embedded-postgres's exit hook sends it a
  // fast shutdown when the process exits.
  running.embedded?.kill()
  process.exit(status)
}

/** Any 64-bit number names a Postgres advisory lock; this one is the demo's "migrate and seed" lock. */
const SETUP_LOCK = 7_146_937_201

/**
 * Runs the migrations and the seed under a Postgres advisory lock, so that several instances
 * started at once (docs/scale-out.md) take turns: the first migrates and seeds, the others find
 * the work done. Without it, two instances racing on an empty database fail on duplicate types
 * and slugs.
 */
async function migrateAndSeed(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner()
  await runner.connect()
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [SETUP_LOCK])
    try {
      await dataSource.runMigrations()
      await seed(dataSource)
    } finally {
      // A broken connection has released the lock with its session; its error must not hide the
      // migration's own.
      await runner.query('SELECT pg_advisory_unlock($1)', [SETUP_LOCK]).catch(() => undefined)
    }
  } finally {
    await runner.release()
  }
}

process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)
const startup = main()
startup.catch((error: unknown) => {
  // After a signal, shutdown() waits for main() and exits; a failed start stops what it started.
  if (stoppingSince !== undefined) return
  console.error(error)
  void shutdown(1)
})
