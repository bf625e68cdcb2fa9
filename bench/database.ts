/**
 * @module The bench's own database, so the demo's data is never touched: a separate database
 * (`downloadview_bench`) on the server at DATABASE_URL, or else the embedded Postgres that
 * `npm start` uses, with its own data folder (.data/bench-postgres).
 */
import path from 'node:path'
import { Client } from 'pg'
import { startEmbeddedPostgres } from '../demo/embedded-postgres'
import { freePort, onCleanup, ROOT } from './processes'

/** The database the bench seeds and "ours" reads. */
export interface BenchDatabase {
  url: string
  /** For the report: where it is, without credentials. */
  description: string
}

/** The bench database's name: BENCH_DATABASE, else `downloadview_bench`. */
export function benchDatabaseName(env: NodeJS.ProcessEnv = process.env): string {
  const name = env.BENCH_DATABASE ?? 'downloadview_bench'
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name))
    throw new Error(`BENCH_DATABASE must be a plain lower-case Postgres name, not "${name}"`)
  return name
}

/**
 * Opens the bench database: creates `name` on the server at DATABASE_URL when it is missing, or
 * starts the embedded Postgres (stopped again at cleanup).
 */
export async function openBenchDatabase(name = benchDatabaseName()): Promise<BenchDatabase> {
  const serverUrl = process.env.DATABASE_URL
  if (serverUrl) {
    const admin = new Client({ connectionString: serverUrl })
    await admin.connect()
    try {
      const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
      // The name is checked above: safe to put in the statement.
      if (found.rowCount === 0) await admin.query(`CREATE DATABASE "${name}"`)
    } finally {
      await admin.end()
    }
    const url = new URL(serverUrl)
    url.pathname = `/${name}`
    return { url: url.toString(), description: `${url.hostname}:${url.port || 5432}/${name} (DATABASE_URL)` }
  }
  const dataDir = path.join(ROOT, '.data', 'bench-postgres')
  console.log(
    `DATABASE_URL is not set: starting the embedded PostgreSQL in ${path.relative(ROOT, dataDir)}/ …`,
  )
  const embedded = await startEmbeddedPostgres({ dataDir, database: name, port: await freePort() })
  onCleanup(async () => {
    // A Ctrl-C reaches Postgres too; stop() would then wait for an exit that already happened.
    await Promise.race([embedded.stop(), new Promise((resolve) => setTimeout(resolve, 10_000).unref())])
  })
  const url = new URL(embedded.url)
  return { url: embedded.url, description: `embedded PostgreSQL 127.0.0.1:${url.port}/${name}` }
}
