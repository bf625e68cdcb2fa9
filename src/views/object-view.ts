/** @module ObjectDownloadView: serve a file column of an entity looked up by id or slug. */
import { createHash } from 'node:crypto'
import { type DataSource, type EntityMetadata, getMetadataArgsStorage, type ObjectLiteral } from 'typeorm'
import { type FileColumnMetadata, getFileColumn } from '../columns/file-column'
import { hasFile, type StoredFile } from '../columns/stored-file'
import { ConfigurationError, FileNotFoundError, ServiceUnavailableError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { StorageFile } from '../files/storage-file'
import { BurstLog, databaseFault } from '../lookup/database-errors'
import { rejectUnknownOptions } from '../responder/options'
import { storages } from '../storage/registry'
import { type DownloadRequest, DownloadView, type DownloadViewOptions, VIEW_OPTIONS } from './download-view'

/** A column's metadata, named from the root entry (both TypeORM majors have it at this path). */
type ColumnMetadata = EntityMetadata['columns'][number]

/** The part of a `pg` Pool the lookup uses. */
interface PgPool {
  query(config: {
    name: string
    text: string
    values: unknown[]
  }): Promise<{ rows: Record<string, unknown>[] }>
}

/** How the row is found: the URL parameter that carries the value, and the property it matches. */
export interface ObjectLookup {
  /** The route parameter (`:slug`). */
  param: string
  /** The entity property to match (`slug`). @default the same as `param` */
  column?: string
}

/** Options of {@link ObjectDownloadView}. */
export interface ObjectDownloadViewOptions<E extends ObjectLiteral> extends DownloadViewOptions {
  /** The DataSource the entity lives in; it may be initialized after the view is built. */
  dataSource: DataSource
  /** The entity class. */
  entity: new () => E
  /**
   * How the row is looked up. `'id'` and `'slug'` are short for `{ param: 'id', column: 'id' }`
   * and `{ param: 'slug', column: 'slug' }`.
   * @default 'id'
   */
  lookup?: 'id' | 'slug' | ObjectLookup
  /** The `@FileColumn()` property to serve. */
  file: keyof E & string
  /**
   * A property whose value names the file for the client, instead of the column's stored name.
   * @default undefined (the stored original name, else the key's basename)
   */
  basename?: keyof E & string
  /**
   * Run the lookup as a named prepared statement on Postgres (see `runLookup`). Turn it off behind
   * a connection pooler that cannot keep prepared statements (PgBouncer in transaction mode before
   * 1.21, or without `max_prepared_statements`).
   * @default true
   */
  prepare?: boolean
  /**
   * More properties to load with the row, for hooks that need them (`getBasename` reading `slug`).
   * The lookup query selects only what it needs: the primary key, the file column and `basename`.
   * @default []
   */
  select?: (keyof E & string)[]
  /**
   * Serve rows that `softRemove()` marked as deleted (an entity with `@DeleteDateColumn()`), as
   * TypeORM's `find({ withDeleted: true })` does. By default they are 404, as `findOneBy` has them.
   * @default false
   */
  withDeleted?: boolean
}

const OWN_OPTIONS = [
  ...VIEW_OPTIONS,
  'dataSource',
  'entity',
  'lookup',
  'file',
  'basename',
  'select',
  'prepare',
  'withDeleted',
]
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
 * Serves one file column of an entity found by a route parameter, in one query that selects only
 * the columns it needs. With the metadata stored in the row, HEAD, 304, 412 and 416 never touch the
 * storage.
 *
 * @example
 * const view = new ObjectDownloadView({ dataSource, entity: Document, lookup: 'slug', file: 'file' })
 * app.get('/documents/:slug/download', toHandler(view))
 */
export class ObjectDownloadView<E extends ObjectLiteral> extends DownloadView {
  readonly dataSource: DataSource
  readonly entity: new () => E
  readonly lookup: Required<ObjectLookup>
  readonly fileColumn: FileColumnMetadata
  readonly basenameProperty: string | undefined
  readonly selectProperties: readonly string[]
  private readonly prepareLookup: boolean
  private readonly withDeleted: boolean
  private prepared: PreparedQuery | undefined
  /** Lookups waiting for the next turn of the event loop (see `lookupTogether`). */
  private pending: PendingLookups | undefined
  /** Configuration faults of the database already reported (see `getObject`). */
  private readonly faults = new BurstLog()

  constructor(options: ObjectDownloadViewOptions<E>) {
    super(options)
    const owner = 'ObjectDownloadView'
    rejectUnknownOptions(options, OWN_OPTIONS, owner)
    if (!options.dataSource || typeof options.dataSource.query !== 'function') {
      throw new ConfigurationError(`${owner}: option "dataSource" must be a TypeORM DataSource`)
    }
    if (typeof options.entity !== 'function')
      throw new ConfigurationError(`${owner}: option "entity" must be an entity class`)
    this.dataSource = options.dataSource
    this.entity = options.entity
    const lookup = options.lookup ?? 'id'
    if (typeof lookup === 'string') this.lookup = { param: lookup, column: lookup }
    else if (lookup && typeof lookup.param === 'string' && lookup.param !== '')
      this.lookup = { param: lookup.param, column: lookup.column ?? lookup.param }
    else throw new ConfigurationError(`${owner}: option "lookup" must be 'id', 'slug' or { param, column }`)
    if (!declaresColumn(this.entity, this.lookup.column)) {
      throw new ConfigurationError(
        `${owner}: option "lookup" names "${this.lookup.column}", which is not a column of ${this.entity.name}`,
      )
    }
    try {
      this.fileColumn = getFileColumn(this.entity, options.file)
    } catch {
      throw new ConfigurationError(
        `${owner}: option "file" names "${String(options.file)}", which is not a @FileColumn() of ${this.entity.name}`,
      )
    }
    // The column's delivery when the view sets none; a storage registered already is checked now.
    this.delivery ??= this.fileColumn.delivery
    this.checkDelivery(storages.tryGet(this.fileColumn.storage))
    if (options.basename !== undefined && !declaresColumn(this.entity, options.basename)) {
      throw new ConfigurationError(
        `${owner}: option "basename" names "${String(options.basename)}", which is not a column of ${this.entity.name}`,
      )
    }
    this.basenameProperty = options.basename
    const select = options.select ?? []
    if (!Array.isArray(select))
      throw new ConfigurationError(`${owner}: option "select" must be an array of property names`)
    for (const property of select) {
      if (!declaresColumn(this.entity, property)) {
        throw new ConfigurationError(
          `${owner}: option "select" names "${String(property)}", which is not a column of ${this.entity.name}`,
        )
      }
    }
    this.selectProperties = select
    if (options.prepare !== undefined && typeof options.prepare !== 'boolean')
      throw new ConfigurationError(`${owner}: option "prepare" must be true or false`)
    this.prepareLookup = options.prepare ?? true
    if (options.withDeleted !== undefined && typeof options.withDeleted !== 'boolean')
      throw new ConfigurationError(`${owner}: option "withDeleted" must be true or false`)
    this.withDeleted = options.withDeleted ?? false
  }

  /**
   * The row for this request, with the file column (and basename) loaded, or a FileNotFoundError.
   * A lookup value that cannot match the column's type (a non-numeric id) is a 404 too.
   */
  async getObject(request: DownloadRequest): Promise<E> {
    const raw = request.params[this.lookup.param]
    const value = typeof raw === 'string' ? raw : undefined
    const query = this.prepare()
    const notFound = () =>
      new FileNotFoundError(
        `No ${this.entity.name} with ${this.lookup.column} = ${JSON.stringify(value ?? null)}`,
      )
    if (value === undefined || value.includes('\u0000')) throw notFound()
    if (query.lookupType === 'integer' && !(/^\d{1,19}$/.test(value) && BigInt(value) <= query.max))
      throw notFound()
    if (
      query.lookupType === 'uuid' &&
      !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)
    )
      throw notFound()

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
          `${this.constructor.name} (${this.entity.name}): ${reason} [${code}]`,
        )
        if (line) this.logger.error(line)
      }
      throw new ServiceUnavailableError(reason, { cause: error })
    }
    const row = rows[0]
    if (!row) throw notFound()
    const entity = query.metadata.create() as E
    for (const column of query.columns) {
      column.setEntityValue(
        entity,
        this.dataSource.driver.prepareHydratedValue(row[column.databaseName], column),
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
    const pool = (this.dataSource.driver as { master?: PgPool }).master
    const logging = this.dataSource.options.logging
    if (
      this.prepareLookup &&
      this.dataSource.options.type === 'postgres' &&
      typeof pool?.query === 'function' &&
      (logging === undefined || logging === false || (Array.isArray(logging) && !logging.includes('query')))
    ) {
      return query.batch
        ? this.lookupTogether(pool, query, query.batch, value)
        : this.lookupAlone(pool, query, value)
    }
    return this.dataSource.query(query.sql, [value])
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
      return this.dataSource.query(query.sql, [value])
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

  /** The file of `object`'s file column; a FileNotFoundError when the column is empty. */
  async getFile(request: DownloadRequest, object?: E): Promise<DownloadFile> {
    const row = object ?? (await this.getObject(request))
    const value = row[this.fileColumn.propertyName] as StoredFile | null | undefined
    if (!hasFile(value))
      throw new FileNotFoundError(`${this.entity.name}.${this.fileColumn.propertyName} is empty`)
    const storage = storages.get(this.fileColumn.storage)
    return StorageFile.describe(storage, value.path, {
      name: this.getBasename(row, value),
      size: value.size,
      contentType: value.contentType,
      modifiedAt: value.modifiedAt,
      sha256: value.sha256,
    })
  }

  /** The name the client sees: the basename property when configured and set, else the stored name. */
  getBasename(object: E, value: StoredFile): string | undefined {
    if (this.basenameProperty) {
      const name = object[this.basenameProperty]
      if (typeof name === 'string' && name !== '') return name
    }
    return value.name ?? undefined
  }

  /** Builds the lookup query once, from the entity's metadata, when the DataSource is ready. */
  private prepare(): PreparedQuery {
    if (this.prepared) return this.prepared
    if (!this.dataSource.isInitialized) {
      // Requests that arrive before startup finished: "try again soon", not a crash.
      throw new ServiceUnavailableError(
        `ObjectDownloadView: the DataSource of ${this.entity.name} is not initialized yet`,
      )
    }
    const metadata = this.dataSource.getMetadata(this.entity)
    const lookupColumn = metadata.findColumnWithPropertyPath(this.lookup.column)
    if (!lookupColumn)
      throw new ConfigurationError(
        `ObjectDownloadView: ${this.entity.name} has no column "${this.lookup.column}"`,
      )
    const wanted = metadata.columns.filter(
      (column) =>
        column.embeddedMetadata?.propertyName === this.fileColumn.propertyName ||
        column.propertyPath === this.basenameProperty ||
        this.selectProperties.includes(column.propertyPath) ||
        column.isPrimary,
    )
    const driver = this.dataSource.driver
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
      deleteDate && !this.withDeleted ? ` AND ${driver.escape(deleteDate.databaseName)} IS NULL` : ''
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

function declaresColumn(entity: Function, property: string): boolean {
  const args = getMetadataArgsStorage()
  const inherits = (target: Function | string) =>
    typeof target === 'function' && (target === entity || entity.prototype instanceof target)
  return args.columns.some((column) => inherits(column.target) && column.propertyName === property)
}
