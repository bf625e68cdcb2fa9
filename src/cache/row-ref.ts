/**
 * @module How a change names its row: the schema-qualified table, and the primary key as text,
 * built the same way in TypeScript (from an entity or a raw row) and in SQL (by the trigger), so
 * that a notification from either names the row a cache entry recorded.
 */
import type { DataSource, EntityMetadata, ObjectLiteral } from 'typeorm'
import { ConfigurationError } from '../errors'

/**
 * The primary key column types whose text is the same in TypeScript (as `pg` returns them) and in
 * Postgres (`->>` of the row as jsonb): integers, strings and uuids. Others (a timestamp, a numeric
 * with a scale, bytea) are refused by the trigger, and not cached.
 */
const KEY_TYPES = new Set([
  'smallint',
  'integer',
  'bigint',
  'int',
  'int2',
  'int4',
  'int8',
  'text',
  'varchar',
  'character varying',
  'citext',
  'uuid',
])

/** Whether a column of type `type` (`integer`, `character varying(255)`) can be part of a row's id. */
export function isKeyType(type: string): boolean {
  return KEY_TYPES.has(
    type
      .replace(/\(.*\)$/, '')
      .trim()
      .toLowerCase(),
  )
}

/**
 * A row's primary key as text: the one value as it is, or, for a composite key, the values joined
 * with `,` after each had `\` doubled and `,` escaped as `\,` (so `('a,b', 'c')` and `('a', 'b,c')`
 * differ). `undefined` when a value is missing or not a string, a number or a bigint.
 *
 * @example rowId([7]) // '7'
 * @example rowId(['a,b', 'c']) // 'a\\,b,c'
 */
export function rowId(values: readonly unknown[]): string | undefined {
  if (values.length === 0) return undefined
  const parts: string[] = []
  for (const value of values) {
    if (typeof value === 'string') parts.push(value)
    else if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'bigint')
      parts.push(String(value))
    else return undefined
  }
  if (parts.length === 1) return parts[0]
  return parts.map((part) => part.replaceAll('\\', '\\\\').replaceAll(',', '\\,')).join(',')
}

/**
 * The SQL of one part of a composite id, `rowId()`'s escaping: `\` doubled, `,` as `\,`. `chr(92)`
 * is the backslash, written so that no setting (`standard_conforming_strings`) can change it.
 */
export function rowIdPartSql(text: string): string {
  return `replace(replace(${text}, chr(92), chr(92) || chr(92)), ',', chr(92) || ',')`
}

/** The id of `entity` (an entity, or a plain object with its primary key) by its metadata. */
export function entityRowId(metadata: EntityMetadata, entity: ObjectLiteral): string | undefined {
  return rowId(metadata.primaryColumns.map((column) => column.getEntityValue(entity)))
}

/**
 * The id of a raw row, as the database returned it (keys are column names: a RowLookup's select).
 * @example rawRowId(metadata, { id: 7, file_path: 'docs/a.pdf' }) // '7'
 */
export function rawRowId(metadata: EntityMetadata, row: Record<string, unknown>): string | undefined {
  return rowId(metadata.primaryColumns.map((column) => row[column.databaseName]))
}

/**
 * The table of an entity as notifications name it: `schema.table`, the schema being the entity's,
 * else the DataSource's (`schema` option, else the connection's `current_schema()`, which is where
 * a migration without a schema created the table), as the trigger's `TG_TABLE_SCHEMA` gives it.
 * Needs an initialized DataSource when the entity names no schema.
 */
export function changeTableOf(dataSource: DataSource, metadata: EntityMetadata): string {
  const schema = metadata.schema || (dataSource.driver as { schema?: string }).schema
  if (!schema)
    throw new ConfigurationError(
      `The schema of ${metadata.name} is not known yet: initialize its DataSource first`,
    )
  return `${schema}.${metadata.tableName}`
}

/** Whether `metadata`'s primary key can name its rows in notifications (see {@link isKeyType}). */
export function keyColumnsProblem(dataSource: DataSource, metadata: EntityMetadata): string | undefined {
  if (metadata.primaryColumns.length === 0) return `${metadata.name} has no primary key`
  for (const column of metadata.primaryColumns) {
    const type = dataSource.driver.normalizeType(column)
    if (column.isArray || !isKeyType(type))
      return `${metadata.name}.${column.propertyPath} is a primary key column of type ${type}${column.isArray ? '[]' : ''}, whose text TypeScript and Postgres may write differently (supported: ${[...KEY_TYPES].join(', ')})`
  }
  return undefined
}
