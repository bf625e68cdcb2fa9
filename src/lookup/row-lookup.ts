/**
 * @module The row lookup of ObjectDownloadView: the query built once from TypeORM's metadata
 * (table-sql.ts: the names its naming strategy gave, the schema, a child entity's discriminator,
 * soft-deleted rows left out), with a per-request scope compiled in (scope-sql.ts), run as a named
 * prepared statement on Postgres, batched with the lookups of the same event-loop turn, and its
 * database errors classified (database-errors.ts). No HTTP here: it finds a row or says none.
 */
import { createHash } from 'node:crypto'
import type { DataSource, ObjectLiteral, SelectQueryBuilder } from 'typeorm'
import { rowCacheKey } from '../cache/cache-key'
import type { RowCache } from '../cache/row-cache'
import { changeTableOf, keyColumnsProblem, rawRowId } from '../cache/row-ref'
import { ConfigurationError, ServiceUnavailableError } from '../errors'
import { type Logger, warn } from '../logger'
import { BurstLog, databaseFault } from './database-errors'
import { isLookupValue, type LookupValueKind, lookupValueKind } from './lookup-value'
import { type Scope, scopeSql } from './scope-sql'
import { type ColumnMetadata, positionalParameters, TableSql } from './table-sql'

export type { ColumnMetadata } from './table-sql'

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
  /** The property path the value must equal (`slug`, `meta.code`). */
  column: string
  /** The columns to load besides the primary key. */
  selects(column: ColumnMetadata): boolean
  /** Whether rows that `softRemove()` marked are found too. */
  withDeleted: boolean
  /** Whether to run it as a named prepared statement, batched, on Postgres. */
  prepare: boolean
  /**
   * Whether every lookup takes a scope (the view has `where`): then a missing one (`undefined`, a
   * `where` that returned nothing) is refused, never taken for "every row".
   */
  scoped: boolean
  /** Who looks up, for messages (`ObjectDownloadView`). */
  owner: string
  /** Where configuration faults (of the database, of a scope) are reported (once per burst). */
  logger: Logger
  /**
   * Where found rows (and misses) are kept between requests, invalidated by a ChangeListener.
   * @default none: every lookup asks the database
   */
  cache?: RowCache<Record<string, unknown>>
}

/** What is built once, when the DataSource is ready: the table, the columns, the lookup column. */
interface LookupPlan {
  table: TableSql
  columns: ColumnMetadata[]
  kind: LookupValueKind
  /** `"entity"."a", "entity"."b"`. */
  select: string
  /** `"entity"."slug"`. */
  lookup: string
  /** TypeORM's own conditions (discriminator, soft delete), ` AND …`-joined, or `''`. */
  always: string
  /** The table as change notifications name it (`public.document`), when the rows are cached. */
  changeTable: string | undefined
}

/** The statements of one scope shape: alone, and batched (for lookup column types it is written for). */
interface Statement {
  sql: string
  /** The name of the server-side prepared statement (`pg`), derived from the SQL. */
  name: string
  /** Many values in one query (`$1` an array; each row says which value it answers in `__dv_index`). */
  batch?: { sql: string; name: string }
}

/** One lookup to run: its statement, and the scope's values (`$2`…; `$1` is the looked-up value). */
interface Planned {
  statement: Statement
  scopeValues: unknown[]
}

/** The most lookups one batched query carries. */
const MAX_BATCH = 128
/** The most scope shapes whose statements are kept; more are built per request (and still work). */
const MAX_SHAPES = 256

/**
 * Finds the row whose `column` equals a value from a request, within a scope (a `findBy()` where),
 * in one query that selects only the columns asked for. A value that cannot match the column's type
 * (a non-numeric id, a malformed uuid, a NUL byte) finds nothing without a query.
 */
export class RowLookup<E extends ObjectLiteral> {
  private plan: LookupPlan | undefined
  /** The statements by scope condition (`''`: no scope); the text is the shape, values are apart. */
  private readonly statements = new Map<string, Statement>()
  /** Lookups waiting for the next turn of the event loop, by statement and scope values. */
  private readonly pending = new Map<string, PendingLookups>()
  /** Configuration faults (of the database, of scopes) already reported (see `reportOnce`). */
  private readonly faults = new BurstLog()

  constructor(private readonly options: RowLookupOptions) {}

