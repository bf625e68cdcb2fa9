/**
 * @module RowCache: a bounded in-memory cache of row lookups (a row's selected columns, or "no
 * such row"), which a ChangeListener keeps true: every entry knows the (table, primary key) it came
 * from, so a change notification drops exactly the entries of that row, and the cache serves
 * nothing at all while its invalidation channel is down.
 */
import type { DataSource } from 'typeorm'
import { ConfigurationError } from '../errors'
import { rejectUnknownOptions } from '../options'
import { estimateBytes } from './byte-size'

/** How a RowCache is bounded. */
export interface RowCacheOptions {
  /**
   * The most entries kept (rows and misses together); the least recently used goes first.
   * @default 10000
   */
  maxEntries?: number
  /**
   * The most bytes the entries hold, as estimated (see {@link RowCacheEntry.bytes}); the least
   * recently used goes first. An entry larger than this is not stored.
   * @default 16777216 (16 MiB)
   */
  maxBytes?: number
  /**
   * The most "no such row" entries kept, within `maxEntries`, so that requests for random keys
   * (a scanner) cannot push the rows out. `0` caches no misses.
   * @default a quarter of maxEntries
   */
  maxMisses?: number
  /**
   * How long an entry may be served, in milliseconds, whatever the notifications say: the second
   * line of defence against staleness (a change made with the trigger off and without the hook).
   * @default 60000
   */
  ttl?: number
  /**
   * The clock of the TTL, in milliseconds; a monotonic one, so that a wall clock set back cannot
   * keep entries alive. Tests give their own.
   * @default performance.now
   */
  clock?: () => number
}

/** A row to store: where it came from (for invalidation), and what the lookup selected. */
export interface RowCacheEntry<V> {
  /** The schema-qualified table (`public.document`), as change notifications name it. */
  table: string
  /** The row's primary key as text (see `rowId()`), as change notifications name it. */
  id: string
  /** The lookup's answer: the row's selected columns. Shared by every hit: treat it as read-only. */
  value: V
  /**
   * About how many bytes `value` holds.
   * @default estimated by walking `value` (estimateBytes())
   */
  bytes?: number
}

/** What `get()` found: a row, or the knowledge that there is none. */
export type CacheHit<V> = { kind: 'row'; value: V; table: string; id: string } | { kind: 'none' }

/**
 * Taken before a lookup's query, given back with its result: a result is stored only if nothing
 * of its table was invalidated in between, so a row read before a change committed can never be
 * stored after the change's notification was handled.
 */
export type CacheTicket = number & { readonly __cacheTicket: true }

/** What the cache has done since it was made (for tests, metrics and the bench). */
export interface RowCacheStats {
  /** `get()`s answered (a row or a miss). */
  hits: number
  /** `get()`s not answered: no entry, an expired one, or the cache unavailable. */
  misses: number
  /** Entries stored by `set()` and `setMiss()`. */
  stores: number
  /** Stores refused: the cache unavailable, a stale ticket, or an entry over `maxBytes`. */
  refused: number
  /** Entries dropped to stay within `maxEntries`, `maxBytes` or `maxMisses`. */
  evictions: number
  /** Entries dropped because their TTL had passed. */
  expirations: number
  /** Entries dropped by `invalidate()`, `invalidateTable()` and `clear()`. */
  invalidations: number
  /** Entries held now. */
  entries: number
  /** Bytes held now, as estimated. */
  bytes: number
}

/** The defaults of {@link RowCacheOptions}. */
export const ROW_CACHE_DEFAULTS = { maxEntries: 10_000, maxBytes: 16 * 1024 * 1024, ttl: 60_000 } as const

/** What an entry costs besides its key and value: the Entry object, two map slots, index sets. */
const ENTRY_OVERHEAD = 160
/** Past this many tables with a recorded invalidation, the records collapse into one flush mark. */
const MAX_TABLE_MARKS = 1024

interface Entry<V> {
  key: string
  table: string
  /** `undefined` for a miss. */
  id: string | undefined
  value: V | undefined
  bytes: number
  expiresAt: number
  /** When it was last stored or served, in `tick`s: the LRU order across both maps. */
  used: number
}

