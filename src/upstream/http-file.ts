/**
 * @module HTTPFile: a DownloadFile whose bytes and metadata come from a remote HTTP server, and the
 * upstream client behind it (SSRF guard on every hop, timeouts, redirects, size limit).
 */
import http, { type Agent as HttpAgent, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
// A named type for the declarations (see views/http-view.ts).
import type { Agent as HttpsAgent } from 'node:https'
import https from 'node:https'
import { Readable, type Transform } from 'node:stream'
import zlib from 'node:zlib'
import { parse as parseDisposition } from 'content-disposition'
import { asError, DestinationNotAllowedError, FileNotFoundError, UpstreamError } from '../errors'
import type { DownloadFile, FileLocation } from '../files/download-file'
import { ifRangeAllowsPartial } from '../http/conditional'
import { entityTag, isEntityTag } from '../http/etag'
import { parseHttpDate } from '../http/http-date'
import { coalesce, parseRange } from '../http/range'
import type { ByteRange } from '../storage/storage'
import type { DestinationGuard } from './http-guard'

/** What the upstream client needs; the view validates every value. */
export interface UpstreamClientOptions {
  guard: DestinationGuard
  agents: { http: HttpAgent; https: HttpsAgent }
  /** Milliseconds to establish the connection (DNS, TCP and TLS). */
  connectTimeout: number
  /** Milliseconds without a byte from upstream, before or after the response headers. */
  timeout: number
  /** Redirects followed per request. */
  maxRedirects: number
  /** The most bytes a file may have; `undefined` for no limit. */
  maxSize?: number
}

/** An upstream response, after redirects, and the URL that gave it. */
export interface UpstreamResponse {
  response: IncomingMessage
  url: URL
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])
// Credentials meant for one origin must not follow a redirect to another (as fetch does).
const CREDENTIALS = new Set(['authorization', 'cookie', 'proxy-authorization'])
const noop = () => {}

/**
 * Makes GET and HEAD requests for the HTTP view: checks every hop with the guard, follows
 * redirects, and turns network failures into `UpstreamError` (502, or 504 for timeouts).
 */
export class UpstreamClient {
  constructor(readonly options: UpstreamClientOptions) {}

  /**
   * Requests `url`, following redirects. `given` is the URL the view was given (its `url` option or
   * what `getUrl()` returned): headers named in `CREDENTIALS` are sent only to its origin, and the
   * guard allows its port on the hosts `allowedHosts` lists without one. The response is not read.
   */
  async send(
    url: URL,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
    given: URL,
  ): Promise<UpstreamResponse> {
    let current = url
    for (let hop = 0; ; hop++) {
      const hopHeaders = current.origin === given.origin ? headers : withoutCredentials(headers)
      const response = await this.once(current, given, method, hopHeaders)
      const status = response.statusCode ?? 0
      if (!REDIRECTS.has(status)) return { response, url: current }
      discard(response)
      const location = response.headers.location
      if (!location) throw new UpstreamError(`${current.host} answered ${status} without a Location`)
      if (hop >= this.options.maxRedirects)
        throw new UpstreamError(`${url.host}: more than ${this.options.maxRedirects} redirects`)
      try {
        current = new URL(location, current)
      } catch {
        throw new UpstreamError(`${current.host} redirected to an invalid URL`)
      }
      current.hash = ''
    }
  }

