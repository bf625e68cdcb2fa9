/**
 * @module What the commands walk: the entities that have file columns, their storages, and their
 * rows in keyset pages (`WHERE pk > last ORDER BY pk LIMIT n`), so no table is ever read whole.
 */
import type { DataSource, EntityMetadata, ObjectLiteral } from 'typeorm'
import { type FileColumnMetadata, getFileColumns } from '../columns/file-column'
import { ConfigurationError } from '../errors'
import { type ColumnMetadata, type ParameterSink, positionalParameters, TableSql } from '../lookup/table-sql'
import { normalizeKey } from '../storage/keys'
import { storages } from '../storage/registry'
import type { Storage } from '../storage/storage'

/** An entity of the DataSource with at least one file column. */
export interface FileEntity {
  metadata: EntityMetadata
  /** The entity's name in messages: its class name. */
  name: string
  columns: FileColumnMetadata[]
}

/**
 * Every entity of `dataSource` that has file columns. Throws a ConfigurationError when there is none:
 * that usually means the DataSource file imports another copy of this library than the CLI runs.
 */
export function findFileEntities(dataSource: DataSource): FileEntity[] {
  const found: FileEntity[] = []
  for (const metadata of dataSource.entityMetadatas) {
    if (typeof metadata.target !== 'function') continue
    const columns = getFileColumns(metadata.target)
    if (columns.length > 0) found.push({ metadata, name: metadata.name, columns })
  }
  if (found.length === 0) {
    const names = dataSource.entityMetadatas.map((metadata) => metadata.name).join(', ') || 'none'
    throw new ConfigurationError(
      `No entity of the DataSource has a @FileColumn() (entities: ${names}). If its entities do, they ` +
        'import another copy of typeorm-downloadview than this command runs (such as src/ against dist/).',
    )
  }
  return found
}

/** The entities that `--entity` names (class or table names), or all of them. */
export function selectEntities(entities: FileEntity[], names: readonly string[]): FileEntity[] {
  if (names.length === 0) return entities
  return names.map((name) => {
    const entity = entities.find(
      (candidate) => candidate.name === name || candidate.metadata.tableName === name,
    )
    if (!entity) {
      throw new ConfigurationError(
        `--entity ${name}: no entity of that name has file columns (${entities.map((e) => e.name).join(', ')})`,
      )
    }
    return entity
  })
}

/**
 * The storage of each file column of `entities`, by column. Throws one ConfigurationError that names
 * every storage that is not registered, and the columns that use it.
 */
export function resolveStorages(entities: FileEntity[]): Map<FileColumnMetadata, Storage> {
  const resolved = new Map<FileColumnMetadata, Storage>()
  const missing = new Map<string, string[]>()
  for (const entity of entities) {
    for (const column of entity.columns) {
      const storage = storages.tryGet(column.storage)
      if (storage) resolved.set(column, storage)
      else
        missing.set(column.storage, [
          ...(missing.get(column.storage) ?? []),
          `${entity.name}.${column.propertyName}`,
        ])
    }
  }
  const [first] = missing
  if (first) {
    const [name, users] = first
    throw new ConfigurationError(
      `Storage "${name}" is not registered (used by ${users.join(', ')}): pass --storage ${name}=<path> or ` +
        `register it in the DataSource file (storages.register("${name}", …))`,
    )
  }
  return resolved
}

/**
 * A condition of a scan: SQL on the table (`"entity"."file_path" IS NOT NULL`), or a function that
 * writes it with the placeholders of the values it gives to `parameter`.
 */
export type Condition = string | ((parameter: ParameterSink) => string)

/**
 * The SQL of one scanned table: the file columns' conditions and keyset pages, on the same builder
 * as the views' row lookup (src/lookup/table-sql.ts): names from TypeORM's metadata (naming
 * strategy, schema), a child entity's discriminator.
 */
export class ScanTable {
  readonly sql: TableSql
  readonly primary: readonly ColumnMetadata[]

  constructor(
    readonly dataSource: DataSource,
    readonly entity: FileEntity,
  ) {
    this.sql = new TableSql(dataSource, entity.metadata)
    this.primary = this.sql.primary
    if (this.primary.length === 0)
      throw new ConfigurationError(`${entity.name} has no primary key to page through its rows by`)
  }

