/**
 * @module SQL for one entity's table, built from TypeORM's metadata: the table (its schema included)
 * and columns as the naming strategy named them, quoted by the driver; the conditions that TypeORM's
 * own finds add (a child entity's discriminator, rows that `softRemove()` marked); select lists,
 * positional parameters, keyset pagination, and rows hydrated as TypeORM would. RowLookup (the views)
 * and the CLI's scans build every query they run from it.
 */
import type { DataSource, EntityMetadata, ObjectLiteral } from 'typeorm'
import { ConfigurationError } from '../errors'

/** A column's metadata, named from the root entry (both TypeORM majors have it at this path). */
export type ColumnMetadata = EntityMetadata['columns'][number]

/** The alias of the table in every query built here (`"entity"."slug"`). */
export const TABLE_ALIAS = 'entity'

/** Takes a parameter's value and gives its placeholder in the SQL (`$2`, or `:name` for a QueryBuilder). */
export type ParameterSink = (value: unknown) => string

/**
 * A sink of positional parameters: each value goes to `values` and gets the next `$n`, counting
 * after the `reserved` ones that the statement numbers itself (`$1`, the lookup value).
 */
export function positionalParameters(dataSource: DataSource, values: unknown[], reserved = 0): ParameterSink {
  return (value) => {
    values.push(value)
    return dataSource.driver.createParameter(`p${reserved + values.length}`, reserved + values.length - 1)
  }
}

/** The SQL of one entity's table: quoted names, TypeORM's own conditions, select lists, hydration. */
export class TableSql {
  readonly metadata: EntityMetadata
  /** The primary key columns, in the metadata's order. */
  readonly primary: readonly ColumnMetadata[]

  constructor(
    readonly dataSource: DataSource,
    metadata: EntityMetadata,
    readonly alias = TABLE_ALIAS,
  ) {
    this.metadata = metadata
    this.primary = metadata.primaryColumns
  }

  /** An identifier quoted by the driver: `"file_path"`. */
  escape(name: string): string {
    return this.dataSource.driver.escape(name)
  }

  /** The table with its schema, and the alias: `"media"."document" "entity"`. */
  get from(): string {
    const { schema, tableName } = this.metadata
    const table = [schema, tableName]
      .filter((part): part is string => typeof part === 'string' && part !== '')
      .map((part) => this.escape(part))
      .join('.')
    return `${table} ${this.escape(this.alias)}`
  }

  /** A column of the table, by its database name as the naming strategy made it: `"entity"."file_path"`. */
  column(column: ColumnMetadata): string {
    return `${this.escape(this.alias)}.${this.escape(column.databaseName)}`
  }

  /** The column at `propertyPath` (`slug`, `meta.code`, `file.path`), or `undefined`. */
  find(propertyPath: string): ColumnMetadata | undefined {
    return this.metadata.columns.find((column) => column.propertyPath === propertyPath)
  }

  /** The column at `propertyPath`, or a ConfigurationError that names it. */
  get(propertyPath: string): ColumnMetadata {
    const column = this.find(propertyPath)
    if (!column) throw new ConfigurationError(`${this.metadata.name} has no column "${propertyPath}"`)
    return column
  }

  /**
   * The conditions TypeORM's own finds add, which every query on the entity needs too: a child
   * entity of single-table inheritance sees only its own rows and its children's (the discriminator,
   * as TypeORM's QueryBuilder writes it), and rows that `softRemove()` marked are gone unless
   * `withDeleted`.
   */
  conditions(options: { withDeleted: boolean }): string[] {
    const conditions: string[] = []
    const { discriminatorColumn, parentEntityMetadata, deleteDateColumn } = this.metadata
    if (discriminatorColumn && parentEntityMetadata) {
      const values = [
        this.metadata.discriminatorValue,
        ...this.metadata.childEntityMetadatas
          .filter((child) => child.discriminatorColumn)
          .map((child) => child.discriminatorValue),
      ]
      // Literals from the entity's metadata, never from a request: the text stays one statement.
      conditions.push(`${this.column(discriminatorColumn)} IN (${values.map(literal).join(', ')})`)
    }
    if (deleteDateColumn && !options.withDeleted) conditions.push(`${this.column(deleteDateColumn)} IS NULL`)
    return conditions
  }

  /** A select list: `"entity"."id", "entity"."file_path"`, or with `as` each under its own name. */
  select(columns: readonly ColumnMetadata[], as?: (column: ColumnMetadata, index: number) => string): string {
    return columns
      .map((column, index) =>
        as ? `${this.column(column)} AS ${this.escape(as(column, index))}` : this.column(column),
      )
      .join(', ')
  }

  /** `"entity"."id" ASC`: primary key order, for keyset pages. */
  get primaryOrder(): string {
    return this.primary.map((column) => `${this.column(column)} ASC`).join(', ')
  }

  /**
   * Rows after `after` in primary key order: `pk > $n`, or for a composite key
   * `(a > $n) OR (a = $n AND b > $m)`, which every database understands.
   */
  after(after: readonly unknown[], parameter: ParameterSink): string {
    const alternatives = this.primary.map((column, index) => {
      const equal = this.primary
        .slice(0, index)
        .map((previous, i) => `${this.column(previous)} = ${parameter(after[i])}`)
      return [...equal, `${this.column(column)} > ${parameter(after[index])}`].join(' AND ')
    })
    return `(${alternatives.map((alternative) => `(${alternative})`).join(' OR ')})`
  }

  /**
   * An entity made from one raw row, as TypeORM hydrates it: each of `columns` read from `raw`
   * (under its database name, or `key`), through the driver's conversions and the columns'
   * transformers; embedded objects and a relation's `{ id }` built along the way. A row of a child
   * entity (single-table inheritance) becomes an instance of that child when the discriminator is
   * among the columns.
   */
  hydrate<E extends ObjectLiteral>(
    raw: Record<string, unknown>,
    columns: readonly ColumnMetadata[],
    key: (column: ColumnMetadata) => string = (column) => column.databaseName,
  ): E {
    const { discriminatorColumn } = this.metadata
    const kind =
      discriminatorColumn && this.metadata.childEntityMetadatas.length > 0
        ? raw[key(discriminatorColumn)]
        : undefined
    const metadata =
      (kind !== undefined &&
        kind !== null &&
        this.metadata.childEntityMetadatas.find(
          (child) => String(child.discriminatorValue) === String(kind),
        )) ||
      this.metadata
    const entity = metadata.create() as E
    const { driver } = this.dataSource
    for (const column of columns) {
      column.setEntityValue(entity, driver.prepareHydratedValue(raw[key(column)], column))
    }
    return entity
  }
}

/** A SQL string literal, with its quotes doubled. */
function literal(value: unknown): string {
  return `'${String(value).replaceAll("'", "''")}'`
}