  /** One request, no redirects: resolves with the response once its headers arrived. */
  private once(
    url: URL,
    given: URL,
    method: string,
    headers: Record<string, string>,
    retry = true,
  ): Promise<IncomingMessage> {
    const destination = this.options.guard.check(url, given)
    const { connectTimeout, timeout } = this.options
    const tls = url.protocol === 'https:'
    return new Promise((resolve, reject) => {
      let settled = false
      let timer: NodeJS.Timeout | undefined
      const request = (tls ? https : http).request({
        hostname: destination.hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        agent: tls ? this.options.agents.https : this.options.agents.http,
        lookup: destination.lookup,
      })
      const expire = (what: string, ms: number) => () =>
        request.destroy(new UpstreamError(`${url.host} ${what} within ${ms} ms`, true))
      timer = setTimeout(expire('did not accept the connection', connectTimeout), connectTimeout)
      request.on('socket', (socket) => {
        const connected = () => {
          clearTimeout(timer)
          if (!settled) timer = setTimeout(expire('sent no response headers', timeout), timeout)
        }
        if (request.reusedSocket || (!tls && !socket.connecting)) connected()
        else socket.once(tls ? 'secureConnect' : 'connect', connected)
      })
      request.on('response', (response) => {
        clearTimeout(timer)
        settled = true
        // Errors after this point reach whoever reads the body; an unread body must not crash.
        response.on('error', noop)
        resolve(response)
      })
      request.on('error', (error) => {
        clearTimeout(timer)
        if (settled) return
        settled = true
        // A kept-alive socket the server closed meanwhile: GET and HEAD are safe to send again, once.
        const code = (error as NodeJS.ErrnoException).code
        if (retry && request.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) {
          resolve(this.once(url, given, method, headers, false))
          return
        }
        reject(upstreamFailure(error, url))
      })
      request.end()
    })
  }
}

/** Our own errors pass through; network errors become a 502 naming the host. */
function upstreamFailure(error: unknown, url: URL): Error {
  if (error instanceof UpstreamError || error instanceof DestinationNotAllowedError) return error
  const cause = asError(error)
  return new UpstreamError(`${url.host}: ${cause.message}`, false, { cause })
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIALS.has(name.toLowerCase())))
}

/** Lets a response go: an unread body is destroyed (its socket too), a complete one freed for reuse. */
function discard(response: IncomingMessage): void {
  if (response.destroyed) return
  if (response.complete) response.resume()
  else response.destroy()
}

/** What the view asks of the upstream for one client request. */
export interface HTTPFileRequest {
  method: 'GET' | 'HEAD'
  /** Headers for every request about this file: the static ones and the forwarded client ones. */
  headers: Record<string, string>
  /** The client's Range and conditional headers, sent with the first request only. */
  conditional: Record<string, string>
  /** The name the client sees, overriding the upstream's. */
  basename?: string
  /**
   * Set when a Range went upstream: the client's Range header and the responder's `maxRanges`, so
   * that the file knows which ranges the responder will open. `several`: the header names several
   * ranges, and the Range sent upstream is only the first span of them ({@link firstSpan}).
   */
  ranges?: { header: string; maxRanges: number; several: boolean }
}

/**
 * Why ranges are fetched this way: the bytes pulled from the upstream for one request must stay
 * within the bytes the client gets plus a little per range. Read from one body, `bytes=0-0,N-N`
 * on a 64 MiB file pulls 64 MiB for two bytes, a cost multiplier anyone can repeat against a
 * metered origin (S3, a CDN). So each range the responder opens is read from an upstream body
 * that is at most `GAP` bytes short of it, or else fetched with its own Range request; ranges
 * closer than `GAP` share one request (the bytes between them are read and dropped). The number
 * of upstream requests is bounded by the responder's `maxRanges` (past it, the answer is the whole
 * file, read once). `GAP` is about what one more request costs in headers.
 */
const GAP = 1024

/** Sorted, disjoint ranges merged into the spans one upstream request each serves. */
function spansOf(ranges: readonly ByteRange[]): ByteRange[] {
  const spans: ByteRange[] = []
  for (const range of coalesce([...ranges])) {
    const previous = spans[spans.length - 1]
    if (previous && range.start - previous.end - 1 <= GAP) previous.end = Math.max(previous.end, range.end)
    else spans.push({ ...range })
  }
  return spans
}

