/**
 * @module A per-request scope in TypeORM's own terms (a `FindOptionsWhere`, as `findBy` takes it)
 * compiled to a SQL condition on one table. The text depends only on the scope's shape (which
 * columns, which operators); its values go out through a parameter sink, never into the text. So a
 * scoped lookup stays one prepared statement per shape.
 */
import type { FindOperator, ObjectLiteral } from 'typeorm'
import { ConfigurationError } from '../errors'
import type { ColumnMetadata, ParameterSink, TableSql } from './table-sql'

/** A scope: what `findBy()` takes; an array is an OR of its objects. */
export type Scope = ObjectLiteral | ObjectLiteral[]

/** Comparison operators, by FindOperator type, as TypeORM writes them. */
const COMPARISONS: Record<string, string> = {
  equal: '=',
  lessThan: '<',
  lessThanOrEqual: '<=',
  moreThan: '>',
  moreThanOrEqual: '>=',
  like: 'LIKE',
  ilike: 'ILIKE',
}

/** What a scope may hold, for the error message that refuses anything else. */
const SUPPORTED =
  'columns, embedded properties and the key of a many-to-one or owning one-to-one relation ({ owner: { id } }), ' +
  'each compared with a value, Equal(), Not(), IsNull(), In(), Any(), LessThan(), LessThanOrEqual(), ' +
  'MoreThan(), MoreThanOrEqual(), Between(), Like() or ILike()'

/** One compilation: the table, where the values go, and who asks (for messages). */
interface Compilation {
  table: TableSql
  parameter: ParameterSink
  /** `ObjectDownloadView: option "where"`. */
  origin: string
}

/**
 * The condition `scope` sets on `table`, with its values given to `parameter`; `''` for a scope
 * without any condition (`{}`). An empty array matches no row (unlike `findBy([])`, which matches
 * all): a scope built from an empty list of allowed values must not open every row.
 *
 * Throws a ConfigurationError, which starts with `origin` and names what it cannot compile (a Raw()
 * operator, a property that needs a join, `undefined` or `null` as a value): the shape of a scope
 * is known only per request, so this happens at the first request with that shape, not at startup.
 *
 * @example
 * scopeSql(table, { owner: { id: 7 }, deletedBy: IsNull() }, sink, 'ObjectDownloadView: option "where"')
 * // '"entity"."owner_id" = $2 AND "entity"."deleted_by" IS NULL', and 7 given to `sink`
 */
export function scopeSql(table: TableSql, scope: Scope, parameter: ParameterSink, origin: string): string {
  const compilation: Compilation = { table, parameter, origin }
  if (Array.isArray(scope)) {
    if (scope.length === 0) return 'FALSE'
    const branches = scope.map((branch) => conjunction(compilation, branch, ''))
    return `(${branches.map((branch) => `(${branch || 'TRUE'})`).join(' OR ')})`
  }
  if (!isPlainObject(scope))
    throw unsupported(compilation, `${describe(scope)} as the scope (give an object)`)
  return conjunction(compilation, scope, '')
}

/** The conditions of one object of a scope, ANDed; `''` when it has none. */
function conjunction(compilation: Compilation, where: unknown, prefix: string): string {
  if (!isPlainObject(where)) throw unsupported(compilation, `${describe(where)} in an array of scopes`)
  const { metadata } = compilation.table
  const parts: string[] = []
  for (const key of Object.keys(where)) {
    const path = prefix ? `${prefix}.${key}` : key
    const value: unknown = where[key]
    const relation = metadata.findRelationWithPropertyPath(path)
    if (relation) {
      if (!relation.isManyToOne && !relation.isOneToOneOwner)
        throw unsupported(compilation, `"${path}", a ${relation.relationType} relation, which needs a join`)
      parts.push(...relationConditions(compilation, relation.joinColumns, value, path))
    } else if (metadata.findEmbeddedWithPropertyPath(path)) {
      if (!isPlainObject(value))
        throw unsupported(
          compilation,
          `${describe(value)} for "${path}", an embedded entity (give its properties)`,
        )
      const inner = conjunction(compilation, value, path)
      if (inner) parts.push(inner)
    } else {
      const column = compilation.table.find(path)
      if (!column) throw unsupported(compilation, `"${path}", which is not a column of ${metadata.name}`)
      parts.push(predicate(compilation, column, value, path))
    }
  }
  return parts.join(' AND ')
}

/**
 * `{ owner: { id } }` on the relation's join column, without a join, as TypeORM does it; or an
 * operator (`{ owner: IsNull() }`) on its one join column. Other properties of the related entity
 * need a join: refused.
 */