  /**
   * The row whose column equals `value` (and that `scope` lets through), hydrated as TypeORM would,
   * or `undefined`. A database that cannot answer now is a ServiceUnavailableError (503); a scope it
   * cannot compile is a ConfigurationError, logged; other database errors are thrown as they are.
   */
  async find(value: string | undefined, scope?: Scope): Promise<E | undefined> {
    const plan = this.prepare()
    if (!isLookupValue(value) || !plan.kind.accepts(value)) return undefined
    const planned = this.planned(plan, scope)
    const { cache } = this.options
    // The statement (its name is the hash of the SQL: table, columns, scope shape, soft delete),
    // the value and each scope value: one scope's entry can never answer another's. A value with
    // no faithful encoding (an object of a class) is simply not cached.
    const key =
      cache?.available && plan.changeTable !== undefined
        ? rowCacheKey([planned.statement.name, value, ...planned.scopeValues])
        : undefined
    if (cache && key !== undefined) {
      const hit = cache.get(key)
      // A fresh entity per request, hydrated from the cached columns: hooks may change it freely.
      if (hit) return hit.kind === 'row' ? plan.table.hydrate<E>(hit.value, plan.columns) : undefined
    }
    const ticket = key !== undefined ? cache?.ticket() : undefined
    let rows: Record<string, unknown>[]
    try {
      rows = await this.runLookup(planned, value)
    } catch (error) {
      throw this.classified(error)
    }
    const row = rows[0]
    if (cache && key !== undefined && ticket !== undefined && plan.changeTable !== undefined)
      this.remember(cache, key, ticket, plan, row)
    return row ? plan.table.hydrate<E>(row, plan.columns) : undefined
  }

  /** Stores what the lookup found under `key`, unless its table changed since `ticket`. */
  private remember(
    cache: RowCache<Record<string, unknown>>,
    key: string,
    ticket: ReturnType<RowCache['ticket']>,
    plan: LookupPlan,
    row: Record<string, unknown> | undefined,
  ): void {
    const table = plan.changeTable as string
    if (!row) {
      cache.setMiss(key, table, ticket)
      return
    }
    const id = rawRowId(plan.table.metadata, row)
    if (id === undefined) return
    const { __dv_index: _index, ...value } = row
    cache.set(key, { table, id, value }, ticket)
  }

  /**
   * The same lookup through a TypeORM SelectQueryBuilder that `customize` may change (joins, more
   * conditions with `andWhere()`): the whole entity is loaded, without the prepared statement or the
   * batching. A `customize` that replaces or widens the lookup's conditions is a ConfigurationError.
   */
  async findWithQuery(
    value: string | undefined,
    scope: Scope | undefined,
    customize: (query: SelectQueryBuilder<E>) => SelectQueryBuilder<E> | undefined,
  ): Promise<E | undefined> {
    const plan = this.prepare()
    if (!isLookupValue(value) || !plan.kind.accepts(value)) return undefined
    const { table } = plan
    const query = this.options.dataSource.createQueryBuilder<E>(
      this.options.entity as new () => E,
      table.alias,
    )
    const lookup = `${plan.lookup} = :dv_value`
    query.where(lookup, { dv_value: value })
    if (scope !== undefined || this.options.scoped) {
      let count = 0
      const condition = this.guarded(() =>
        scopeSql(
          table,
          scope as Scope,
          (parameter) => {
            const name = `dv_scope_${count++}`
            query.setParameter(name, parameter)
            return `:${name}`
          },
          this.origin,
        ),
      )
      if (condition) query.andWhere(condition)
    }
    // The discriminator and soft delete: the QueryBuilder adds them itself, as for any find.
    if (this.options.withDeleted) query.withDeleted()
    const customized = customize(query) ?? query
    // The hook may narrow the lookup (andWhere(), joins), never replace it (where()) or widen it
    // (orWhere()): either would serve rows that the URL does not name, or that the scope leaves out.
    const [first, ...rest] = customized.expressionMap.wheres
    if (first?.condition !== lookup || rest.some((where) => where.type === 'or')) {
      const error = new ConfigurationError(
        `${this.options.owner}: option "query" replaced or widened the lookup's conditions (with where() or orWhere()); add conditions with andWhere()`,
      )
      this.reportOnce(error.message, error.message)
      throw error
    }
    try {
      return (await customized.getOne()) ?? undefined
    } catch (error) {
      throw this.classified(error)
    }
  }

  /** `ObjectDownloadView: option "where"`, for scope messages. */
  private get origin(): string {
    return `${this.options.owner}: option "where"`
  }

  /** The statement for `scope`'s shape, and its values. */
  private planned(plan: LookupPlan, scope: Scope | undefined): Planned {
    const scopeValues: unknown[] = []
    const condition =
      scope === undefined && !this.options.scoped
        ? ''
        : this.guarded(() =>
            scopeSql(
              plan.table,
              scope as Scope,
              positionalParameters(this.options.dataSource, scopeValues, 1),
              this.origin,
            ),
          )
    let statement = this.statements.get(condition)
    if (!statement) {
      statement = buildStatement(plan, condition)
      if (this.statements.size < MAX_SHAPES) this.statements.set(condition, statement)
    }
    return { statement, scopeValues }
  }

