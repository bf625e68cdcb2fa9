/** @module An estimate of the memory a cached value holds, for the byte bound of a RowCache. */

/** What a JavaScript value slot costs besides its contents (a pointer, a property's entry). */
const SLOT = 8
/** What an object or an array costs before its properties (V8's header and backing store). */
const OBJECT = 32
/** How deep a value is walked; deeper parts are counted as one object each. */
const MAX_DEPTH = 8

/**
 * About how many bytes `value` holds in memory: two per character of a string (V8 may store
 * Latin-1 in one, so this errs high), eight per number or boolean, a Buffer's length, and the
 * headers and slots of objects and arrays, walked to a bounded depth (a cycle counts once per
 * level, never forever). An estimate for a bound, not a measurement.
 *
 * @example estimateBytes({ id: 1, file_path: 'docs/a.pdf' }) // 32 + 2 × (8 + 2 × 2) + 8 + 2 × 9 + 2 × 10 + …
 */
export function estimateBytes(value: unknown, depth = 0): number {
  switch (typeof value) {
    case 'string':
      return 2 * value.length
    case 'number':
    case 'boolean':
      return SLOT
    case 'bigint':
      return 16 + 8 * Math.ceil(value.toString(16).length / 16)
    case 'object':
      break
    default:
      // undefined, a symbol, a function: a slot.
      return SLOT
  }
  if (value === null) return SLOT
  if (value instanceof Date) return OBJECT + SLOT
  if (ArrayBuffer.isView(value)) return OBJECT + value.byteLength
  if (depth >= MAX_DEPTH) return OBJECT
  let bytes = OBJECT
  if (Array.isArray(value)) {
    for (const item of value) bytes += SLOT + estimateBytes(item, depth + 1)
    return bytes
  }
  for (const key of Object.keys(value)) {
    bytes += SLOT + 2 * key.length + estimateBytes((value as Record<string, unknown>)[key], depth + 1)
  }
  return bytes
}