/**
 * The Range to send upstream for a client's Range header with several ranges, whose satisfiable
 * ones depend on a size not known yet: its first span of `first-last` ranges (or its longest
 * suffix), so that the answer gives the size and validators and carries the first bytes. The
 * other spans are fetched when the responder opens them. `undefined` for a header the responder
 * ignores or cannot satisfy (the same syntax rules as `parseRange()`).
 *
 * @example
 * firstSpan('bytes=0-0,67108863-67108863') // 'bytes=0-0'
 * firstSpan('bytes=0-9,100-109,-5') // 'bytes=0-109'
 */
export function firstSpan(header: string): string | undefined {
  const eq = header.indexOf('=')
  if (eq === -1 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return undefined
  const bounded: ByteRange[] = []
  let suffix = 0
  for (const spec of header.slice(eq + 1).split(',')) {
    const text = spec.trim()
    if (text === '') continue
    const firstLast = /^(\d+)-(\d*)$/.exec(text)
    const suffixOf = /^-(\d+)$/.exec(text)
    if (firstLast) {
      const first = Number(firstLast[1])
      const last = firstLast[2] === '' ? Number.POSITIVE_INFINITY : Number(firstLast[2])
      if (last < first) return undefined
      // Beyond any size: never satisfiable, and no number to write in a header.
      if (Number.isSafeInteger(first))
        bounded.push({ start: first, end: Number.isSafeInteger(last) ? last : Number.POSITIVE_INFINITY })
    } else if (suffixOf) {
      suffix = Math.max(suffix, Math.min(Number(suffixOf[1]), Number.MAX_SAFE_INTEGER))
    } else return undefined
  }
  const [first] = spansOf(bounded)
  if (first) return `bytes=${first.start}-${first.end === Number.POSITIVE_INFINITY ? '' : first.end}`
  return suffix > 0 ? `bytes=-${suffix}` : undefined
}

/** The bytes an unread upstream body holds, and how to read them in ascending order. */
class BodyCursor {
  /** Offset, in the representation, of the next byte. */
  position: number
  /** A part is reading from this cursor. */
  busy = false
  private pending: Buffer | undefined
  private received = 0
  private iterator: AsyncIterator<unknown> | undefined
  private released = false

  constructor(
    private readonly response: IncomingMessage,
    private readonly source: Readable,
    first: number,
    /** Offset of the last byte the body holds; `Infinity` when the body runs to the end. */
    readonly last: number,
    private readonly limits: { timeout: number; maxSize?: number; host: string },
  ) {
    this.position = first
  }

  /** Whether this body can still give bytes (none of it may be left, though). */
  get usable(): boolean {
    // Not `destroyed`: a body that ended is destroyed, yet its last chunk may still be pending here.
    return !this.released && !this.source.errored
  }

  /** Whether this body holds byte `start`, at most `GAP` bytes past what it already gave. */
  reaches(start: number): boolean {
    return start >= this.position && start <= this.last && start - this.position <= GAP
  }

  /** The next bytes of `start`-`end`, or `undefined` once they were all given. */
  async piece(start: number, end: number): Promise<Buffer | undefined> {
    for (;;) {
      if (this.position > end) return undefined
      const chunk = this.pending ?? (await this.pull())
      this.pending = undefined
      if (chunk === undefined) {
        if (end === Number.POSITIVE_INFINITY) return undefined
        throw new UpstreamError(
          `${this.limits.host}: the body ended at byte ${this.position}, before byte ${end}`,
        )
      }
      const chunkStart = this.position
      if (chunkStart + chunk.length <= start) {
        // Before the range: skip (an upstream that ignored Range, or the gap between two ranges).
        this.position += chunk.length
        continue
      }
      const from = Math.max(0, start - chunkStart)
      const to = Math.min(chunk.length, end - chunkStart + 1)
      if (to < chunk.length) this.pending = chunk.subarray(to)
      this.position = chunkStart + to
      return chunk.subarray(from, to)
    }
  }

  /** Destroys the body (and its socket) with `error`. */
  abort(error: Error): void {
    this.released = true
    this.response.destroy(error)
    if (this.source !== this.response) this.source.destroy(error)
  }

  /**
   * Frees the body once nobody needs it: a complete, identity body is read to its end so the
   * socket returns to the pool; anything else is destroyed.
   */
  release(): void {
    if (this.released) return
    this.released = true
    // The response decides, not the source: a decoder can end before the response does (zero
    // padding after a gzip member), and the socket would then stay held by an unread response.
    if (this.source !== this.response || !this.response.complete) {
      this.abort(new Error('released'))
      return
    }
    if (this.response.destroyed) return
    const iterator = this.iterator
    if (!iterator) {
      this.response.resume()
      return
    }
    const drain = async () => {
      while (!(await iterator.next()).done) {}
    }
    drain().catch(noop)
  }

  /** One chunk of the body, or `undefined` at its end; the idle timeout and `maxSize` apply. */
  private async pull(): Promise<Buffer | undefined> {
    this.iterator ??= this.source[Symbol.asyncIterator]()
    const { timeout, maxSize, host } = this.limits
    const timer = setTimeout(
      () => this.abort(new UpstreamError(`${host} sent nothing for ${timeout} ms`, true)),
      timeout,
    )
    try {
      const next = await this.iterator.next()
      if (next.done) return undefined
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array)
      this.received += chunk.length
      if (maxSize !== undefined && this.received > maxSize) {
        const error = new UpstreamError(`${host}: the body is larger than maxSize (${maxSize} bytes)`)
        this.abort(error)
        throw error
      }
      return chunk
    } finally {
      clearTimeout(timer)
    }
  }
}

