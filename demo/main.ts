/**
 * @module `npm start`: the demo server. DATABASE_URL when set, else an embedded Postgres under
 * .data/; media under MEDIA_ROOT (default media/), or in an S3 bucket with STORAGE=s3 and S3_BUCKET
 * (see `mediaStorage()` in ormconfig.ts); migrations and seeds on every start.
 */
import 'reflect-metadata'
import path from 'node:path'
import type { DataSource } from 'typeorm'
import { createDataSource, mediaStorage } from '../ormconfig'
import { storages } from '../src'
import { buildApp } from './app'
import { type EmbeddedDatabase, startEmbeddedPostgres } from './embedded-postgres'
import { seed } from './seed'

const root = path.resolve(__dirname, '..')

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000)
  const host = process.env.HOST ?? '127.0.0.1'
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number, not "${process.env.PORT}"`)
  // STORAGE=s3 and S3_* keep the media in a bucket instead of the local folder (ormconfig.ts).
  const media = mediaStorage()
  storages.register('default', media)
  console.log(`media storage: ${media.name}`)

  let embedded: EmbeddedDatabase | undefined
  let url = process.env.DATABASE_URL
  if (!url) {
    console.log('DATABASE_URL is not set: starting the embedded PostgreSQL in .data/postgres …')
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(root, '.data', 'postgres'),
      database: 'downloadview',
      port: Number(process.env.EMBEDDED_PG_PORT ?? 54329),
    })
    url = embedded.url
  }
  const dataSource = createDataSource(url)
  await dataSource.initialize()
  await migrateAndSeed(dataSource)

  const server = buildApp(dataSource).listen(port, host, () => {
    const address = server.address()
    const actual = typeof address === 'object' && address ? address.port : port
    console.log(`typeorm-downloadview demo listening on http://${host}:${actual}/`)
  })
  const shutdown = async () => {
    server.close()
    await dataSource.destroy()
    await embedded?.stop()
    process.exit(0)
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
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

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
