/**
 * @module The key of a cached lookup: the parts that decide its answer (the statement, the
 * looked-up value, the scope's values), encoded so that two keys are equal only when every part is
 * equal, value by value and type by type. A scope can then never be answered from another scope's
 * entry.
 */

/**
 * An unambiguous key for `parts`, or `undefined` when a part has no faithful encoding here (a
 * class instance other than Date or a byte array, a function, a symbol): such a lookup is not
 * cached. Strings are length-prefixed and every value is tagged with its type, so `['a,b']` and
 * `['a', 'b']`, `1` and `'1'`, `null` and `'null'` all get different keys. An object's keys keep
 * their order (two orders are two keys: a lost hit at worst, never a wrong one).
 *
 * @example
 * rowCacheKey(['typeorm_downloadview_3f…', 'report-2024', 7]) // 's26:typeorm_downloadview_3f…s11:report-2024n7;'
 */
export function rowCacheKey(parts: readonly unknown[]): string | undefined {
  let key = ''
  for (const part of parts) {
    const encoded = encode(part, 0)
    if (encoded === undefined) return undefined
    key += encoded
  }
  return key
}

/** How deep arrays and objects in a scope value are encoded; deeper values are not cached. */
const MAX_DEPTH = 8

function encode(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return `s${value.length}:${value}`
    case 'number':
      return `n${Object.is(value, -0) ? '-0' : String(value)};`
    case 'bigint':
      return `b${value.toString()};`
    case 'boolean':
      return value ? 't;' : 'f;'
    case 'undefined':
      return 'u;'
    case 'object':
      break
    default:
      return undefined
  }
  if (value === null) return 'z;'
  if (value instanceof Date) return `d${value.getTime()};`
  if (value instanceof Uint8Array) {
    const hex = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')
    return `x${hex.length}:${hex}`
  }
  if (depth >= MAX_DEPTH) return undefined
  if (Array.isArray(value)) {
    let encoded = `a${value.length}[`
    for (const item of value) {
      const part = encode(item, depth + 1)
      if (part === undefined) return undefined
      encoded += part
    }
    return `${encoded}]`
  }
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) return undefined
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  let encoded = `o${keys.length}{`
  for (const key of keys) {
    const part = encode(record[key], depth + 1)
    if (part === undefined) return undefined
    encoded += `s${key.length}:${key}${part}`
  }
  return `${encoded}}`
}
