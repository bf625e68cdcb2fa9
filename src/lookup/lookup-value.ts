/**
 * @module What a lookup value from a URL may be, by the type of the column it is matched against:
 * a value that cannot match (a non-numeric id, a malformed uuid, a NUL byte) finds nothing without a
 * query, so the database never sees a value it would refuse with an error (a 500 instead of a 404).
 */
import type { ColumnMetadata } from './table-sql'

/** How the values of one lookup column are checked, and cast in a batched lookup. */
export interface LookupValueKind {
  /** Whether `value` can equal a value of the column. */
  accepts(value: string): boolean
  /**
   * The cast that turns the text of an accepted value into the column's type in the batched
   * lookup (`::int8`; `''` for text), or `undefined` for types it is not written for (citext,
   * char(n), enums…), which are looked up one by one with the column's own comparison.
   */
  cast: string | undefined
}

const INTEGER_MAX: Record<string, bigint> = {
  int2: 32767n,
  smallint: 32767n,
  int: 2147483647n,
  int4: 2147483647n,
  integer: 2147483647n,
  // A `number` property without an explicit type is an integer column on Postgres.
  number: 2147483647n,
  int8: 9223372036854775807n,
  bigint: 9223372036854775807n,
}
const TEXT_TYPES = new Set(['text', 'varchar', 'character varying', 'string'])
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DECIMAL = /^-?\d{1,131072}(\.\d{1,16383})?$/

/** The kind of lookup values `column` takes, from its type in the metadata. */
export function lookupValueKind(column: ColumnMetadata): LookupValueKind {
  const type = String(typeof column.type === 'function' ? column.type.name : column.type).toLowerCase()
  const max = INTEGER_MAX[type]
  if (max !== undefined)
    return { accepts: (value) => /^\d{1,19}$/.test(value) && BigInt(value) <= max, cast: '::int8' }
  if (type === 'uuid') return { accepts: (value) => UUID.test(value), cast: '::uuid' }
  if (type === 'numeric' || type === 'decimal')
    return { accepts: (value) => DECIMAL.test(value), cast: '::numeric' }
  return { accepts: () => true, cast: TEXT_TYPES.has(type) ? '' : undefined }
}

/** Whether `value` may be looked up at all: present, and free of NUL bytes (which no text column holds). */
export function isLookupValue(value: string | undefined): value is string {
  return value !== undefined && !value.includes('\u0000')
}
