/**
 * @module Byte-range parsing (RFC 9110 §14).
 *
 * Our own parser rather than `range-parser`: its 1.x line (the one that runs on Node 20) calls a
 * malformed spec such as `bytes=5-2` or `bytes=x-1` unsatisfiable (416) where RFC 9110 §14.2 says to
 * ignore the header (200), and it reads numbers with `parseInt`, so `bytes=1x-2` passes. Its 2.x line
 * fixes both but needs Node 22. This follows 2.x's rules.
 */
import type { ByteRange } from '../storage/storage'

/** What a Range header asks of a representation of known size. */
export type RangeResult =
  | { kind: 'full' } // no Range, a malformed one, another unit, or more ranges than we serve
  | { kind: 'partial'; ranges: ByteRange[] } // one or more satisfiable, coalesced, ascending
  | { kind: 'unsatisfiable' } // well-formed, but no range overlaps the representation

/** Limits on what a Range header may ask. */
export interface RangeLimits {
  /** Most ranges served in one multipart response after coalescing; more → the full body. */
  maxRanges: number
}

const MAX_SPECS = 1000
const FIRST_LAST = /^(\d+)-(\d*)$/
const SUFFIX = /^-(\d+)$/

/** Parses `header` against a representation of `size` bytes. */
export function parseRange(header: string | undefined, size: number, limits: RangeLimits): RangeResult {
  if (header === undefined) return { kind: 'full' }
  const eq = header.indexOf('=')
  // Range units are case-insensitive (§14.1); any unit but bytes is ignored.
  if (eq === -1 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'full' }
  const specs = header
    .slice(eq + 1)
    .split(',')
    .map((spec) => spec.trim())
    .filter((spec) => spec !== '')
  // An empty set is invalid; a huge one is a denial-of-service attempt: both are ignored.
  if (specs.length === 0 || specs.length > MAX_SPECS) return { kind: 'full' }

  const satisfiable: ByteRange[] = []
  let emptySuffix = false
  for (const spec of specs) {
    const firstLast = FIRST_LAST.exec(spec)
    if (firstLast) {
      const first = Number(firstLast[1])
      const last = firstLast[2] === '' ? Number.POSITIVE_INFINITY : Number(firstLast[2])
      if (last < first) return { kind: 'full' } // invalid spec → the whole header is ignored
      if (first < size) satisfiable.push({ start: first, end: Math.min(last, size - 1) })
      continue
    }
    const suffix = SUFFIX.exec(spec)
    if (suffix) {
      const length = Number(suffix[1])
      if (length === 0) continue
      // A non-zero suffix of an empty representation is satisfiable, but there is no byte to send.
      if (size === 0) emptySuffix = true
      else satisfiable.push({ start: Math.max(size - length, 0), end: size - 1 })
      continue
    }
    return { kind: 'full' }
  }
  if (satisfiable.length === 0) return emptySuffix ? { kind: 'full' } : { kind: 'unsatisfiable' }
  const ranges = coalesce(satisfiable)
  if (ranges.length > limits.maxRanges) return { kind: 'full' }
  return { kind: 'partial', ranges }
}

/** Sorts ranges and merges the ones that overlap or touch (§14.3 lets a server coalesce). */
export function coalesce(ranges: ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start)
  const merged: ByteRange[] = []
  for (const range of sorted) {
    const previous = merged[merged.length - 1]
    if (previous && range.start <= previous.end + 1) previous.end = Math.max(previous.end, range.end)
    else merged.push({ ...range })
  }
  return merged
}
