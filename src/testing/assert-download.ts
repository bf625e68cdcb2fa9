/**
 * @module assertDownload(): check a download response in tests (the counterpart of
 * django-downloadview's `assert_download_response`), for supertest and plain `fetch` results alike.
 */
import { AssertionError } from 'node:assert'
import { decodeExtended, parse } from 'content-disposition'

/** A response as supertest gives it (`status`, lower-case `headers`, and `body` or `text`). */
export interface ResponseLike {
  status: number
  headers: Record<string, string | string[] | undefined>
  body?: unknown
  text?: string
}

/** What to expect; only the fields given are checked. */
export interface ExpectedDownload {
  /** @default 200 */
  status?: number
  /** The exact body. */
  content?: Buffer | string
  /** The file name the client sees (from `filename*` when present, else `filename`). */
  basename?: string
  /** The media type, without parameters (`text/plain`). */
  contentType?: string
  /** `true`: Content-Disposition is `attachment`; `false`: `inline`. */
  attachment?: boolean
  /** The Content-Length. */
  size?: number
}

/**
 * Throws an AssertionError that lists every difference between `response` and `expected`.
 * For binary bodies with supertest, request them with `.buffer(true).parse(binaryParser)`.
 *
 * @example
 * const res = await request(app).get('/object/default-file/hello-world/').buffer(true).parse(binaryParser)
 * assertDownload(res, { content: 'Hello world!\n', basename: 'file.txt', contentType: 'text/plain', attachment: true })
 */
export function assertDownload(response: ResponseLike, expected: ExpectedDownload): void {
  const problems: string[] = []
  const header = (name: string): string | undefined => {
    const value = response.headers[name.toLowerCase()]
    return Array.isArray(value) ? value.join(', ') : value
  }
  const status = expected.status ?? 200
  if (response.status !== status) problems.push(`status is ${response.status}, expected ${status}`)

  if (expected.content !== undefined) {
    const actual = bodyOf(response)
    const wanted = typeof expected.content === 'string' ? Buffer.from(expected.content) : expected.content
    if (!actual) problems.push('the response has no body to compare (use .buffer(true).parse(binaryParser))')
    else if (!actual.equals(wanted)) problems.push(`body is ${preview(actual)}, expected ${preview(wanted)}`)
  }
  if (expected.size !== undefined && header('Content-Length') !== String(expected.size)) {
    problems.push(`Content-Length is ${header('Content-Length')}, expected ${expected.size}`)
  }
  if (expected.contentType !== undefined) {
    const essence = (header('Content-Type') ?? '').split(';')[0]?.trim()
    // Media types are case-insensitive (RFC 9110 §8.3.1).
    if (essence?.toLowerCase() !== expected.contentType.toLowerCase())
      problems.push(`Content-Type is ${essence}, expected ${expected.contentType}`)
  }
  if (expected.basename !== undefined || expected.attachment !== undefined) {
    const disposition = header('Content-Disposition')
    if (!disposition) problems.push('there is no Content-Disposition header')
    else {
      const parsed = parse(disposition)
      const extended = parsed.parameters['filename*']
      const name =
        (extended === undefined ? undefined : decodeExtended(extended)) ?? parsed.parameters.filename
      if (expected.basename !== undefined && name !== expected.basename) {
        problems.push(`file name is ${JSON.stringify(name)}, expected ${JSON.stringify(expected.basename)}`)
      }
      if (expected.attachment !== undefined && (parsed.type === 'attachment') !== expected.attachment) {
        problems.push(
          `disposition is ${parsed.type}, expected ${expected.attachment ? 'attachment' : 'inline'}`,
        )
      }
    }
  }
  if (problems.length > 0) {
    throw new AssertionError({ message: `Not the expected download:\n- ${problems.join('\n- ')}` })
  }
}

/**
 * A superagent/supertest parser that keeps the body as a Buffer, whatever its type.
 *
 * @example
 * request(app).get(url).buffer(true).parse(binaryParser)
 */
export function binaryParser(response: unknown, callback: (error: Error | null, body: Buffer) => void): void {
  // superagent hands over the Node response stream, typed as its own Response.
  const res = response as NodeJS.ReadableStream
  const chunks: Buffer[] = []
  res.on('data', (chunk: Buffer) => chunks.push(chunk))
  res.on('end', () => callback(null, Buffer.concat(chunks)))
  res.on('error', (error: Error) => callback(error, Buffer.alloc(0)))
}

function bodyOf(response: ResponseLike): Buffer | undefined {
  if (Buffer.isBuffer(response.body)) return response.body
  if (typeof response.text === 'string') return Buffer.from(response.text)
  return undefined
}

function preview(buffer: Buffer): string {
  const text = buffer.subarray(0, 60).toString('utf8')
  return `${buffer.length} bytes ${JSON.stringify(text)}${buffer.length > 60 ? '…' : ''}`
}
