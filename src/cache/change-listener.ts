/**
 * @module ChangeListener: one Postgres connection per process that LISTENs for change
 * notifications and drops the cache entries they name. While it is not listening (lost, not yet
 * connected, closed), its caches serve nothing: a change it did not hear cannot be served stale.
 */
import { EventEmitter } from 'node:events'
import type { DataSource } from 'typeorm'
import { ConfigurationError } from '../errors'
import { type Logger, stderrLogger, warn } from '../logger'
import { rejectUnknownOptions } from '../options'
import { type Change, checkChannel, DEFAULT_CHANNEL, parseChangePayload } from './change-payload'
import {
  type ClientConfig,
  type ListenerClient,
  type ListenerClientClass,
  listenerClientClass,
  listenerClientConfig,
} from './listener-connection'
import { quoteIdentifier } from './pg-quote'

/** What a ChangeListener keeps true: a RowCache, or anything that forgets the same way. */
export interface ChangeTarget {
  /** Row `id` of `table` changed. */
  invalidate(table: string, id: string): unknown
  /** Any row of `table` may have changed. */
  invalidateTable(table: string): unknown
  /** Anything may have changed (a notification that cannot be read). */
  clear(): unknown
  /** The channel is down: serve nothing, store nothing, forget everything. */
  suspend(): void
  /** The channel is up: forget everything (what changed meanwhile was not heard), then serve. */
  resume(): void
  /** Told which listener keeps it (a RowCache refuses a second one). */
  bindListener?(owner: object, dataSource: DataSource): void
  /** Told that listener let it go. */
  unbindListener?(owner: object): void
}

/** Where a ChangeListener listens, and how it reconnects. */
export interface ChangeListenerOptions {
  /** The Postgres DataSource whose connection options the listener's own connection copies. */
  dataSource: DataSource
  /**
   * The caches to keep true; more with `add()`.
   * @default []
   */
  caches?: ChangeTarget[]
  /**
   * The channel to LISTEN on: the one notifyChange() and the trigger notify.
   * @default 'typeorm_downloadview_changes'
   */
  channel?: string
  /**
   * Where a lost connection and its recovery are reported (one line per outage, not per attempt).
   * @default stderrLogger
   */
  logger?: Logger
  /**
   * The wait before the first reconnection attempt, in milliseconds; it doubles after each failed
   * attempt, up to `maxReconnectDelay` (each wait between half and all of that, so that instances
   * that lost the database together do not come back together).
   * @default 100
   */
  reconnectDelay?: number
  /**
   * The longest wait between reconnection attempts, in milliseconds.
   * @default 5000
   */
  maxReconnectDelay?: number
  /**
   * How often the connection is checked with `SELECT 1`, in milliseconds; `0` never. A network
   * that goes silent (no reset, no FIN) is noticed only this way: within `heartbeatInterval +
   * heartbeatTimeout`, during which a change may be missed.
   * @default 5000
   */
  heartbeatInterval?: number
  /**
   * How long the check may take before the connection counts as lost, in milliseconds.
   * @default 5000
   */
  heartbeatTimeout?: number
  /**
   * How long connecting may take, in milliseconds, when the DataSource sets no
   * `connectTimeoutMS` (nor `extra.connectionTimeoutMillis`).
   * @default 5000
   */
  connectTimeout?: number
  /**
   * The listener's own connection settings (a `pg` ClientConfig), instead of the DataSource's: for
   * a DataSource that reaches Postgres through PgBouncer in transaction or statement mode, where
   * LISTEN does not work (the session is lent to others between statements), give the address of
   * Postgres itself (or of a PgBouncer pool in session mode).
   * @default made from the DataSource's connection options
   */
  connection?: ClientConfig
}

/** The events of a ChangeListener. It never emits `error`: errors go to its logger. */
export interface ChangeListenerEvents {
  /** Listening (again); its caches serve from now on. */
  listening: []
  /** The connection was lost; its caches stopped serving before this was emitted. */
  lost: [error: Error | undefined]
  /** A notification was handled: the change, or `undefined` for a payload that is not one (caches cleared). */
  change: [change: Change | undefined]
}

