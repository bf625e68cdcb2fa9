/**
 * @module The media type of an upload, read from its first bytes (magic numbers), never from the
 * name or the type the client declared: both are the client's to choose.
 *
 * Why not a library: `file-type`, the usual one, is ESM-only since v17. This package is CommonJS, so
 * it could load it only through `import()` (async, on the request path) or `require(esm)` (still
 * experimental on Node 20), and it would bring its own dependencies for a dozen byte comparisons.
 * The list is short on purpose: the types that uploads are usually limited to, each recognised by
 * a signature that cannot be mistaken for another.
 */
import { lookup } from 'mime-types'

/** How many bytes of a file are read before its type is decided (or all of it, if shorter). */
export const SNIFF_BYTES = 4096

/** A signature: the media type, and the bytes expected at an offset. */
interface Signature {
  type: string
  parts: { offset: number; bytes: Buffer }[]
}

const at = (offset: number, bytes: string | number[]) => ({
  offset,
  bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes),
})

/** The signatures, each from its format's specification. */
const SIGNATURES: Signature[] = [
  // ISO 32000-1 §7.5.2: the header line `%PDF-1.n`.
  { type: 'application/pdf', parts: [at(0, '%PDF-')] },
  // RFC 2083 §3.1: the eight-byte PNG signature.
  { type: 'image/png', parts: [at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])] },
  // JPEG: SOI marker, then the first marker's 0xFF.
  { type: 'image/jpeg', parts: [at(0, [0xff, 0xd8, 0xff])] },
  { type: 'image/gif', parts: [at(0, 'GIF87a')] },
  { type: 'image/gif', parts: [at(0, 'GIF89a')] },
  // A RIFF container whose form type is WEBP (RFC 9649).
  { type: 'image/webp', parts: [at(0, 'RIFF'), at(8, 'WEBP')] },
  // ZIP (APPNOTE 4.3): a local file header, an empty archive's end record, or a spanned archive.
  { type: 'application/zip', parts: [at(0, 'PK\x03\x04')] },
  { type: 'application/zip', parts: [at(0, 'PK\x05\x06')] },
  { type: 'application/zip', parts: [at(0, 'PK\x07\x08')] },
]

/** The type given to bytes that match no signature and are not text. */
export const UNKNOWN_TYPE = 'application/octet-stream'

/**
 * The media type of a file from its first bytes: one of the signatures above, else `text/plain`
 * for UTF-8 text without binary bytes, else `application/octet-stream`.
 *
 * @param head the file's first bytes ({@link SNIFF_BYTES}, or all of them)
 * @param whole whether `head` is the whole file (else a UTF-8 sequence cut at its end is not an error)
 * @example
 * sniffType(Buffer.from('%PDF-1.7\n'), true) // 'application/pdf'
 */
export function sniffType(head: Buffer, whole: boolean): string {
  for (const { type, parts } of SIGNATURES) {
    if (parts.every(({ offset, bytes }) => head.subarray(offset, offset + bytes.length).equals(bytes)))
      return type
  }
  return isText(head, whole) ? 'text/plain' : UNKNOWN_TYPE
}

/**
 * Types a file of a sniffed container may carry under its name: an Office document or an EPUB is a
 * ZIP, a CSV is text. None of them is rendered by a browser, so a name cannot make bytes into a
 * risky type (HTML, SVG, XML, JavaScript stay `text/plain`).
 */
const REFINEMENTS: Readonly<Record<string, ReadonlySet<string>>> = {
  'application/zip': new Set([
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    'application/vnd.oasis.opendocument.text',
    'application/vnd.oasis.opendocument.spreadsheet',
    'application/vnd.oasis.opendocument.presentation',
    'application/epub+zip',
    'application/java-archive',
  ]),
  'text/plain': new Set(['text/csv', 'text/markdown', 'text/tab-separated-values', 'application/json']),
}

/**
 * The type to store for a file whose bytes are `sniffed`: the sniffed type, or the more precise
 * one that `name` gives when it is a known refinement of it (`report.docx` that is a ZIP).
 *
 * @example
 * uploadType('application/zip', 'report.docx') // the .docx type
 * uploadType('text/plain', 'page.html') // 'text/plain'
 */
export function uploadType(sniffed: string, name: string | undefined): string {
  const byName = name ? lookup(name) : false
  return byName && REFINEMENTS[sniffed]?.has(byName) ? byName : sniffed
}

/**
 * Whether `head` reads as UTF-8 text (a BOM allowed) without a binary data byte, as the WHATWG
 * MIME Sniffing standard defines one: 0x00–0x08, 0x0B, 0x0E–0x1A, 0x1C–0x1F. An empty file
 * is text.
 */
function isText(head: Buffer, whole: boolean): boolean {
  for (const byte of head) {
    if (byte <= 0x08 || byte === 0x0b || (byte >= 0x0e && byte <= 0x1a) || (byte >= 0x1c && byte <= 0x1f))
      return false
  }
  try {
    // `stream: true` keeps a sequence cut at the end of a head for later instead of failing on it.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: !whole })
    return true
  } catch {
    return false
  }
}