  /** Runs `compile`; a scope it cannot compile is logged (once per burst) and thrown. */
  private guarded<T>(compile: () => T): T {
    try {
      return compile()
    } catch (error) {
      if (error instanceof ConfigurationError) this.reportOnce(error.message, error.message)
      throw error
    }
  }

  private reportOnce(key: string, message: string): void {
    const line = this.faults.line(key, message)
    if (line) this.options.logger.error(line)
  }

  /**
   * A database error as the request should see it: a ServiceUnavailableError (503) for a database
   * that cannot answer now, with configuration faults logged; anything else as it is (a 500).
   */
  private classified(error: unknown): unknown {
    const fault = databaseFault(error)
    if (!fault) return error
    const reason = `The database is unavailable: ${(error as Error).message}`
    if (fault === 'configuration') {
      // A fault an operator must fix (no such database, a role that may not log in): an alarm,
      // but one per burst, not one per request.
      const code = String((error as { code?: unknown }).code)
      this.reportOnce(code, `${this.options.owner} (${this.options.entity.name}): ${reason} [${code}]`)
    }
    return new ServiceUnavailableError(reason, { cause: error })
  }

  /**
   * Runs the lookup. On Postgres, straight on the driver's `pg` pool as a named prepared statement:
   * the server parses and plans it once per connection, and no QueryRunner is made per request.
   * Measured on a 304 (bench/README.md): half the database's CPU per request and about twice the
   * requests per second. With `prepare: false`, with query logging on, or on other drivers,
   * through `DataSource.query()`, which logs it.
   */
  private async runLookup(planned: Planned, value: string): Promise<Record<string, unknown>[]> {
    const pool = (this.options.dataSource.driver as { master?: PgPool }).master
    const logging = this.options.dataSource.options.logging
    if (
      this.options.prepare &&
      this.options.dataSource.options.type === 'postgres' &&
      typeof pool?.query === 'function' &&
      (logging === undefined || logging === false || (Array.isArray(logging) && !logging.includes('query')))
    ) {
      return planned.statement.batch
        ? this.lookupTogether(pool, planned, value)
        : this.lookupAlone(pool, planned, value)
    }
    return this.options.dataSource.query(planned.statement.sql, [value, ...planned.scopeValues])
  }

  /** One lookup as the named prepared statement. */
  private async lookupAlone(
    pool: PgPool,
    planned: Planned,
    value: string,
  ): Promise<Record<string, unknown>[]> {
    const { sql, name } = planned.statement
    const values = [value, ...planned.scopeValues]
    try {
      return (await pool.query({ name, text: sql, values })).rows
    } catch (error) {
      // A migration changed a selected column's type under a connection's prepared statement
      // ("cached plan must not change result type"): answer this request the plain way.
      if (!isStalePlan(error)) throw error
      return this.options.dataSource.query(sql, values)
    }
  }

  /**
   * Lookups made in the same turn of the event loop go to Postgres together: under load, the
   * requests whose bytes arrived together share one query (`unnest` of their values, each with its
   * own `LIMIT 1`), so the round trip, the driver's work and the database's CPU are paid once per
   * batch instead of once per request. A lookup alone waits only for `setImmediate`.
   *
   * Scoped lookups batch with the lookups of the same scope shape *and* the same scope values (the
   * key below): the values are `$2`… of the batched statement, shared by the batch. The other way,
   * one set of scope values per looked-up value, would need one array parameter per scope value,
   * typed for `unnest`, and a two-dimensional array for `In()`. Scopes that many requests share
   * (`{ published: true }`, one tenant) batch as well as no scope; per-user scopes batch per user.
   */
  private lookupTogether(pool: PgPool, planned: Planned, value: string): Promise<Record<string, unknown>[]> {
    const batch = planned.statement.batch as NonNullable<Statement['batch']>
    // Equal only when every scope value is, value by value and type by type; a value with no
    // faithful encoding (an object of a class) is looked up alone rather than risk a wrong batch.
    const values = planned.scopeValues.length === 0 ? '' : rowCacheKey(planned.scopeValues)
    if (values === undefined) return this.lookupAlone(pool, planned, value)
    const key = values === '' ? batch.name : `${batch.name}\u0000${values}`
    let pending = this.pending.get(key)
    if (!pending || pending.values.length >= MAX_BATCH) {
      const fresh: PendingLookups = { planned, values: [], waiters: [] }
      this.pending.set(key, fresh)
      pending = fresh
      setImmediate(() => {
        if (this.pending.get(key) === fresh) this.pending.delete(key)
        void this.flush(pool, fresh)
      })
    }
    const waiting = pending
    return new Promise((resolve, reject) => {
      waiting.values.push(value)
      waiting.waiters.push({ resolve, reject })
    })
  }