/** What a ChangeListener has done since it started. */
export interface ChangeListenerStats {
  /** Notifications handled. */
  notifications: number
  /** Connections lost while listening. */
  losses: number
  /** Times it started listening (the first time included). */
  connections: number
}

type State = 'idle' | 'connecting' | 'listening' | 'waiting' | 'closed'

const OPTIONS = [
  'dataSource',
  'caches',
  'channel',
  'logger',
  'reconnectDelay',
  'maxReconnectDelay',
  'heartbeatInterval',
  'heartbeatTimeout',
  'connectTimeout',
  'connection',
]
/** How long close() waits for Postgres to acknowledge the end of the session before cutting it. */
const END_TIMEOUT_MS = 1000

/**
 * Listens for change notifications on a dedicated connection (a `pg` Client made from the
 * DataSource's options, never a pooled one) and invalidates its caches. When the connection fails
 * or ends, its caches stop serving at once (and forget everything); it reconnects with a doubling,
 * bounded delay, LISTENs again, and only then lets them serve. Errors never escape: they are
 * logged, and the listener keeps trying until `close()`.
 *
 * @example
 * const cache = new RowCache()
 * const listener = new ChangeListener({ dataSource, caches: [cache] })
 * await listener.start()
 * // ... at shutdown
 * await listener.close()
 */
export class ChangeListener extends EventEmitter<ChangeListenerEvents> {
  readonly channel: string
  private readonly dataSource: DataSource
  private readonly caches = new Set<ChangeTarget>()
  private readonly logger: Logger
  private readonly reconnectDelay: number
  private readonly maxReconnectDelay: number
  private readonly heartbeatInterval: number
  private readonly heartbeatTimeout: number
  private readonly connectTimeout: number
  private readonly connection: ClientConfig | undefined
  private state: State = 'idle'
  private client: ListenerClient | undefined
  /** Failed attempts since the connection was last listening. */
  private attempts = 0
  /** When the outage began (performance.now()), for the recovery line. */
  private outageSince: number | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private heartbeatTimer: NodeJS.Timeout | undefined
  private readonly started: Promise<void>
  private settleStarted: () => void = () => {}
  private readonly counters: ChangeListenerStats = { notifications: 0, losses: 0, connections: 0 }

  constructor(options: ChangeListenerOptions) {
    super()
    const owner = 'ChangeListener'
    if (typeof options !== 'object' || options === null)
      throw new ConfigurationError(`${owner}: options must be an object with a "dataSource"`)
    rejectUnknownOptions(options, OPTIONS, owner)
    const { dataSource } = options
    if (typeof dataSource?.options !== 'object' || dataSource.options === null)
      throw new ConfigurationError(`${owner}: option "dataSource" must be a TypeORM DataSource`)
    this.dataSource = dataSource
    if (
      options.connection !== undefined &&
      (typeof options.connection !== 'object' || options.connection === null)
    )
      throw new ConfigurationError(`${owner}: option "connection" must be a pg ClientConfig object`)
    this.connection = options.connection
    // Checked now: a MySQL DataSource is a configuration error at startup, not a log line later.
    if (!this.connection) listenerClientConfig(dataSource, 0)
    this.channel = checkChannel(options.channel ?? DEFAULT_CHANNEL, owner)
    this.logger = options.logger ?? stderrLogger
    this.reconnectDelay = milliseconds(options.reconnectDelay, 100, 'reconnectDelay', 1)
    this.maxReconnectDelay = milliseconds(options.maxReconnectDelay, 5000, 'maxReconnectDelay', 1)
    if (this.maxReconnectDelay < this.reconnectDelay)
      throw new ConfigurationError(
        `${owner}: option "maxReconnectDelay" (${this.maxReconnectDelay}) must not be less than "reconnectDelay" (${this.reconnectDelay})`,
      )
    this.heartbeatInterval = milliseconds(options.heartbeatInterval, 5000, 'heartbeatInterval', 0)
    this.heartbeatTimeout = milliseconds(options.heartbeatTimeout, 5000, 'heartbeatTimeout', 1)
    this.connectTimeout = milliseconds(options.connectTimeout, 5000, 'connectTimeout', 1)
    if (options.caches !== undefined && !Array.isArray(options.caches))
      throw new ConfigurationError(`${owner}: option "caches" must be an array of RowCaches`)
    for (const cache of options.caches ?? []) this.add(cache)
    this.started = new Promise((resolve) => {
      this.settleStarted = resolve
    })
  }

