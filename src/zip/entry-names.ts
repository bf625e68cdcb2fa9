/**
 * @module Names of ZIP entries that are safe to extract anywhere: relative, without `..`, control
 * or bidi characters, backslashes or colons, and each unique (`a.txt`, `a (2).txt`), whatever names
 * the rows or the hook gave.
 */
import { truncateName } from '../files/filename'

// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g
// Bidirectional overrides and invisible formatting can make "evil.exe\u202Etxt.pdf" look like a PDF.
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g
/** The most bytes of UTF-8 in one segment: what file systems allow in a name. */
const MAX_SEGMENT_BYTES = 255
/** The most segments of one name: deeper folders are not worth a reader's recursion. */
const MAX_SEGMENTS = 32

/**
 * `name` as a safe entry name: `/` between segments (a backslash is a separator too, as Windows
 * reads it); empty, `.` and `..` segments dropped, so the name is relative and stays inside the
 * folder it is extracted to; control and bidi characters removed; `:` (drive letters, NTFS streams)
 * made `_`; each segment trimmed of white space and of dots at its end, and cut to 255 bytes;
 * `fallback` when nothing is left.
 *
 * @example
 * zipEntryName('../../etc/passwd') // 'etc/passwd'
 * zipEntryName('C:\\Users\\a.txt') // 'C_/Users/a.txt'
 */
export function zipEntryName(name: string, fallback = 'file'): string {
  const segments: string[] = []
  for (const raw of String(name).split(/[\\/]/)) {
    const segment = raw
      .replace(CONTROL, '')
      .replace(BIDI, '')
      .normalize('NFC')
      .replace(/:/g, '_')
      .trim()
      // Windows drops trailing dots and spaces: `a.txt.` would land on `a.txt`.
      .replace(/[.\s]+$/, '')
    if (segment === '' || segment === '.' || segment === '..') continue
    segments.push(truncateName(segment, MAX_SEGMENT_BYTES))
  }
  const kept = segments.slice(-MAX_SEGMENTS)
  return kept.length === 0 ? fallback : kept.join('/')
}

/**
 * Safe, unique names for entries named `names`, in order: a name already taken (compared without
 * case, as Windows and macOS file systems compare them) gets ` (2)`, ` (3)`… before its extension.
 *
 * @example
 * zipEntryNames(['a.txt', 'A.txt', 'a (2).txt']) // ['a.txt', 'A (2).txt', 'a (2) (2).txt']
 */
export function zipEntryNames(names: readonly string[]): string[] {
  const taken = new Set<string>()
  return names.map((raw) => {
    const name = zipEntryName(raw)
    let candidate = name
    for (let copy = 2; taken.has(candidate.toLowerCase()); copy++) candidate = numbered(name, copy)
    taken.add(candidate.toLowerCase())
    return candidate
  })
}

/** `dir/a.tar.gz` with copy 2 → `dir/a.tar (2).gz`: the number before the last extension. */
function numbered(name: string, copy: number): string {
  const slash = name.lastIndexOf('/')
  const folder = name.slice(0, slash + 1)
  const base = name.slice(slash + 1)
  const dot = base.lastIndexOf('.')
  // A short extension stays last (`a (2).pdf`); a long "extension" is part of the stem.
  const short = dot > 0 && Buffer.byteLength(base.slice(dot)) <= 16
  const [stem, extension] = short ? [base.slice(0, dot), base.slice(dot)] : [base, '']
  const suffix = ` (${copy})${extension}`
  // The stem gives way, never the number: a cut number would name the same file again.
  const room = Math.max(1, MAX_SEGMENT_BYTES - Buffer.byteLength(suffix))
  return `${folder}${cutTo(stem, room)}${suffix}`
}

/** `text` cut to at most `bytes` bytes of UTF-8, never inside a character. */
function cutTo(text: string, bytes: number): string {
  let cut = ''
  let budget = bytes
  for (const character of text) {
    budget -= Buffer.byteLength(character)
    if (budget < 0) break
    cut += character
  }
  return cut
}