/** How a part finds its bytes: the body holding a position, and what to do with it afterwards. */
interface CursorSource {
  /** A body that holds byte `start` (claimed: `busy`), fetched for `start`-`end` if none does. */
  cursorAt(start: number, end: number): Promise<BodyCursor>
  /** The part is done with `cursor`: freed once it has nothing left, else kept for the next part. */
  done(cursor: BodyCursor): void
}

/**
 * One `open()`: bytes `start`-`end`, read from one upstream body or, piece by piece, from several
 * (see `GAP`). Its destruction aborts the body it is reading.
 */
class PartStream extends Readable {
  private pumping = false
  private position: number

  constructor(
    private readonly source: CursorSource,
    private cursor: BodyCursor | undefined,
    start: number,
    private readonly end: number,
  ) {
    super()
    this.position = start
  }

  override _read(): void {
    if (!this.pumping) void this.pump()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // The client left, or the source failed: an upstream body read halfway is of no further use.
    this.cursor?.abort(error ?? new Error('The download was closed'))
    callback(error)
  }

  private async pump(): Promise<void> {
    this.pumping = true
    try {
      for (;;) {
        if (this.position > this.end) {
          if (this.cursor) this.source.done(this.cursor)
          this.cursor = undefined
          this.push(null)
          return
        }
        if (!this.cursor) {
          const cursor = await this.source.cursorAt(this.position, this.end)
          if (this.destroyed) {
            cursor.abort(new Error('The download was closed'))
            return
          }
          this.cursor = cursor
        }
        const cursor = this.cursor
        const last = Math.min(this.end, cursor.last)
        const piece = await cursor.piece(this.position, last)
        if (this.destroyed) return
        if (piece === undefined) {
          // This body gave all it holds of the range (`Infinity`: a body of unknown length ended).
          this.cursor = undefined
          this.source.done(cursor)
          if (last === Number.POSITIVE_INFINITY) {
            this.push(null)
            return
          }
          this.position = last + 1
          continue
        }
        this.position += piece.length
        if (!this.push(piece)) return
      }
    } catch (error) {
      this.destroy(asError(error))
    } finally {
      this.pumping = false
    }
  }
}

/**
 * A file served from a remote URL. Its metadata (size, type, validators, name) is the upstream
 * response's; its bytes are that response's body, read once, or a new ranged request when the
 * responder asks for bytes the first body cannot give. Built by `HTTPFile.fetch()`.
 *
 * Content-Encoding: the view asks for `identity`. An upstream that encodes anyway is decoded; the
 * size is then unknown (no Content-Length, no ranges) and a strong ETag becomes weak, because it
 * named the encoded bytes.
 */