  private async flush(pool: PgPool, pending: PendingLookups): Promise<void> {
    const { planned, values, waiters } = pending
    const batch = planned.statement.batch as NonNullable<Statement['batch']>
    if (values.length === 1) {
      this.lookupAlone(pool, planned, values[0] as string).then(waiters[0]?.resolve, waiters[0]?.reject)
      return
    }
    try {
      const result = await pool.query({
        name: batch.name,
        text: batch.sql,
        values: [values, ...planned.scopeValues],
      })
      const answers: Record<string, unknown>[][] = values.map(() => [])
      for (const row of result.rows) answers[Number(row.__dv_index) - 1]?.push(row)
      for (const [index, waiter] of waiters.entries()) waiter.resolve(answers[index] ?? [])
    } catch (error) {
      // The database is down: every lookup of the batch gets that answer. Anything else (a stale
      // plan after a migration, a statement timeout) is one value's problem at most: each value is
      // looked up alone, so that one failure never fails the other requests of its batch.
      for (const [index, waiter] of waiters.entries()) {
        if (databaseFault(error) && !isStalePlan(error)) waiter.reject(error)
        else this.lookupAlone(pool, planned, values[index] as string).then(waiter.resolve, waiter.reject)
      }
    }
  }

  /**
   * Builds what does not depend on the request, once, from the entity's metadata, when the
   * DataSource is ready.
   */
  private prepare(): LookupPlan {
    if (this.plan) return this.plan
    const { dataSource, entity, owner } = this.options
    if (!dataSource.isInitialized) {
      // Requests that arrive before startup finished: "try again soon", not a crash.
      throw new ServiceUnavailableError(`${owner}: the DataSource of ${entity.name} is not initialized yet`)
    }
    const table = new TableSql(dataSource, dataSource.getMetadata(entity))
    const lookupColumn = table.find(this.options.column)
    if (!lookupColumn)
      throw new ConfigurationError(`${owner}: ${entity.name} has no column "${this.options.column}"`)
    // The discriminator of an entity with children says which class each row is (TableSql.hydrate).
    const { discriminatorColumn, childEntityMetadatas } = table.metadata
    const kind = childEntityMetadatas.length > 0 ? discriminatorColumn : undefined
    const columns = table.metadata.columns.filter(
      (column) => column.isPrimary || column === kind || this.options.selects(column),
    )
    const always = table.conditions({ withDeleted: this.options.withDeleted })
    let changeTable: string | undefined
    if (this.options.cache) {
      // Rows are cached only when notifications can name them: by a primary key of a simple type.
      const problem = keyColumnsProblem(dataSource, table.metadata)
      if (problem) warn(this.options.logger, `${owner}: option "cache" is off for ${entity.name}: ${problem}`)
      else changeTable = changeTableOf(dataSource, table.metadata)
    }
    this.plan = {
      table,
      columns,
      kind: lookupValueKind(lookupColumn),
      select: table.select(columns),
      lookup: table.column(lookupColumn),
      always: always.map((condition) => ` AND ${condition}`).join(''),
      changeTable,
    }
    return this.plan
  }
}

/** The statements of one scope shape (`condition`, numbered from `$2`). */
function buildStatement(plan: LookupPlan, condition: string): Statement {
  const { table, select, lookup, always, kind } = plan
  const where = `${condition ? ` AND ${condition}` : ''}${always}`
  const sql = `SELECT ${select} FROM ${table.from} WHERE ${lookup} = ${table.dataSource.driver.createParameter('value', 0)}${where} LIMIT 1`
  const batchSql =
    kind.cast === undefined
      ? undefined
      : `SELECT r.*, k.i AS "__dv_index" FROM unnest($1::text[]) WITH ORDINALITY AS k(v, i) ` +
        `CROSS JOIN LATERAL (SELECT ${select} FROM ${table.from} WHERE ${lookup} = k.v${kind.cast}${where} LIMIT 1) r`
  return {
    sql,
    name: `typeorm_downloadview_${hash(sql)}`,
    ...(batchSql && { batch: { sql: batchSql, name: `typeorm_downloadview_${hash(batchSql)}` } }),
  }
}

interface PendingLookups {
  planned: Planned
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