function relationConditions(
  compilation: Compilation,
  joinColumns: readonly ColumnMetadata[],
  value: unknown,
  path: string,
): string[] {
  if (isFindOperator(value)) {
    const [only] = joinColumns
    if (joinColumns.length !== 1 || !only)
      throw unsupported(
        compilation,
        `an operator on "${path}", a relation with ${joinColumns.length} join columns`,
      )
    return [predicate(compilation, only, value, path)]
  }
  if (!isPlainObject(value))
    throw unsupported(compilation, `${describe(value)} for "${path}", a relation (give its key: { id })`)
  return Object.keys(value).map((key) => {
    const column = joinColumns.find((join) => join.referencedColumn?.propertyPath === key)
    if (!column)
      throw unsupported(
        compilation,
        `"${path}.${key}", which needs a join (only the relation's key does not)`,
      )
    return predicate(compilation, column, value[key], `${path}.${key}`)
  })
}

/** One column compared with a value or an operator. */
function predicate(compilation: Compilation, column: ColumnMetadata, value: unknown, path: string): string {
  const name = compilation.table.column(column)
  const parameter = (raw: unknown) => compilation.parameter(toDatabase(compilation, column, raw, path))
  if (!isFindOperator(value)) return `${name} = ${parameter(value)}`
  const operator = value as FindOperator<unknown>
  const type = operator.type
  const comparison = COMPARISONS[type]
  if (comparison) return `${name} ${comparison} ${parameter(operator.value)}`
  switch (type) {
    case 'isNull':
      return `${name} IS NULL`
    case 'not':
      // Not(value) is NOT(= value); Not(In([...])), Not(IsNull())… wrap the inner operator.
      return `NOT(${predicate(compilation, column, operator.child ?? operator.value, path)})`
    case 'in':
    case 'any': {
      const values = operator.value
      if (!Array.isArray(values)) throw unsupported(compilation, `${type}() on "${path}" without an array`)
      // One array parameter, whatever its length: the text keeps its shape.
      const items = values.map((item) => toDatabase(compilation, column, item, path))
      return `${name} = ANY(${compilation.parameter(items)})`
    }
    case 'between': {
      const bounds = operator.value
      if (!Array.isArray(bounds) || bounds.length !== 2)
        throw unsupported(compilation, `Between() on "${path}" without two values`)
      return `${name} BETWEEN ${parameter(bounds[0])} AND ${parameter(bounds[1])}`
    }
    default:
      throw unsupported(compilation, `${type}() on "${path}"`)
  }
}

/** A value as the database takes it: checked, then through the column's transformers, as `findBy` does. */
function toDatabase(compilation: Compilation, column: ColumnMetadata, value: unknown, path: string): unknown {
  if (value === undefined)
    throw unsupported(
      compilation,
      `undefined for "${path}" (a scope that names a property must give its value)`,
    )
  if (value === null) throw unsupported(compilation, `null for "${path}" (use IsNull())`)
  if (isFindOperator(value))
    throw unsupported(
      compilation,
      `${(value as FindOperator<unknown>).type}() inside another operator on "${path}"`,
    )
  if (typeof value === 'object' && !(value instanceof Date) && !Buffer.isBuffer(value))
    throw unsupported(compilation, `${describe(value)} for "${path}", a column`)
  const { transformer } = column
  if (!transformer) return value
  const transformers = Array.isArray(transformer) ? [...transformer].reverse() : [transformer]
  return transformers.reduce((current, each) => each.to(current), value)
}

function unsupported(compilation: Compilation, what: string): ConfigurationError {
  return new ConfigurationError(
    `${compilation.origin}: the scope of ${compilation.table.metadata.name} has ${what}, which a scope cannot hold. ` +
      `It may hold ${SUPPORTED}; for anything else, use the "query" option.`,
  )
}

const OPERATOR_MARKS = new Set([Symbol.for('FindOperator'), Symbol.for('EqualOperator')])

/**
 * A FindOperator (or Equal()'s EqualOperator), by the mark TypeORM's InstanceChecker reads:
 * `instanceof` fails across two loaded copies of TypeORM.
 */
function isFindOperator(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    OPERATOR_MARKS.has((value as { '@instanceof'?: symbol })['@instanceof'] as symbol)
  )
}

function isPlainObject(value: unknown): value is ObjectLiteral {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

/** `a string`, `an Object`, `an array`, `undefined`: what a value is, for messages. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value)
  if (Array.isArray(value)) return 'an array'
  const name = typeof value === 'object' ? ((value as object).constructor?.name ?? 'object') : typeof value
  return `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name}`
}