export class HTTPFile implements DownloadFile {
  readonly name: string
  readonly size?: number
  readonly contentType?: string
  readonly modifiedAt?: Date
  readonly etag?: string
  readonly location: FileLocation
  readonly relayStatus?: 304 | 412 | 416
  /** `false` when the upstream answered a Range with a body too far from the ranges (see `GAP`). */
  readonly acceptRanges?: boolean
  /** The URL that answered, after redirects. */
  readonly url: URL
  /** The upstream bodies not read to their end yet, the first response's included. */
  private readonly cursors = new Set<BodyCursor>()
  private spans: ByteRange[] | undefined
  private readonly source: CursorSource = {
    cursorAt: (start, end) => this.cursorAt(start, end),
    done: (cursor) => this.done(cursor),
  }

  private constructor(
    private readonly client: UpstreamClient,
    private readonly request: HTTPFileRequest,
    private readonly given: URL,
    upstream: UpstreamResponse,
  ) {
    const { response, url } = upstream
    const status = response.statusCode ?? 0
    const headers = response.headers
    this.url = url
    this.location = { kind: 'url', url: url.href }
    const encoded = encodings(headers['content-encoding'])
    // A 416 answers the first span only, when the client asked several ranges: the responder
    // decides from the complete length, since a suffix range may still be satisfiable.
    const probed = status === 416 && request.ranges?.several === true
    if (status === 304 || status === 412 || (status === 416 && !probed)) this.relayStatus = status

    // Size: a 200's Content-Length, the complete length of a 206 or a 416.
    const range = status === 206 ? partialRange(headers, encoded.length === 0) : undefined
    if (status === 206 && !range)
      throw this.failure(
        response,
        'a 206 whose Content-Range is invalid or disagrees with its Content-Length',
      )
    // A length Node accepts but we cannot represent (above 2^53) is no file: refuse it before any
    // header, as maxSize promises, instead of streaming it as a body of unknown length.
    const declared = headers['content-length']
    if (
      status === 200 &&
      encoded.length === 0 &&
      declared !== undefined &&
      parseLength(declared) === undefined
    )
      throw this.failure(response, 'an unusable Content-Length')
    if (status === 206 && /^multipart\//i.test(headers['content-type'] ?? ''))
      throw this.failure(response, 'several ranges for one')
    const size =
      encoded.length > 0
        ? undefined
        : status === 200
          ? parseLength(headers['content-length'])
          : status === 206
            ? range?.size
            : status === 416
              ? parseUnsatisfied(headers['content-range'])
              : undefined
    const { maxSize } = this.client.options
    if (size !== undefined && maxSize !== undefined && size > maxSize) {
      discard(response)
      throw new UpstreamError(`${url.host}: the file has ${size} bytes, more than maxSize (${maxSize})`)
    }
    if (size !== undefined) this.size = size
    if (probed && size === undefined) this.relayStatus = 416

    const type = headers['content-type']
    if (type !== undefined) this.contentType = type
    const etag = headers.etag?.trim()
    if (etag !== undefined && isEntityTag(etag))
      this.etag = encoded.length > 0 && !etag.startsWith('W/') ? `W/${etag}` : etag
    const modified = parseHttpDate(headers['last-modified'])
    if (modified !== undefined) this.modifiedAt = new Date(modified)
    this.name = request.basename || dispositionName(headers['content-disposition']) || urlName(url)
    // The whole body for a Range (an origin without ranges): cutting the ranges from it is worth it
    // only when it holds little more than they do; else the answer is the whole file (RFC 9110
    // §14.2 lets a server ignore Range), so that no more bytes are pulled than sent.
    if (status === 200 && size !== undefined && encoded.length === 0 && !this.sliceable(size))
      this.acceptRanges = false

    // The body, when there is one we can use: a full 200, or the 206's range of identity bytes.
    const hasBody = request.method === 'GET' && (status === 200 || (status === 206 && encoded.length === 0))
    if (!hasBody) {
      discard(response)
      return
    }
    const source = encoded.length > 0 ? decode(response, encoded) : response
    const first = range?.start ?? 0
    const last = range ? range.end : size !== undefined ? size - 1 : Number.POSITIVE_INFINITY
    this.cursors.add(new BodyCursor(response, source, first, last, this.limits(url)))
  }

  /**
   * Asks the upstream for `url` with the client's Range and conditional headers, and describes the
   * answer. An upstream 404 or 410 is a `FileNotFoundError`; any other failure an `UpstreamError`.
   *
   * @example
   * const file = await HTTPFile.fetch(client, new URL('https://cdn.example.com/a.pdf'), { method: 'GET', headers: {}, conditional: {} })
   */
  static async fetch(client: UpstreamClient, url: URL, request: HTTPFileRequest): Promise<HTTPFile> {
    const headers = { ...request.headers, ...request.conditional, 'Accept-Encoding': 'identity' }
    const upstream = await client.send(url, request.method, headers, url)
    const { response } = upstream
    const status = response.statusCode ?? 0
    const sent = (name: string) => request.conditional[name] !== undefined
    // A relayed status is faithful only if it answers a header we actually sent.
    const expected =
      status === 200 ||
      (status === 206 && sent('Range')) ||
      (status === 416 && sent('Range')) ||
      (status === 304 && (sent('If-None-Match') || sent('If-Modified-Since'))) ||
      (status === 412 && (sent('If-Match') || sent('If-Unmodified-Since')))
    if (!expected) {
      discard(response)
      // Some origins answer only the method a URL was made for (a presigned GET URL refuses HEAD
      // with 403): ask again with GET; the body is never read, and release() closes it.
      if (request.method === 'HEAD' && HEAD_REFUSED.has(status))
        return HTTPFile.fetch(client, url, { ...request, method: 'GET' })
      throw statusFailure(status, upstream.url)
    }
    return new HTTPFile(client, request, url, upstream)
  }

  /**
   * The file's bytes, or one inclusive range of them. An upstream body that holds the range's first
   * byte (at most `GAP` bytes on) serves it: the first response's, or one a former range fetched;
   * otherwise a new Range request asks for the range and the close ones after it (`spansOf`),
   * pinned to this file's validators. A range may so be read from several bodies in turn.
   */
  async open(range?: ByteRange): Promise<Readable> {
    const start = range?.start ?? 0
    const end = range?.end ?? (this.size === undefined ? Number.POSITIVE_INFINITY : this.size - 1)
    // The first body is found (or fetched) now, so that a failure comes before any header.
    const first = start > end ? undefined : await this.cursorAt(start, end)
    return new PartStream(this.source, first, start, end)
  }

  /** Destroys every upstream body nobody read; frees the complete ones. Safe to call twice. */
  release(): void {
    for (const cursor of this.cursors) cursor.release()
    this.cursors.clear()
  }

  /** A body that holds byte `start`, claimed; fetched for `start`-`end` and its span if none does. */
  private async cursorAt(start: number, end: number): Promise<BodyCursor> {
    let ahead = Number.POSITIVE_INFINITY
    for (const cursor of this.cursors) {
      if (cursor.busy) continue
      if (!cursor.usable) {
        this.cursors.delete(cursor)
      } else if (
        end === Number.POSITIVE_INFINITY
          ? cursor.last === end && cursor.position <= start
          : cursor.reaches(start)
      ) {
        cursor.busy = true
        return cursor
      } else if (cursor.position > start) {
        ahead = Math.min(ahead, cursor.position)
      } else {
        // Behind this range, or too far before it: ranges come in ascending order, so it will not
        // serve another; its unread bytes would only be pulled for nothing.
        cursor.release()
        this.cursors.delete(cursor)
      }
    }
    // Unknown size: the whole body, from its start.
    if (end === Number.POSITIVE_INFINITY) return this.claim(await this.refetch(undefined))
    // Up to the end of the range's span, but not into the bytes a body further on holds.
    const span = this.spansFor().find((candidate) => candidate.start <= start && start <= candidate.end)
    const last = Math.min(Math.max(end, span?.end ?? end), ahead - 1)
    return this.claim(await this.refetch({ start, end: last }))
  }

  /** A part is done with `cursor`: freed when it holds nothing more, else kept. */
  private done(cursor: BodyCursor): void {
    cursor.busy = false
    if (cursor.position > cursor.last) {
      cursor.release()
      this.cursors.delete(cursor)
    }
  }

  /** The spans of the ranges the responder will open for the client's Range header, if any. */
  private spansFor(): ByteRange[] {
    this.spans ??= spansOf(this.clientRanges())
    return this.spans
  }

  /** The ranges the responder serves for the client's Range header (the same parser, the same size). */
  private clientRanges(size = this.size): ByteRange[] {
    const ranges = this.request.ranges
    if (!ranges || size === undefined) return []
    const parsed = parseRange(ranges.header, size, { maxRanges: ranges.maxRanges })
    return parsed.kind === 'partial' ? parsed.ranges : []
  }

  /**
   * Whether the ranges can be cut from a whole body of `size` bytes read from its start, each at
   * most `GAP` bytes after the one before, with at most `GAP` bytes after the last.
   */
  private sliceable(size: number): boolean {
    if (!this.request.ranges) return true
    // A stale If-Range: the responder answers the whole file anyway.
    const ifRange = this.request.conditional['If-Range']
    const validators = { etag: entityTag(this), lastModified: this.modifiedAt }
    if (ifRange !== undefined && !ifRangeAllowsPartial({ 'if-range': ifRange }, validators)) return true
    const ranges = this.clientRanges(size)
    if (ranges.length === 0) return true
    let next = 0
    for (const range of ranges) {
      if (range.start - next > GAP) return false
      next = range.end + 1
    }
    return size - next <= GAP
  }

  /** A new request for `range` (or the whole file), checked against what this file describes. */
  private async refetch(range: ByteRange | undefined): Promise<BodyCursor> {
    const headers: Record<string, string> = { ...this.request.headers, 'Accept-Encoding': 'identity' }
    if (range) headers.Range = `bytes=${range.start}-${range.end}`
    // The bytes must come from the same representation: a change is a 412, never spliced in.
    if (this.etag && !this.etag.startsWith('W/')) headers['If-Match'] = this.etag
    else if (this.modifiedAt) headers['If-Unmodified-Since'] = this.modifiedAt.toUTCString()
    const upstream = await this.client.send(this.url, 'GET', headers, this.given)
    const { response, url } = upstream
    const status = response.statusCode ?? 0
    const encoded = encodings(response.headers['content-encoding'])
    if (!range) {
      if (status !== 200) {
        discard(response)
        throw statusFailure(status, url)
      }
      const source = encoded.length > 0 ? decode(response, encoded) : response
      return this.track(new BodyCursor(response, source, 0, Number.POSITIVE_INFINITY, this.limits(url)))
    }
    const got = status === 206 ? partialRange(response.headers, encoded.length === 0) : undefined
    const matches =
      got !== undefined &&
      encoded.length === 0 &&
      got.start === range.start &&
      got.end === range.end &&
      (this.size === undefined || got.size === this.size)
    if (!matches) {
      discard(response)
      if (status === 206 || status === 200 || status === 412)
        throw new UpstreamError(
          `${url.host} did not answer bytes ${range.start}-${range.end} of the same file (status ${status})`,
        )
      throw statusFailure(status, url)
    }
    return this.track(new BodyCursor(response, response, range.start, range.end, this.limits(url)))
  }

  private track(cursor: BodyCursor): BodyCursor {
    this.cursors.add(cursor)
    return cursor
  }

  private claim(cursor: BodyCursor): BodyCursor {
    cursor.busy = true
    return cursor
  }

  private limits(url: URL) {
    return { timeout: this.client.options.timeout, maxSize: this.client.options.maxSize, host: url.host }
  }

  private failure(response: IncomingMessage, what: string): UpstreamError {
    discard(response)
    return new UpstreamError(`${this.url.host} answered with ${what}`)
  }
}

/** 404 and 410 mean the file is not there; anything else is a bad gateway. */
// What an origin answers to a HEAD that it would answer differently as a GET.
const HEAD_REFUSED = new Set([403, 405, 501])

function statusFailure(status: number, url: URL): Error {
  if (status === 404 || status === 410) return new FileNotFoundError(`No file at ${url.host}${url.pathname}`)
  return new UpstreamError(`${url.host}${url.pathname} answered ${status}`)
}

/** The codings of a Content-Encoding, outermost last; `identity` is none. */
function encodings(header: string | undefined): string[] {
  if (header === undefined) return []
  return header
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity')
}

const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
}
// Each coding costs a native decompressor: a header listing thousands would exhaust memory and CPU
// (the same cap as undici, nodejs/undici#4729).
const MAX_CODINGS = 5

