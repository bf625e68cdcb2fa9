/**
 * @module The row lookup of ObjectDownloadView: the query built once from TypeORM's metadata (the
 * table and column names its naming strategy gave, soft-deleted rows left out), run as a named
 * prepared statement on Postgres, batched with the lookups of the same event-loop turn, and its
 * database errors classified (database-errors.ts). No HTTP here: it finds a row or says none.
 */
import { createHash } from 'node:crypto'
import type { DataSource, EntityMetadata, ObjectLiteral } from 'typeorm'
import { ConfigurationError, ServiceUnavailableError } from '../errors'
import type { Logger } from '../logger'
import { BurstLog, databaseFault } from './database-errors'

/** A column's metadata, named from the root entry (both TypeORM majors have it at this path). */
export type ColumnMetadata = EntityMetadata['columns'][number]

/** The part of a `pg` Pool the lookup uses. */
interface PgPool {
  query(config: {
    name: string
    text: string
    values: unknown[]
  }): Promise<{ rows: Record<string, unknown>[] }>
}

/** What a RowLookup finds, and how. */
export interface RowLookupOptions {
  dataSource: DataSource
  entity: Function & { name: string }
  /** The property the value must equal (`slug`). */
  column: string
  /** The columns to load besides the primary key. */
  selects(column: ColumnMetadata): boolean
  /** Whether rows that `softRemove()` marked are found too. */
  withDeleted: boolean
  /** Whether to run it as a named prepared statement, batched, on Postgres. */
  prepare: boolean
  /** Who looks up, for messages (`ObjectDownloadView`). */
  owner: string
  /** Where configuration faults of the database are reported (once per burst). */
  logger: Logger
}

const INTEGER_TYPES = new Set(['int', 'int2', 'int4', 'int8', 'integer', 'smallint', 'bigint'])
const INT_MAX: Record<string, bigint> = {
  int2: 32767n,
  smallint: 32767n,
  int8: 9223372036854775807n,
  bigint: 9223372036854775807n,
}

interface PreparedQuery {
  sql: string
  /** The name of the server-side prepared statement (`pg`), derived from the SQL. */
  name: string
  columns: ColumnMetadata[]
  metadata: EntityMetadata
  lookupType: 'integer' | 'uuid' | 'string'
  /**
   * The lookup of many values in one query (`$1` an array; each row says which value it answers
   * in `__dv_index`), or `undefined` for lookup column types it is not written for.
   */
  batch?: { sql: string; name: string }
  max: bigint
}

/**
 * Finds the row whose `column` equals a value from a request, in one query that selects only the
 * columns asked for. A value that cannot match the column's type (a non-numeric id, a malformed
 * uuid, a NUL byte) finds nothing without a query.
 */
export class RowLookup<E extends ObjectLiteral> {
  private prepared: PreparedQuery | undefined
  /** Lookups waiting for the next turn of the event loop (see `lookupTogether`). */
  private pending: PendingLookups | undefined
  /** Configuration faults of the database already reported (see `find`). */
  private readonly faults = new BurstLog()

  constructor(private readonly options: RowLookupOptions) {}

  /**
   * The row whose column equals `value`, hydrated as TypeORM would, or `undefined`. A database that
   * cannot answer now is a ServiceUnavailableError (503); other database errors are thrown as they are.
   */
  async find(value: string | undefined): Promise<E | undefined> {
    const query = this.prepare()
    if (value === undefined || value.includes('\u0000')) return undefined
    if (query.lookupType === 'integer' && !(/^\d{1,19}$/.test(value) && BigInt(value) <= query.max))
      return undefined
    if (
      query.lookupType === 'uuid' &&
      !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)
    )
      return undefined