/** The keys of one table: of its rows, and of its misses. */
interface TableKeys {
  rows: Set<string>
  misses: Set<string>
}

/**
 * A bounded in-memory cache of row lookups, by a key the caller builds (`rowCacheKey()`: the
 * statement, the looked-up value, the scope's values). LRU-bounded in entries and in bytes, with a
 * TTL per entry, and indexed by row: `invalidate(table, id)` drops every key that answered with that
 * row, and every miss of the table (an insert, or an update that moves a row into a key or a
 * scope, may answer any of them now).
 *
 * It starts unavailable and serves nothing until its invalidation channel (a ChangeListener)
 * resumes it; while that channel is down, `get()` answers nothing and `set()` stores nothing.
 *
 * @example
 * const cache = new RowCache({ maxEntries: 50_000, maxBytes: 64 * 1024 * 1024, ttl: 300_000 })
 * const listener = new ChangeListener({ dataSource, caches: [cache] })
 * await listener.start()
 */
export class RowCache<V = Record<string, unknown>> {
  readonly maxEntries: number
  readonly maxBytes: number
  readonly maxMisses: number
  readonly ttl: number
  private readonly clock: () => number
  private isAvailable = false
  /** The ChangeListener that keeps it true, and its DataSource. */
  private listener: { owner: object; dataSource: DataSource } | undefined
  /** Entries that found a row, least recently used first. */
  private readonly rows = new Map<string, Entry<V>>()
  /** Entries that found no row, least recently used first. */
  private readonly misses = new Map<string, Entry<V>>()
  private readonly byRow = new Map<string, Set<string>>()
  private readonly byTable = new Map<string, TableKeys>()
  private totalBytes = 0
  private tick = 0
  /** Counts invalidations; tickets are values of it. */
  private sequence = 0
  /** The sequence number of each table's last invalidation. */
  private readonly tableMarks = new Map<string, number>()
  /** The sequence number of the last flush of everything. */
  private flushMark = 0
  private readonly counters = {
    hits: 0,
    misses: 0,
    stores: 0,
    refused: 0,
    evictions: 0,
    expirations: 0,
    invalidations: 0,
  }

