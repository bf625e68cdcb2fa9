/** @module File names a client may see: basenames only, no control characters, an ASCII fallback. */

// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g
// Bidirectional overrides and invisible formatting can make "evil.exe\u202Etxt.pdf" look like a PDF.
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/**
 * The last segment of `name` (either separator), with control and bidi characters removed and
 * surrounding white space and dots trimmed; `fallback` when nothing is left.
 */
export function safeBasename(name: string, fallback = 'download'): string {
  const last = name.split(/[\\/]/).pop() ?? ''
  const cleaned = last
    .replace(CONTROL, '')
    .replace(BIDI, '')
    .normalize('NFC')
    .trim()
    .replace(/^\.+|\.+$/g, '')
    .trim()
  return cleaned === '' ? fallback : cleaned
}

/**
 * An ASCII rendering of a safe basename for the plain `filename` parameter: accents are dropped
 * (`résumé` → `resume`), other non-ASCII characters and the characters that need quoting or could
 * be read as escapes (`"`, `\`, `%`) become `_`.
 */
export function asciiFilename(name: string): string {
  const ascii = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]|["\\%]/g, '_')
  return ascii.replace(/^[\s.]+|[\s.]+$/g, '') || 'download'
}

/** The longest extension that {@link truncateName} keeps whole (`.tar.gz` is two; `.gz` survives). */
const MAX_EXTENSION_BYTES = 16

/**
 * `name` cut to at most `maxBytes` bytes of UTF-8, keeping its extension (`.pdf`) when it has a
 * short one; never splits a character. Names that fit are returned as they are.
 *
 * @example
 * truncateName('a'.repeat(300) + '.pdf', 100) // 96 × 'a' + '.pdf'
 */
export function truncateName(name: string, maxBytes: number): string {
  if (Buffer.byteLength(name) <= maxBytes) return name
  const dot = name.lastIndexOf('.')
  const extension = dot > 0 ? name.slice(dot) : ''
  const keep = Buffer.byteLength(extension) <= MAX_EXTENSION_BYTES && extension.length < name.length
  const tail = keep ? extension : ''
  const base = keep ? name.slice(0, dot) : name
  let budget = maxBytes - Buffer.byteLength(tail)
  let cut = ''
  for (const character of base) {
    budget -= Buffer.byteLength(character)
    if (budget < 0) break
    cut += character
  }
  return cut + tail
}