    let rows: Record<string, unknown>[]
    try {
      rows = await this.runLookup(query, value)
    } catch (error) {
      const fault = databaseFault(error)
      if (!fault) throw error
      const reason = `The database is unavailable: ${(error as Error).message}`
      if (fault === 'configuration') {
        // A fault an operator must fix (no such database, a role that may not log in): an alarm,
        // but one per burst, not one per request.
        const code = String((error as { code?: unknown }).code)
        const line = this.faults.line(
          code,
          `${this.options.owner} (${this.options.entity.name}): ${reason} [${code}]`,
        )
        if (line) this.options.logger.error(line)
      }
      throw new ServiceUnavailableError(reason, { cause: error })
    }
    const row = rows[0]
    if (!row) return undefined
    const entity = query.metadata.create() as E
    for (const column of query.columns) {
      column.setEntityValue(
        entity,
        this.options.dataSource.driver.prepareHydratedValue(row[column.databaseName], column),
      )
    }
    return entity
  }

  /**
   * Runs the lookup. On Postgres, straight on the driver's `pg` pool as a named prepared statement:
   * the server parses and plans it once per connection, and no QueryRunner is made per request.
   * Measured on a 304 (bench/README.md): half the database's CPU per request and about twice the
   * requests per second. With `prepare: false`, with query logging on, or on other drivers,
   * through `DataSource.query()`, which logs it.
   */
  private async runLookup(query: PreparedQuery, value: string): Promise<Record<string, unknown>[]> {
    const pool = (this.options.dataSource.driver as { master?: PgPool }).master
    const logging = this.options.dataSource.options.logging
    if (
      this.options.prepare &&
      this.options.dataSource.options.type === 'postgres' &&
      typeof pool?.query === 'function' &&
      (logging === undefined || logging === false || (Array.isArray(logging) && !logging.includes('query')))
    ) {
      return query.batch
        ? this.lookupTogether(pool, query, query.batch, value)
        : this.lookupAlone(pool, query, value)
    }
    return this.options.dataSource.query(query.sql, [value])
  }

  /** One lookup as the named prepared statement. */
  private async lookupAlone(
    pool: PgPool,
    query: PreparedQuery,
    value: string,
  ): Promise<Record<string, unknown>[]> {
    try {
      const result = await pool.query({ name: query.name, text: query.sql, values: [value] })
      return result.rows
    } catch (error) {
      // A migration changed a selected column's type under a connection's prepared statement
      // ("cached plan must not change result type"): answer this request the plain way.
      if (!isStalePlan(error)) throw error
      return this.options.dataSource.query(query.sql, [value])
    }
  }

  /**
   * Lookups made in the same turn of the event loop go to Postgres together: under load, the
   * requests whose bytes arrived together share one query (`= ANY` of their values, each with its
   * own `LIMIT 1`), so the round trip, the driver's work and the database's CPU are paid once per
   * batch instead of once per request. A lookup alone waits only for `setImmediate`.
   */
  private lookupTogether(
    pool: PgPool,
    query: PreparedQuery,
    batch: { sql: string; name: string },
    value: string,
  ): Promise<Record<string, unknown>[]> {
    let pending = this.pending
    if (!pending || pending.values.length >= MAX_BATCH) {
      const fresh: PendingLookups = { values: [], waiters: [] }
      this.pending = pending = fresh
      setImmediate(() => {
        if (this.pending === fresh) this.pending = undefined
        void this.flush(pool, query, batch, fresh)
      })
    }
    const waiting = pending
    return new Promise((resolve, reject) => {
      waiting.values.push(value)
      waiting.waiters.push({ resolve, reject })
    })
  }

  private async flush(
    pool: PgPool,
    query: PreparedQuery,
    batch: { sql: string; name: string },
    pending: PendingLookups,
  ): Promise<void> {
    const { values, waiters } = pending
    if (values.length === 1) {
      this.lookupAlone(pool, query, values[0] as string).then(waiters[0]?.resolve, waiters[0]?.reject)
      return
    }
    try {
      const result = await pool.query({ name: batch.name, text: batch.sql, values: [values] })
      const answers: Record<string, unknown>[][] = values.map(() => [])
      for (const row of result.rows) answers[Number(row.__dv_index) - 1]?.push(row)
      for (const [index, waiter] of waiters.entries()) waiter.resolve(answers[index] ?? [])
    } catch (error) {
      // The database is down: every lookup of the batch gets that answer. Anything else (a stale
      // plan after a migration, a statement timeout) is one value's problem at most: each value is
      // looked up alone, so that one failure never fails the other requests of its batch.
      for (const [index, waiter] of waiters.entries()) {
        if (databaseFault(error) && !isStalePlan(error)) waiter.reject(error)
        else this.lookupAlone(pool, query, values[index] as string).then(waiter.resolve, waiter.reject)
      }
    }
  }

  /** Builds the lookup query once, from the entity's metadata, when the DataSource is ready. */
  private prepare(): PreparedQuery {
    if (this.prepared) return this.prepared
    if (!this.options.dataSource.isInitialized) {
      // Requests that arrive before startup finished: "try again soon", not a crash.
      throw new ServiceUnavailableError(
        `${this.options.owner}: the DataSource of ${this.options.entity.name} is not initialized yet`,
      )
    }
    const metadata = this.options.dataSource.getMetadata(this.options.entity)
    const lookupColumn = metadata.findColumnWithPropertyPath(this.options.column)
    if (!lookupColumn)
      throw new ConfigurationError(
        `${this.options.owner}: ${this.options.entity.name} has no column "${this.options.column}"`,
      )
    const wanted = metadata.columns.filter((column) => column.isPrimary || this.options.selects(column))
    const driver = this.options.dataSource.driver
    const table = metadata.tablePath
      .split('.')
      .map((part) => driver.escape(part))
      .join('.')
    const select = wanted.map((column) => driver.escape(column.databaseName)).join(', ')
    const type = String(
      typeof lookupColumn.type === 'function' ? lookupColumn.type.name : lookupColumn.type,
    ).toLowerCase()
    const where = driver.escape(lookupColumn.databaseName)
    // Rows that softRemove() marked are gone for TypeORM's own finds: the same here, unless asked.
    const deleteDate = metadata.deleteDateColumn
    const alive =
      deleteDate && !this.options.withDeleted ? ` AND ${driver.escape(deleteDate.databaseName)} IS NULL` : ''
    const sql = `SELECT ${select} FROM ${table} WHERE ${where} = ${driver.createParameter('value', 0)}${alive} LIMIT 1`
    const cast = BATCH_CASTS[type]
    const batchSql =
      cast === undefined
        ? undefined
        : `SELECT r.*, k.i AS "__dv_index" FROM unnest($1::text[]) WITH ORDINALITY AS k(v, i) ` +
          `CROSS JOIN LATERAL (SELECT ${select} FROM ${table} WHERE ${where} = k.v${cast}${alive} LIMIT 1) r`
    this.prepared = {
      sql,
      name: `typeorm_downloadview_${hash(sql)}`,
      columns: wanted,
      metadata,
      lookupType:
        INTEGER_TYPES.has(type) || type === 'number' ? 'integer' : type === 'uuid' ? 'uuid' : 'string',
      max: INT_MAX[type] ?? 2147483647n,
      ...(batchSql && { batch: { sql: batchSql, name: `typeorm_downloadview_${hash(batchSql)}` } }),
    }
    return this.prepared
  }
}

/** The most lookups one batched query carries. */
const MAX_BATCH = 128

/**
 * Lookup column types that batch, and the cast that turns the text of a value into the column's
 * type (values were checked against the type already, so the cast cannot fail). Other types
 * (citext, char(n), enums…) are looked up one by one, with the column's own comparison.
 */
const BATCH_CASTS: Record<string, string> = {
  int: '::int8',
  int2: '::int8',
  int4: '::int8',
  int8: '::int8',
  integer: '::int8',
  smallint: '::int8',
  bigint: '::int8',
  number: '::int8',
  uuid: '::uuid',
  text: '',
  varchar: '',
  'character varying': '',
  string: '',
}

interface PendingLookups {
  values: string[]
  waiters: { resolve(rows: Record<string, unknown>[]): void; reject(error: unknown): void }[]
}

function hash(sql: string): string {
  return createHash('sha256').update(sql).digest('hex').slice(0, 24)
}

/** Postgres' "cached plan must not change result type": a migration changed a selected column. */
function isStalePlan(error: unknown): boolean {
  return (error as { code?: string } | undefined)?.code === '0A000'
}