  constructor(options: RowCacheOptions = {}) {
    const owner = 'RowCache'
    rejectUnknownOptions(options, ['maxEntries', 'maxBytes', 'maxMisses', 'ttl', 'clock'], owner)
    this.maxEntries = positiveInteger(options.maxEntries, ROW_CACHE_DEFAULTS.maxEntries, 'maxEntries')
    this.maxBytes = positiveInteger(options.maxBytes, ROW_CACHE_DEFAULTS.maxBytes, 'maxBytes')
    const maxMisses = options.maxMisses ?? Math.floor(this.maxEntries / 4)
    if (!Number.isInteger(maxMisses) || maxMisses < 0 || maxMisses > this.maxEntries)
      throw new ConfigurationError(
        `${owner}: option "maxMisses" must be an integer from 0 to maxEntries (${this.maxEntries}), not ${String(options.maxMisses)}`,
      )
    this.maxMisses = maxMisses
    const ttl = options.ttl ?? ROW_CACHE_DEFAULTS.ttl
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0)
      throw new ConfigurationError(
        `${owner}: option "ttl" must be a positive finite number of milliseconds, not ${String(options.ttl)}`,
      )
    this.ttl = ttl
    if (options.clock !== undefined && typeof options.clock !== 'function')
      throw new ConfigurationError(`${owner}: option "clock" must be a function that returns milliseconds`)
    this.clock = options.clock ?? (() => performance.now())
  }

  /** Whether the cache may serve and store: its invalidation channel is up. */
  get available(): boolean {
    return this.isAvailable
  }

  /**
   * The DataSource whose ChangeListener keeps this cache true, once one has `add()`ed it: a view
   * must use the cache only for rows of that DataSource's database, since no other database's
   * changes reach it.
   */
  get dataSource(): DataSource | undefined {
    return this.listener?.dataSource
  }

  /**
   * Called by `ChangeListener.add()`: a cache is kept true by one listener only (two would each
   * resume it while the other is down). Throws a ConfigurationError for a second listener.
   */
  bindListener(owner: object, dataSource: DataSource): void {
    if (this.listener && this.listener.owner !== owner)
      throw new ConfigurationError(
        'RowCache: this cache is already kept by another ChangeListener; give each listener its own caches',
      )
    this.listener = { owner, dataSource }
  }

  /** Called when its ChangeListener lets it go (`add()`'s returned function). */
  unbindListener(owner: object): void {
    if (this.listener?.owner === owner) this.listener = undefined
  }

  /** The counters, and what the cache holds now. */
  get stats(): RowCacheStats {
    return { ...this.counters, entries: this.rows.size + this.misses.size, bytes: this.totalBytes }
  }

  /** A ticket to take before the lookup whose result `set()` or `setMiss()` will store. */
  ticket(): CacheTicket {
    return this.sequence as CacheTicket
  }

  /** The entry at `key`, or `undefined`: none, expired, or the cache unavailable. */
  get(key: string): CacheHit<V> | undefined {
    if (!this.isAvailable) {
      this.counters.misses++
      return undefined
    }
    const entry = this.rows.get(key) ?? this.misses.get(key)
    if (!entry) {
      this.counters.misses++
      return undefined
    }
    if (entry.expiresAt <= this.clock()) {
      this.remove(entry)
      this.counters.expirations++
      this.counters.misses++
      return undefined
    }
    // Most recently used: to the end of its map, unless it is among the most recent quarter of it
    // already. A hot entry is then not moved on every hit (a third of the cost of a hit), and
    // eviction still never meets one: the head of a map is at least `size - 1` ticks old.
    const map = entry.id === undefined ? this.misses : this.rows
    if (this.tick - entry.used >= map.size / 4) {
      map.delete(key)
      map.set(key, entry)
      entry.used = ++this.tick
    }
    this.counters.hits++
    return entry.id === undefined
      ? { kind: 'none' }
      : { kind: 'row', value: entry.value as V, table: entry.table, id: entry.id }
  }

  /**
   * Stores the row a lookup found, unless the cache is unavailable, something of `entry.table` was
   * invalidated since `ticket` was taken, or the entry alone is over `maxBytes`. Whether it stored.
   */
  set(key: string, entry: RowCacheEntry<V>, ticket: CacheTicket): boolean {
    const bytes = entry.bytes ?? estimateBytes(entry.value)
    return this.store(key, entry.table, entry.id, entry.value, bytes, ticket)
  }

  /**
   * Stores that a lookup found no row in `table`, under the same conditions as `set()`, and unless
   * `maxMisses` is 0. Any change notification of `table` drops it. Whether it stored.
   */
  setMiss(key: string, table: string, ticket: CacheTicket): boolean {
    if (this.maxMisses === 0) {
      this.counters.refused++
      return false
    }
    return this.store(key, table, undefined, undefined, 0, ticket)
  }

  /**
   * A row changed: drops every entry that answered with it, and every miss of its table. Returns
   * how many entries it dropped.
   */
  invalidate(table: string, id: string): number {
    this.mark(table)
    const keys = this.byTable.get(table)
    let dropped = 0
    for (const key of this.byRow.get(rowRef(table, id)) ?? []) dropped += this.drop(key)
    for (const key of keys?.misses ?? []) dropped += this.drop(key)
    this.counters.invalidations += dropped
    return dropped
  }

  /** Anything in `table` may have changed: drops all its entries. Returns how many. */
  invalidateTable(table: string): number {
    this.mark(table)
    const keys = this.byTable.get(table)
    let dropped = 0
    for (const key of [...(keys?.rows ?? []), ...(keys?.misses ?? [])]) dropped += this.drop(key)
    this.counters.invalidations += dropped
    return dropped
  }

  /** Drops everything, and refuses the results of lookups that started before. Returns how many. */
  clear(): number {
    this.sequence++
    this.flushMark = this.sequence
    this.tableMarks.clear()
    const dropped = this.rows.size + this.misses.size
    this.rows.clear()
    this.misses.clear()
    this.byRow.clear()
    this.byTable.clear()
    this.totalBytes = 0
    this.counters.invalidations += dropped
    return dropped
  }

  /** The invalidation channel is down: serve and store nothing, and forget everything. */
  suspend(): void {
    this.isAvailable = false
    this.clear()
  }

  /**
   * The invalidation channel is up (again): forget everything (changes made while it was down were
   * never heard), then serve and store.
   */
  resume(): void {
    this.clear()
    this.isAvailable = true
  }

  private store(
    key: string,
    table: string,
    id: string | undefined,
    value: V | undefined,
    valueBytes: number,
    ticket: CacheTicket,
  ): boolean {
    if (!this.isAvailable || ticket < this.flushMark || ticket < (this.tableMarks.get(table) ?? 0)) {
      this.counters.refused++
      return false
    }
    // What the key held is replaced, or, if the new value cannot be stored, forgotten.
    this.drop(key)
    const bytes = valueBytes + 2 * key.length + ENTRY_OVERHEAD
    if (bytes > this.maxBytes) {
      this.counters.refused++
      return false
    }
    const entry: Entry<V> = {
      key,
      table,
      id,
      value,
      bytes,
      expiresAt: this.clock() + this.ttl,
      used: ++this.tick,
    }
    let keys = this.byTable.get(table)
    if (!keys) {
      keys = { rows: new Set(), misses: new Set() }
      this.byTable.set(table, keys)
    }
    if (id === undefined) {
      this.misses.set(key, entry)
      keys.misses.add(key)
    } else {
      this.rows.set(key, entry)
      keys.rows.add(key)
      const ref = rowRef(table, id)
      let refs = this.byRow.get(ref)
      if (!refs) {
        refs = new Set()
        this.byRow.set(ref, refs)
      }
      refs.add(key)
    }
    this.totalBytes += bytes
    this.counters.stores++
    this.evict()
    return true
  }

  /** Drops the least recently used entries until the bounds hold. */
  private evict(): void {
    while (this.misses.size > this.maxMisses) this.evictOne(first(this.misses))
    while (this.rows.size + this.misses.size > this.maxEntries || this.totalBytes > this.maxBytes) {
      const row = first(this.rows)
      const miss = first(this.misses)
      this.evictOne(row && miss ? (row.used < miss.used ? row : miss) : (row ?? miss))
    }
  }

  private evictOne(entry: Entry<V> | undefined): void {
    if (!entry) return
    this.remove(entry)
    this.counters.evictions++
  }

  /** Drops the entry at `key`, if any; 1 if it did. */
  private drop(key: string): number {
    const entry = this.rows.get(key) ?? this.misses.get(key)
    if (!entry) return 0
    this.remove(entry)
    return 1
  }

  private remove(entry: Entry<V>): void {
    const { key, table, id } = entry
    const keys = this.byTable.get(table)
    if (id === undefined) {
      this.misses.delete(key)
      keys?.misses.delete(key)
    } else {
      this.rows.delete(key)
      keys?.rows.delete(key)
      const ref = rowRef(table, id)
      const refs = this.byRow.get(ref)
      refs?.delete(key)
      if (refs?.size === 0) this.byRow.delete(ref)
    }
    if (keys && keys.rows.size === 0 && keys.misses.size === 0) this.byTable.delete(table)
    this.totalBytes -= entry.bytes
  }

  /** Records that `table` was invalidated now: tickets taken before cannot store into it. */
  private mark(table: string): void {
    this.sequence++
    if (this.tableMarks.size >= MAX_TABLE_MARKS && !this.tableMarks.has(table)) {
      // Bounded: a channel that names ever new tables costs one flush mark, not memory.
      this.tableMarks.clear()
      this.flushMark = this.sequence
    }
    this.tableMarks.set(table, this.sequence)
  }
}

/** `table` and `id` as one map key (a NUL cannot occur in a table name). */
function rowRef(table: string, id: string): string {
  return `${table}\u0000${id}`
}

function first<V>(map: Map<string, Entry<V>>): Entry<V> | undefined {
  return map.values().next().value
}

function positiveInteger(value: number | undefined, fallback: number, option: string): number {
  const resolved = value ?? fallback
  if (!Number.isSafeInteger(resolved) || resolved < 1)
    throw new ConfigurationError(
      `RowCache: option "${option}" must be a positive integer, not ${String(value)}`,
    )
  return resolved
}
