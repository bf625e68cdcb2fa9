/** @module The responder's options, validated once when a view is built. */
import { ConfigurationError } from '../errors'
import { rejectUnknownOptions } from '../options'

/** How the responder answers for a file. Every view accepts these. */
export interface RespondOptions {
  /**
   * `Content-Disposition: attachment` (the browser saves the file) rather than `inline`.
   * @default true
   */
  attachment?: boolean
  /**
   * The Cache-Control value, or `false` to send none. The default keeps the file out of shared
   * caches (`private`) and makes the browser ask again before each reuse (`no-cache`): the app
   * answers that with a 304 from the row's validators, without opening the file, and a file
   * replaced under the same URL, or access taken away, counts at once. Files that never change
   * under their URL can set `'private, max-age=…'` (or `public`, for files anyone may fetch).
   * @default 'private, no-cache'
   */
  cacheControl?: string | false
  /**
   * What to do with content a browser would run (HTML, SVG, XML, JavaScript) served inline:
   * `'sandbox'` adds `Content-Security-Policy: sandbox`; `'attachment'` forces a download.
   * Such responses carry the sandbox policy in both cases.
   * @default 'sandbox'
   */
  activeContent?: 'sandbox' | 'attachment'
  /**
   * Whether to honour Range requests (`Accept-Ranges: bytes`); `false` sends `Accept-Ranges: none`.
   * @default true
   */
  acceptRanges?: boolean
  /**
   * The most ranges served as one multipart/byteranges response, after overlapping ranges are
   * merged. A request for more gets the whole file (200).
   * @default 16
   */
  maxRanges?: number
  /**
   * Extra response headers on every answer about the file (200, 206, 304, 412, 416); not on 404s.
   * The responder's own headers win. Framing headers (Content-Length, Content-Range,
   * Transfer-Encoding, Connection) are refused: the responder alone decides them.
   * @default {}
   */
  headers?: Record<string, string>
  /**
   * Milliseconds that a response may wait on a client that takes none of its bytes; after that the
   * connection is cut and the file closed. A client that stops reading would otherwise hold its
   * socket and file open for as long as it stays connected. Any byte the client takes starts the
   * wait again, so a slow client that keeps reading is never cut. `0` turns it off.
   * @default 60000
   */
  idleTimeout?: number
}

/** The default of {@link RespondOptions.idleTimeout}: one minute. */
export const DEFAULT_IDLE_TIMEOUT = 60_000
/** The longest timer Node keeps (a longer one fires after 1 ms). */
const MAX_TIMEOUT = 2_147_483_647

/** RespondOptions with every default applied. */
export type ResolvedRespondOptions = Required<RespondOptions>

const KNOWN = new Set([
  'attachment',
  'cacheControl',
  'activeContent',
  'acceptRanges',
  'maxRanges',
  'headers',
  'idleTimeout',
])
const FRAMING = new Set(['content-length', 'content-range', 'transfer-encoding', 'connection'])
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
// Field values: visible ASCII, space and tab, obs-text; never CR, LF or NUL (RFC 9110 §5.5).
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/**
 * Validates `options` (throwing a ConfigurationError that names the bad option) and applies the
 * defaults. `owner` names the view in messages. Unknown keys are not checked here: views pass
 * their whole options object and check their own keys.
 */
export function resolveRespondOptions(options: RespondOptions, owner: string): ResolvedRespondOptions {
  const resolved: ResolvedRespondOptions = {
    attachment: options.attachment ?? true,
    // Why no-cache: `private` alone lets a browser reuse the file without asking, for as long as
    // its heuristic freshness from Last-Modified lasts (RFC 9111 §4.2.2: days for an old file),
    // even after the row points at another file or the user lost access. Revalidation costs one
    // lookup and a 304 with no file I/O.
    cacheControl: options.cacheControl ?? 'private, no-cache',
    activeContent: options.activeContent ?? 'sandbox',
    acceptRanges: options.acceptRanges ?? true,
    maxRanges: options.maxRanges ?? 16,
    headers: { ...(options.headers ?? {}) },
    idleTimeout: options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT,
  }
  const fail = (option: string, rule: string): never => {
    throw new ConfigurationError(`${owner}: option "${option}" ${rule}`)
  }
  if (typeof resolved.attachment !== 'boolean') fail('attachment', 'must be a boolean')
  if (
    resolved.cacheControl !== false &&
    (typeof resolved.cacheControl !== 'string' || !FIELD_VALUE.test(resolved.cacheControl))
  ) {
    fail('cacheControl', 'must be false or a header value without line breaks')
  }
  if (resolved.activeContent !== 'sandbox' && resolved.activeContent !== 'attachment') {
    fail('activeContent', "must be 'sandbox' or 'attachment'")
  }
  if (typeof resolved.acceptRanges !== 'boolean') fail('acceptRanges', 'must be a boolean')
  if (!Number.isSafeInteger(resolved.maxRanges) || resolved.maxRanges < 1)
    fail('maxRanges', 'must be an integer of at least 1')
  if (
    !Number.isSafeInteger(resolved.idleTimeout) ||
    resolved.idleTimeout < 0 ||
    resolved.idleTimeout > MAX_TIMEOUT
  )
    fail('idleTimeout', `must be a whole number of milliseconds from 0 (off) to ${MAX_TIMEOUT}`)
  for (const [name, value] of Object.entries(resolved.headers)) {
    if (!TOKEN.test(name)) fail('headers', `has an invalid header name "${name}"`)
    if (FRAMING.has(name.toLowerCase())) fail('headers', `may not set "${name}": the responder decides it`)
    if (typeof value !== 'string' || !FIELD_VALUE.test(value))
      fail('headers', `has an invalid value for "${name}"`)
  }
  return resolved
}

/**
 * Throws a ConfigurationError naming the first key of a view's `options` that neither the responder
 * (these options) nor the view (`allowed`) knows.
 */
export function rejectUnknownViewOptions(options: object, allowed: Iterable<string>, owner: string): void {
  rejectUnknownOptions(options, [...KNOWN, ...allowed], owner)
}
