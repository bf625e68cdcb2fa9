/**
 * @module The ChangeListener's own connection: a `pg` Client (never one of the pool's: LISTEN is
 * session state, and a pooled session goes back to others) made with what TypeORM's Postgres driver
 * gives its pool, in both majors (0.3 and 1.x build it alike): `url` or host, port, username,
 * password and database (of `replication.master` when there is one: only a primary can LISTEN),
 * `ssl`, `connectTimeoutMS`, `applicationName`, then `extra` over them.
 */
import type { DataSource } from 'typeorm'
import { ConfigurationError } from '../errors'

/**
 * A `pg` ClientConfig, written out here so that the .d.ts files need no `@types/pg` (an app that
 * uses pg through TypeORM need not have it): the settings the listener sets, and any other the
 * `pg` Client takes.
 */
export interface ClientConfig {
  connectionString?: string
  host?: string
  port?: number
  user?: string
  password?: string | (() => string | Promise<string>)
  database?: string
  ssl?: unknown
  application_name?: string
  connectionTimeoutMillis?: number
  [setting: string]: unknown
}

/** The connection options of TypeORM's Postgres driver that a connection is made from (0.3 and 1.x alike). */
interface PostgresCredentials {
  url?: string
  host?: string
  port?: number
  username?: string
  password?: ClientConfig['password']
  database?: string
  ssl?: ClientConfig['ssl']
  applicationName?: string
}

interface PostgresOptions extends PostgresCredentials {
  type: string
  connectTimeoutMS?: number
  extra?: Record<string, unknown>
  replication?: { master: PostgresCredentials }
}

/** The part of a `pg` Client the listener uses. */
export interface ListenerClient {
  readonly processID?: number | null
  connect(): Promise<unknown>
  query(config: { text: string; query_timeout?: number }): Promise<unknown>
  end(): Promise<unknown>
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'end', listener: () => void): unknown
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown
  removeAllListeners(): unknown
}

/** What makes a ListenerClient: the `pg` module's Client, or the one the DataSource was given. */
export type ListenerClientClass = new (config: ClientConfig) => ListenerClient

/**
 * The config of the listener's connection to `dataSource`'s database (its primary).
 * `connectTimeout` (milliseconds) applies when neither `connectTimeoutMS` nor `extra` sets one: a
 * listener must never wait forever for a network that went silent.
 */
export function listenerClientConfig(dataSource: DataSource, connectTimeout: number): ClientConfig {
  const options = dataSource.options as unknown as PostgresOptions
  if (options.type !== 'postgres')
    throw new ConfigurationError(
      `ChangeListener: option "dataSource" must be a Postgres DataSource (LISTEN/NOTIFY), not "${options.type}"`,
    )
  const credentials = options.replication?.master ?? options
  const config: ClientConfig & Record<string, unknown> = {
    connectionString: credentials.url,
    host: credentials.host,
    user: credentials.username,
    password: credentials.password,
    database: credentials.database,
    port: credentials.port,
    ssl: credentials.ssl,
    connectionTimeoutMillis: options.connectTimeoutMS ?? connectTimeout,
    application_name: options.applicationName ?? credentials.applicationName,
    // A connection that only waits is the one a NAT or a firewall forgets first.
    keepAlive: true,
    ...options.extra,
  }
  // Undefined keys would override what `connectionString` says.
  for (const key of Object.keys(config)) if (config[key] === undefined) delete config[key]
  return config
}

/**
 * The Client class of the `pg` module TypeORM's driver loaded (the DataSource's `driver` option, or
 * `pg.native`), so the listener speaks to Postgres as the pool does; `pg`'s own otherwise.
 */
export function listenerClientClass(dataSource: DataSource): ListenerClientClass {
  const loaded = (dataSource.driver as { postgres?: { Client?: unknown } }).postgres?.Client
  if (typeof loaded === 'function') return loaded as ListenerClientClass
  // Loaded here, not at the top: an app that never listens (or is not on Postgres) never loads it.
  return (require('pg') as typeof import('pg')).Client as ListenerClientClass
}