/** The decoded body of a response encoded despite `Accept-Encoding: identity`. */
function decode(response: IncomingMessage, codings: string[]): Readable {
  // Check the whole list before building anything: nothing to tear down on refusal.
  const unknown = codings.find((coding) => !Object.hasOwn(DECODERS, coding))
  if (unknown !== undefined || codings.length > MAX_CODINGS) {
    response.destroy()
    throw new UpstreamError(
      unknown !== undefined
        ? `The upstream used an unknown Content-Encoding "${unknown}"`
        : `The upstream used ${codings.length} content codings, more than ${MAX_CODINGS}`,
    )
  }
  let stream: Readable = response
  for (const coding of [...codings].reverse()) {
    const decoder = (DECODERS[coding] as () => Transform)()
    const upstream = stream
    upstream.on('error', (error) => decoder.destroy(error))
    decoder.on('error', noop)
    stream = upstream.pipe(decoder)
  }
  return stream
}

function parseLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined
  const length = Number(value.trim())
  return Number.isSafeInteger(length) ? length : undefined
}

/**
 * The Content-Range of a 206, when valid and, for identity bytes, exactly as long as its
 * Content-Length: otherwise the body cannot hold the bytes the range names.
 */
function partialRange(headers: IncomingHttpHeaders, identity: boolean) {
  const range = parseContentRange(headers['content-range'])
  const length = headers['content-length']
  if (!range || !identity || length === undefined) return range
  return parseLength(length) === range.end - range.start + 1 ? range : undefined
}