  /** Whether it is listening now (its caches serve). */
  get listening(): boolean {
    return this.state === 'listening'
  }

  /** The process id of its Postgres session while connected (`pg_terminate_backend()` takes it). */
  get backendPid(): number | undefined {
    return this.client?.processID ?? undefined
  }

  /** What it has done since it started. */
  get stats(): ChangeListenerStats {
    return { ...this.counters }
  }

  /**
   * Keeps `cache` true from now on: it serves only while the listener listens. Returns a function
   * that stops that (and suspends the cache, which nothing invalidates any more). A RowCache that
   * another listener keeps is a ConfigurationError.
   */
  add(cache: ChangeTarget): () => void {
    cache.bindListener?.(this, this.dataSource)
    this.caches.add(cache)
    if (this.state === 'listening') cache.resume()
    else cache.suspend()
    return () => {
      this.caches.delete(cache)
      cache.suspend()
      cache.unbindListener?.(this)
    }
  }

  /**
   * Connects and LISTENs. Resolves once it listens, which may be after retries (the caches serve
   * nothing until then, and requests go to the database), or when `close()` is called first.
   */
  start(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new Error('ChangeListener: start() after close()'))
    if (this.state === 'idle') void this.connect()
    return this.started
  }

  /**
   * Stops listening for good: its caches stop serving, no reconnection is attempted, and no timer
   * or socket is left behind. Waits at most a second for Postgres to end the session.
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.clearTimers()
    const client = this.client
    this.client = undefined
    for (const cache of this.caches) this.guard('suspend a cache', () => cache.suspend())
    this.settleStarted()
    if (client) await endClient(client, END_TIMEOUT_MS)
  }

  private async connect(): Promise<void> {
    if (this.state === 'closed') return
    this.state = 'connecting'
    let client: ListenerClient
    try {
      const Client: ListenerClientClass = listenerClientClass(this.dataSource)
      client = new Client(
        this.connection
          ? { connectionTimeoutMillis: this.connectTimeout, keepAlive: true, ...this.connection }
          : listenerClientConfig(this.dataSource, this.connectTimeout),
      )
    } catch (error) {
      this.failed(undefined, error)
      return
    }
    this.client = client
    client.on('error', (error) => this.failed(client, error))
    client.on('end', () => this.failed(client, undefined))
    client.on('notification', (message) => this.notified(client, message))
    try {
      await client.connect()
      if (this.client !== client) return
      await client.query({ text: `LISTEN ${quoteIdentifier(this.channel)}` })
    } catch (error) {
      this.failed(client, error)
      return
    }
    if (this.client !== client) return
    // Listening. What changed before now was not heard: the caches forget it all, then serve.
    this.state = 'listening'
    this.attempts = 0
    this.counters.connections++
    for (const cache of this.caches) this.guard('resume a cache', () => cache.resume())
    if (this.outageSince !== undefined) {
      const outage = Math.round(performance.now() - this.outageSince)
      warn(
        this.logger,
        `ChangeListener: listening on "${this.channel}" again after ${outage} ms; caches serve again`,
      )
      this.outageSince = undefined
    }
    this.heartbeat(client)
    this.settleStarted()
    this.announce('listening')
  }

  /**
   * The connection (or an attempt) failed: the caches stop serving at once, and a reconnection is
   * scheduled. Each client fails once (an `error` is often followed by its `end`).
   */
  private failed(client: ListenerClient | undefined, error: unknown): void {
    if (client && this.client !== client) return
    this.client = undefined
    this.clearTimers()
    if (client) void endClient(client, 0)
    if (this.state === 'closed') return
    const wasListening = this.state === 'listening'
    for (const cache of this.caches) this.guard('suspend a cache', () => cache.suspend())
    const cause = error instanceof Error ? error : undefined
    if (wasListening) {
      this.counters.losses++
      this.outageSince = performance.now()
      this.logger.error(
        `ChangeListener: lost the connection that listens on "${this.channel}"; caches serve nothing until it is back`,
        error,
      )
      this.announce('lost', cause)
    } else if (this.attempts === 0) {
      this.outageSince ??= performance.now()
      this.logger.error(`ChangeListener: cannot listen on "${this.channel}"; retrying`, error)
    }
    const ceiling = Math.min(this.maxReconnectDelay, this.reconnectDelay * 2 ** Math.min(this.attempts, 30))
    this.attempts++
    this.state = 'waiting'
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined
        void this.connect()
      },
      ceiling / 2 + (Math.random() * ceiling) / 2,
    )
    // The retry keeps nothing alive: the app's server does, and close() clears it anyway.
    this.retryTimer.unref()
  }

  /** Checks the connection every `heartbeatInterval`: a silent network fails the check. */
  private heartbeat(client: ListenerClient): void {
    if (this.heartbeatInterval === 0) return
    this.heartbeatTimer = setTimeout(async () => {
      this.heartbeatTimer = undefined
      try {
        await client.query({ text: 'SELECT 1', query_timeout: this.heartbeatTimeout })
      } catch (error) {
        this.failed(client, error)
        return
      }
      if (this.client === client && this.state === 'listening') this.heartbeat(client)
    }, this.heartbeatInterval)
    this.heartbeatTimer.unref()
  }

  private notified(client: ListenerClient, message: { channel: string; payload?: string }): void {
    if (this.client !== client || message.channel !== this.channel) return
    this.counters.notifications++
    const change = parseChangePayload(message.payload)
    for (const cache of this.caches) {
      try {
        if (!change) cache.clear()
        else if (change.id === undefined) cache.invalidateTable(change.table)
        else cache.invalidate(change.table, change.id)
      } catch (error) {
        // A cache that could not drop what changed may hold it still: it forgets everything.
        this.logger.error(`ChangeListener: failed to invalidate a cache; clearing it`, error)
        this.guard('clear a cache', () => cache.clear())
      }
    }
    if (!change)
      warn(
        this.logger,
        `ChangeListener: a notification on "${this.channel}" that is not a change (${JSON.stringify(message.payload?.slice(0, 200))}); caches cleared`,
      )
    this.announce('change', change)
  }

  private clearTimers(): void {
    clearTimeout(this.retryTimer)
    clearTimeout(this.heartbeatTimer)
    this.retryTimer = undefined
    this.heartbeatTimer = undefined
  }

  /** Emits, and logs what a handler throws: a handler's bug must not break the connection's events. */
  private announce<K extends keyof ChangeListenerEvents>(event: K, ...args: ChangeListenerEvents[K]): void {
    this.guard(`handle "${event}"`, () =>
      (this.emit as (event: K, ...args: unknown[]) => boolean)(event, ...args),
    )
  }

  /** Runs `step`; what it throws is logged. */
  private guard(what: string, step: () => unknown): void {
    try {
      step()
    } catch (error) {
      this.logger.error(`ChangeListener: failed to ${what}`, error)
    }
  }
}

/**
 * Ends `client`'s session: politely, waiting up to `timeoutMs` for Postgres, then by destroying its
 * socket (a silent network never answers). Never throws.
 */
async function endClient(client: ListenerClient, timeoutMs: number): Promise<void> {
  client.removeAllListeners()
  // Late errors of a client we are done with are expected (a reset after the end): not a crash.
  client.on('error', () => {})
  const ended = client.end().then(
    () => true,
    () => true,
  )
  let timer: NodeJS.Timeout | undefined
  const gaveUp = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs)
  })
  const polite = await Promise.race([ended, gaveUp])
  clearTimeout(timer)
  if (!polite) (client as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy()
}

function milliseconds(value: number | undefined, fallback: number, option: string, min: number): number {
  const resolved = value ?? fallback
  if (typeof resolved !== 'number' || !Number.isFinite(resolved) || resolved < min)
    throw new ConfigurationError(
      `ChangeListener: option "${option}" must be a number of milliseconds of at least ${min}, not ${String(value)}`,
    )
  return resolved
}
