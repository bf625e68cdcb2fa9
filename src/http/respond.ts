/**
 * @module The responder: decides the whole HTTP response for a file (status, headers, and a lazy
 * body), following RFC 9110. It never sees the response object; `send.ts` or an adapter writes the
 * plan, and offload rewrites it.
 */
import { type IncomingHttpHeaders, STATUS_CODES } from 'node:http'
import type { Readable } from 'node:stream'
import type { DownloadFile } from '../files/download-file'
import type { ByteRange } from '../storage/storage'
import { evaluatePreconditions, ifRangeAllowsPartial, type Validators } from './conditional'
import { isActiveContent, resolveContentType } from './content-type'
import { reprDigest } from './digest'
import { contentDisposition } from './disposition'
import { entityTag } from './etag'
import { multipartBody } from './multipart'
import { type ResolvedRespondOptions, type RespondOptions, resolveRespondOptions } from './options'
import { parseRange } from './range'

/** The request as the responder needs it: a method and the headers. `IncomingMessage` fits. */
export interface RequestLike {
  method?: string
  headers: IncomingHttpHeaders
}

/** A decided response: what to send, before anything is sent. */
export interface ResponsePlan {
  status: number
  /** Header names in canonical case; every value already checked for header safety. */
  headers: Record<string, string>
  /** Opens the body; absent for HEAD and bodiless statuses. Rejects before any byte when the file is gone. */
  body?: () => Promise<Readable>
  /** The file this plan serves (absent for 405): offload reads its location. */
  file?: DownloadFile
  /** The ranges of a 206 response, ascending. */
  ranges?: ByteRange[]
}

/** The methods a download answers. */
export const ALLOWED_METHODS = 'GET, HEAD'

/**
 * A short plain-text answer for an error status (404, 400, 503…): the status text only, never a
 * path or a stack; `Retry-After` on 503.
 */
export function statusAnswer(status: number): {
  status: number
  headers: Record<string, string>
  text: string
} {
  const text = `${STATUS_CODES[status] ?? 'Error'}\n`
  const headers: Record<string, string> = {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  }
  if (status === 503) headers['Retry-After'] = '5'
  return { status, headers, text }
}

/** The 405 plan for a method other than GET or HEAD. */
export function methodNotAllowed(): ResponsePlan {
  return { status: 405, headers: { Allow: ALLOWED_METHODS, 'Content-Length': '0' } }
}

/**
 * Decides the response for `request` and `file`, in the order of RFC 9110: validators, If-Match /
 * If-Unmodified-Since (412), If-None-Match / If-Modified-Since (304), Range with If-Range
 * (206 / 416), then the full body; HEAD gets GET's headers and opens nothing.
 *
 * Everything is answered from the file's metadata: only a body that is actually sent touches the
 * storage, through `plan.body()`.
 *
 * @example
 * const plan = respond(req, new StorageFile(storage, 'a.pdf', { size, modifiedAt }))
 * // { status: 206, headers: { 'Content-Range': 'bytes 2-5/10', ... }, body }
 */
export function respond(
  request: RequestLike,
  file: DownloadFile,
  options: RespondOptions = {},
): ResponsePlan {
  return planResponse(request, file, resolveRespondOptions(options, 'respond()'))
}

/**
 * `respond()` with options already resolved by `resolveRespondOptions()`: what views call on every
 * request, so the options are checked once, when the view is built.
 */