/** `bytes a-b/N` (or `bytes a-b/*`, size unknown) of a 206. */
function parseContentRange(
  value: string | undefined,
): { start: number; end: number; size: number | undefined } | undefined {
  const match = value === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim())
  if (!match) return undefined
  const start = Number(match[1])
  const end = Number(match[2])
  const size = match[3] === '*' ? undefined : Number(match[3])
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined
  if (size !== undefined && (!Number.isSafeInteger(size) || end >= size)) return undefined
  return { start, end, size }
}

/** The complete length in a 416's `bytes *\/N`. */
function parseUnsatisfied(value: string | undefined): number | undefined {
  const match = value === undefined ? null : /^bytes \*\/(\d+)$/i.exec(value.trim())
  const size = match ? Number(match[1]) : undefined
  return size !== undefined && Number.isSafeInteger(size) ? size : undefined
}

/** The file name of an upstream Content-Disposition, when it parses. */
function dispositionName(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  try {
    const name = parseDisposition(value).parameters.filename
    return name?.trim() ? name : undefined
  } catch {
    return undefined
  }
}

/** The last path segment of `url`, percent-decoded; 'download' when there is none. */
function urlName(url: URL): string {
  const segment = url.pathname.split('/').pop() ?? ''
  let name = segment
  try {
    name = decodeURIComponent(segment)
  } catch {
    // Not valid percent-encoding: keep the segment as it is.
  }
  return name.trim() === '' ? 'download' : name
}
