/** @module Storage key normalisation: one rule that every storage adapter applies. */
import { BadPathError, FileNotFoundError, UnsafePathError } from '../errors'
import type { Storage } from './storage'

/**
 * Normalises a storage key to `a/b/c.txt` form, or throws.
 *
 * - a NUL byte or a control character → `BadPathError` (400): no file system stores them safely;
 * - an absolute key, a Windows drive, a backslash, or a `..` segment → `UnsafePathError` (404):
 *   they can only be attempts to leave the storage root, and the client learns nothing more;
 * - empty segments and `.` segments are dropped (`a//./b` → `a/b`); an empty result is refused.
 *
 * Keys are never URL-decoded here: decoding belongs to the HTTP layer, once. A key that still holds
 * `%2e%2e` after that is a literal file name, and harmless.
 */
export function normalizeKey(key: string): string {
  if (typeof key !== 'string') throw new BadPathError('A storage key must be a string')
  const segments = safeSegments(key, 'key')
  if (segments.length === 0) throw new BadPathError('A storage key must name a file')
  return segments.join('/')
}

/**
 * Normalises a `Storage.list()` prefix with the rules of {@link normalizeKey}, except that an empty
 * prefix (`''`, `undefined`, `'./'`) means every key and a trailing slash is kept: `variants/`
 * matches `variants/a.webp` but not `variants.txt`, while `variants` matches both.
 */
export function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined) return ''
  if (typeof prefix !== 'string') throw new BadPathError('A storage key prefix must be a string')
  const segments = safeSegments(prefix, 'key prefix')
  if (segments.length === 0) return ''
  return segments.join('/') + (prefix.endsWith('/') ? '/' : '')
}

/** The segments of `key` without empty and `.` ones; throws for what no storage may accept. */
function safeSegments(key: string, what: string): string[] {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(key))
    throw new BadPathError(`A storage ${what} must not hold control characters`)
  // Backslash: a separator on Windows and in some proxies; never part of a safe key.
  if (key.includes('\\')) throw new UnsafePathError(`Unsafe storage ${what} "${key}" (backslash)`)
  if (key.startsWith('/') || /^[A-Za-z]:/.test(key))
    throw new UnsafePathError(`Unsafe storage ${what} "${key}" (absolute)`)
  const segments: string[] = []
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') throw new UnsafePathError(`Unsafe storage ${what} "${key}" (parent segment)`)
    segments.push(segment)
  }
  return segments
}

/**
 * `exists()` in terms of `stat()`: `false` for a missing file and for a key that is not safe, so a
 * probe never throws for what a client typed; other failures (permissions, I/O) still throw.
 */
export async function existsByStat(storage: Pick<Storage, 'stat'>, key: string): Promise<boolean> {
  try {
    await storage.stat(key)
    return true
  } catch (error) {
    if (
      error instanceof FileNotFoundError ||
      error instanceof UnsafePathError ||
      error instanceof BadPathError
    ) {
      return false
    }
    throw error
  }
}