  /** The metadata of a file column's field (`path`, `size`…), as the naming strategy named it. */
  fieldColumn(column: FileColumnMetadata, field: string): ColumnMetadata {
    return this.sql.get(`${column.propertyName}.${field}`)
  }

  /** `"entity"."file_path"`. */
  field(column: FileColumnMetadata, field: string): string {
    return this.sql.column(this.fieldColumn(column, field))
  }

  /** The file column holds a path: `path IS NOT NULL AND path <> ''`. */
  hasFile(column: FileColumnMetadata): string {
    const path = this.field(column, 'path')
    return `(${path} IS NOT NULL AND ${path} <> '')`
  }

  /** Some file column holds a path. */
  anyFile(): string {
    return `(${this.entity.columns.map((column) => this.hasFile(column)).join(' OR ')})`
  }

  /**
   * The column holds a path and some of its metadata is NULL (see {@link metadataFields}), or its
   * content type is empty: the save hook fills both.
   */
  incomplete(column: FileColumnMetadata): string {
    const nulls = metadataFields(column).map(([field]) => {
      const name = this.field(column, field)
      return field === 'contentType' ? `(${name} IS NULL OR ${name} = '')` : `${name} IS NULL`
    })
    return `(${this.hasFile(column)} AND (${nulls.join(' OR ')}))`
  }

  /** Some file column is incomplete. */
  anyIncomplete(): string {
    return `(${this.entity.columns.map((column) => this.incomplete(column)).join(' OR ')})`
  }

