/** Test fixtures for the responder: an in-memory DownloadFile, stream readers, a multipart parser. */
import { Readable } from 'node:stream'
import type { DownloadFile, FileLocation } from '../../../src/files/download-file'
import type { ByteRange } from '../../../src/storage/storage'

/** The bytes of test/fixtures/nums.txt: `bytes=2-5` → `3456`. */
export const NUMS = Buffer.from('123456789')

/** A fixed modification time, whole seconds: `Tue, 02 Jan 2024 03:04:05 GMT`. */
export const MODIFIED = new Date(Date.UTC(2024, 0, 2, 3, 4, 5))

/** The SHA-256 of NUMS. */
export const NUMS_SHA256 = '15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225'

/** What a MemoryFile knows about itself; `size: null` means "unknown size". */
export interface MemoryFileInit {
  name?: string
  size?: number | null
  contentType?: string
  modifiedAt?: Date
  sha256?: string
  etag?: string
  location?: FileLocation
  /** Bytes per chunk of the streams that open() returns. */
  chunkSize?: number
  /** When set, open() rejects with this error. */
  openError?: Error
}

/** An in-memory DownloadFile over a Buffer that records every open() and the streams it returned. */
export class MemoryFile implements DownloadFile {
  readonly name: string
  readonly size?: number
  readonly contentType?: string
  readonly modifiedAt?: Date
  readonly sha256?: string
  readonly etag?: string
  readonly location?: FileLocation
  /** The argument of every open() call, in order. */
  readonly opens: (ByteRange | undefined)[] = []
  /** Every stream open() returned, in order. */
  readonly streams: Readable[] = []
  private readonly chunkSize: number
  private readonly openError?: Error

  constructor(
    readonly content: Buffer,
    init: MemoryFileInit = {},
  ) {
    this.name = init.name ?? 'nums.txt'
    this.size = init.size === null ? undefined : (init.size ?? content.length)
    this.contentType = init.contentType
    this.modifiedAt = init.modifiedAt
    this.sha256 = init.sha256
    this.etag = init.etag
    this.location = init.location
    this.chunkSize = init.chunkSize ?? 4
    this.openError = init.openError
  }

  get openCount(): number {
    return this.opens.length
  }

  async open(range?: ByteRange): Promise<Readable> {
    this.opens.push(range)
    if (this.openError) throw this.openError
    const bytes = range ? this.content.subarray(range.start, range.end + 1) : this.content
    const chunks: Buffer[] = []
    for (let offset = 0; offset < bytes.length; offset += this.chunkSize) {
      chunks.push(bytes.subarray(offset, offset + this.chunkSize))
    }
    const stream = Readable.from(chunks, { objectMode: false })
    this.streams.push(stream)
    return stream
  }
}

/** One part of a multipart/byteranges body. */
export interface Part {
  headers: Record<string, string>
  body: Buffer
}

/**
 * Parses a multipart/byteranges body (RFC 2046 §5.1.1) strictly: the first boundary at the very
 * start, CRLF before every later delimiter, and a closing delimiter followed by CRLF at the end.
 */
export function parseMultipart(
  whole: Buffer,
  boundary: string,
  { leadingCrlf = false }: { leadingCrlf?: boolean } = {},
): Part[] {
  // nginx and Apache open the body with CRLF, which RFC 2046 counts as part of the first
  // delimiter; our own responder does not, and its tests keep the strict default.
  const body = leadingCrlf && whole.subarray(0, 2).toString('latin1') === '\r\n' ? whole.subarray(2) : whole
  const delimiter = Buffer.from(`--${boundary}`)
  const separator = Buffer.from(`\r\n--${boundary}`)
  if (!body.subarray(0, delimiter.length).equals(delimiter)) throw new Error('no opening boundary')
  const parts: Part[] = []
  let index = delimiter.length
  for (;;) {
    const after = body.subarray(index, index + 2).toString('latin1')
    if (after === '--') {
      if (!body.subarray(index + 2).equals(Buffer.from('\r\n'))) throw new Error('bytes after the close')
      return parts
    }
    if (after !== '\r\n') throw new Error(`bad delimiter line at ${index}`)
    const headersEnd = body.indexOf('\r\n\r\n', index + 2)
    if (headersEnd === -1) throw new Error('unterminated part headers')
    const headers: Record<string, string> = {}
    for (const line of body
      .subarray(index + 2, headersEnd)
      .toString('latin1')
      .split('\r\n')) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const next = body.indexOf(separator, headersEnd + 4)
    if (next === -1) throw new Error('unterminated part')
    parts.push({ headers, body: body.subarray(headersEnd + 4, next) })
    index = next + separator.length
  }
}

/** The boundary parameter of a multipart Content-Type. */
export function boundaryOf(contentType: string | undefined): string {
  const match = /^multipart\/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]+)$/.exec(contentType ?? '')
  if (!match?.[1]) throw new Error(`not a multipart/byteranges type: ${contentType}`)
  return match[1]
}