export function planResponse(
  request: RequestLike,
  file: DownloadFile,
  opts: ResolvedRespondOptions,
): ResponsePlan {
  const method = request.method ?? 'GET'
  if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed()

  const size =
    file.size !== undefined && Number.isSafeInteger(file.size) && file.size >= 0 ? file.size : undefined
  const validators: Validators = { etag: entityTag(file), lastModified: validDate(file.modifiedAt) }
  const ranged = opts.acceptRanges && size !== undefined && file.acceptRanges !== false

  // Validators and cache headers go on every answer about the file, 304 included (§15.4.5).
  const cacheHeaders: Record<string, string> = {}
  if (validators.etag) cacheHeaders.ETag = validators.etag
  if (validators.lastModified) cacheHeaders['Last-Modified'] = validators.lastModified.toUTCString()
  if (opts.cacheControl !== false) cacheHeaders['Cache-Control'] = opts.cacheControl

  // An origin that already answered this request's conditional or Range headers is relayed as is.
  if (file.relayStatus === 416) return unsatisfiable(opts, cacheHeaders, size, file)

  // Preconditions (§13.2.2): 412 before 304, both answered from metadata alone.
  const precondition =
    file.relayStatus === 412
      ? 'precondition-failed'
      : file.relayStatus === 304
        ? 'not-modified'
        : evaluatePreconditions(method, request.headers, validators)
  if (precondition === 'precondition-failed') {
    return { status: 412, headers: withExtra(opts.headers, { ...cacheHeaders, 'Content-Length': '0' }), file }
  }
  if (precondition === 'not-modified')
    return { status: 304, headers: withExtra(opts.headers, cacheHeaders), file }

  // What describes the body is worked out only for answers that have one (not 304, 412, 416).
  const contentType = resolveContentType(file.contentType, file.name)
  const active = isActiveContent(contentType)
  const attachment = opts.attachment || (active && opts.activeContent === 'attachment')
  // Object.assign and assignments, not an object spread followed by assignments: V8 made that a
  // dictionary-mode object, 16 µs per GET and much of the garbage (bench/README.md's profile).
  const headers: Record<string, string> = Object.assign({}, cacheHeaders)
  headers['Content-Type'] = contentType
  headers['Content-Disposition'] = contentDisposition(file.name, { attachment })
  headers['X-Content-Type-Options'] = 'nosniff'
  headers['Accept-Ranges'] = ranged ? 'bytes' : 'none'
  // Why sandbox: an inline HTML/SVG upload would otherwise run scripts on the app's origin.
  if (active) headers['Content-Security-Policy'] = 'sandbox'
  // Repr-Digest (RFC 9530 §3): the whole file's, from the row's SHA-256, on 200, 206 and HEAD alike.
  const digest = reprDigest(file.sha256, request.headers['want-repr-digest'])
  if (digest) headers['Repr-Digest'] = digest

  const head = method === 'HEAD'
  if (size === undefined) {
    // Unknown size: chunked, no ranges.
    return {
      status: 200,
      headers: withExtra(opts.headers, headers),
      file,
      body: head ? undefined : () => file.open(),
    }
  }

  // Range (§14.2): GET only, ignored when If-Range does not hold.
  const rangeHeader = request.headers.range
  if (
    method === 'GET' &&
    ranged &&
    rangeHeader !== undefined &&
    ifRangeAllowsPartial(request.headers, validators)
  ) {
    const range = parseRange(rangeHeader, size, { maxRanges: opts.maxRanges })
    if (range.kind === 'unsatisfiable') return unsatisfiable(opts, cacheHeaders, size, file)
    if (range.kind === 'partial') {
      const ranges = range.ranges
      const [only] = ranges
      if (ranges.length === 1 && only) {
        headers['Content-Range'] = `bytes ${only.start}-${only.end}/${size}`
        headers['Content-Length'] = String(only.end - only.start + 1)
        return {
          status: 206,
          headers: withExtra(opts.headers, headers),
          file,
          ranges,
          body: () => file.open(only),
        }
      }
      const multipart = multipartBody(file, ranges, size, contentType)
      headers['Content-Type'] = multipart.contentType
      headers['Content-Length'] = String(multipart.length)
      return { status: 206, headers: withExtra(opts.headers, headers), file, ranges, body: multipart.open }
    }
  }

  headers['Content-Length'] = String(size)
  if (head) return { status: 200, headers: withExtra(opts.headers, headers), file }
  // Read exactly the announced bytes: a file that grew since its metadata was taken cannot overrun.
  const whole: ByteRange | undefined = size > 0 ? { start: 0, end: size - 1 } : undefined
  return { status: 200, headers: withExtra(opts.headers, headers), file, body: () => file.open(whole) }
}

/**
 * `ours` plus the view's extra headers. Ours win whatever the case of an extra name: Node sends
 * `content-length` and `Content-Length` as two fields, and a second Content-Length or Content-Type
 * breaks the response.
 */
export function withExtra(
  extra: Record<string, string>,
  ours: Record<string, string>,
): Record<string, string> {
  if (isEmpty(extra)) return ours
  const taken = new Set(Object.keys(ours).map((name) => name.toLowerCase()))
  const merged: Record<string, string> = {}
  for (const [name, value] of Object.entries(extra)) {
    if (!taken.has(name.toLowerCase())) merged[name] = value
  }
  return { ...merged, ...ours }
}

/** 416, with the complete length in Content-Range when the size is known (§15.5.17). */
function unsatisfiable(
  opts: ResolvedRespondOptions,
  cacheHeaders: Record<string, string>,
  size: number | undefined,
  file: DownloadFile,
): ResponsePlan {
  const headers: Record<string, string> = { ...cacheHeaders, 'Content-Length': '0' }
  if (size !== undefined) headers['Content-Range'] = `bytes */${size}`
  return { status: 416, headers: withExtra(opts.headers, headers), file }
}

function isEmpty(record: Record<string, string>): boolean {
  for (const _ in record) return false
  return true
}

function validDate(date: Date | undefined): Date | undefined {
  return date && !Number.isNaN(date.getTime()) ? date : undefined
}