  /**
   * `SELECT select FROM the table WHERE conditions`, after `after` in primary key order, at most
   * `limit` rows. Every row counts, soft-deleted ones too (`@DeleteDateColumn`): a row can be
   * restored, and its file with it.
   */
  statement(
    select: string,
    conditions: readonly Condition[],
    page: { after?: readonly unknown[]; order?: boolean; limit?: number } = {},
  ): { sql: string; values: unknown[] } {
    const values: unknown[] = []
    const parameter = positionalParameters(this.dataSource, values)
    const where = [
      ...this.sql.conditions({ withDeleted: true }),
      ...conditions.map((condition) => (typeof condition === 'string' ? condition : condition(parameter))),
      ...(page.after ? [this.sql.after(page.after, parameter)] : []),
    ]
    let sql = `SELECT ${select} FROM ${this.sql.from}`
    if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`
    if (page.order) sql += ` ORDER BY ${this.sql.primaryOrder}`
    if (page.limit !== undefined) sql += ` LIMIT ${Math.trunc(page.limit)}`
    return { sql, values }
  }

  /** `COUNT(*)` of the rows that `conditions` select, for the progress total. */
  async count(conditions: readonly Condition[], after: readonly unknown[] | undefined): Promise<number> {
    const { sql, values } = this.statement(`COUNT(*) AS ${this.sql.escape('count')}`, conditions, {
      ...(after && { after }),
    })
    const [row] = await this.dataSource.query(sql, values)
    return Number(row?.count ?? 0)
  }

  /** Whether some row meets `conditions`. */
  async exists(conditions: readonly Condition[]): Promise<boolean> {
    const { sql, values } = this.statement(`1 AS ${this.sql.escape('one')}`, conditions, { limit: 1 })
    return (await this.dataSource.query(sql, values)).length > 0
  }

  /**
   * The next `limit` rows after `after` that `conditions` select, as entities (every column TypeORM
   * would load), in primary key order.
   */
  async rows(
    conditions: readonly Condition[],
    after: readonly unknown[] | undefined,
    limit: number,
  ): Promise<ObjectLiteral[]> {
    const columns = this.sql.metadata.columns.filter(
      (column) => column.isPrimary || (column.isSelect && !column.isVirtualProperty),
    )
    const { sql, values } = this.statement(this.sql.select(columns), conditions, {
      ...(after && { after }),
      order: true,
      limit,
    })
    const raw: Record<string, unknown>[] = await this.dataSource.query(sql, values)
    return raw.map((row) => this.sql.hydrate(row, columns))
  }
}

/**
 * The fields of a file column that `backfill` fills and `check` calls incomplete when NULL, with
 * their database columns: every field but the path and the original name (size, contentType,
 * modifiedAt, sha256, and an image column's width, height, format and hasAlpha).
 */
export function metadataFields(column: FileColumnMetadata): [field: string, databaseName: string][] {
  return columnsOf(column).filter(([field]) => field !== 'path' && field !== 'name')
}

/**
 * The metadata fields of `column` that `fields` (one row's values) lacks: NULL, or an empty content
 * type. The same rule as {@link ScanTable.incomplete}, and as the save hook's.
 */
export function missingFields(column: FileColumnMetadata, fields: Record<string, unknown>): string[] {
  return metadataFields(column)
    .filter(
      ([field]) =>
        fields[field] === null ||
        fields[field] === undefined ||
        (field === 'contentType' && fields[field] === ''),
    )
    .map(([field]) => field)
}

/** Every field of a file column with its database column (an image column's image fields included). */
export function columnsOf(column: FileColumnMetadata): [field: string, databaseName: string][] {
  return Object.entries(column.columns).filter(
    (entry): entry is [string, string] => typeof entry[1] === 'string',
  )
}

/** One row of a raw page: its primary key values and each file column's raw fields. */
export interface RawRow {
  key: unknown[]
  files: Map<FileColumnMetadata, Record<string, unknown>>
}

/**
 * The rows that `conditions` select, `batchSize` at a time, with the primary key and every field of
 * every file column (raw values), starting after `after`. One query per page; memory holds one page.
 */
export async function* rawPages(
  table: ScanTable,
  conditions: readonly Condition[],
  batchSize: number,
  after?: readonly unknown[],
): AsyncGenerator<RawRow[]> {
  const select = [
    ...table.primary.map(
      (column, index) => `${table.sql.column(column)} AS ${table.sql.escape(`k${index}`)}`,
    ),
    ...table.entity.columns.flatMap((column, index) =>
      columnsOf(column).map(
        ([field]) => `${table.field(column, field)} AS ${table.sql.escape(`f${index}_${field}`)}`,
      ),
    ),
  ].join(', ')
  let last = after
  for (;;) {
    const { sql, values } = table.statement(select, conditions, {
      ...(last && { after: last }),
      order: true,
      limit: batchSize,
    })
    const raw: Record<string, unknown>[] = await table.dataSource.query(sql, values)
    if (raw.length === 0) return
    const rows = raw.map((record) => ({
      key: table.primary.map((_, index) => record[`k${index}`]),
      files: new Map(
        table.entity.columns.map((column, index) => [
          column,
          Object.fromEntries(columnsOf(column).map(([field]) => [field, record[`f${index}_${field}`]])),
        ]),
      ),
    }))
    yield rows
    last = rows[rows.length - 1]?.key
    if (raw.length < batchSize) return
  }
}

/** `Document#12`, or `Line#(3, 1)` for a composite key. */
export function rowLabel(entity: FileEntity, key: readonly unknown[]): string {
  return key.length === 1
    ? `${entity.name}#${String(key[0])}`
    : `${entity.name}#(${key.map(String).join(', ')})`
}

/** The key for JSON: the value itself, or `{ property: value }` for a composite key. */
export function rowId(table: ScanTable, key: readonly unknown[]): unknown {
  if (key.length === 1) return key[0]
  return Object.fromEntries(table.primary.map((column, index) => [column.propertyPath, key[index]]))
}

/** The key as `--resume-from` takes it: the value, or a JSON array for a composite key. */
export function keyText(key: readonly unknown[]): string {
  return key.length === 1 ? String(key[0]) : JSON.stringify(key)
}

/** Parses `--resume-from` for `table`: the value, or a JSON array of one value per key column. */
export function parseKey(table: ScanTable, text: string): unknown[] {
  if (table.primary.length === 1) return [text]
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  if (!Array.isArray(parsed) || parsed.length !== table.primary.length) {
    throw new ConfigurationError(
      `--resume-from: ${table.entity.name} has a composite key, give it as a JSON array of ${table.primary.length} values`,
    )
  }
  return parsed
}

/** The normalised key of a stored path, or `undefined` when it is not a safe key. */
export function safeKey(path: string): string | undefined {
  try {
    return normalizeKey(path)
  } catch {
    return undefined
  }
}
