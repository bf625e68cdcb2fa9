/**
 * @module nginx X-Accel-Redirect: the app decides the response, nginx sends the bytes from an
 * `internal` location (see docs/nginx.md for the configuration it needs).
 */
import { ConfigurationError } from '../errors'
import type { FileLocation } from '../files/download-file'
import type { RequestLike } from '../http/respond'
import type { Storage } from '../storage/storage'
import type { ProxyHandoff } from './handoff'
import {
  checkOptions,
  encodeSegments,
  matchSegments,
  matchUrl,
  offloadedPlan,
  parseRules,
  type RuleSource,
} from './rules'

/**
 * Maps files to an nginx `internal` location; the first rule that covers a file wins.
 *
 * - `{ storage, location }`: files of that storage (the object, or its name in `storages`, looked
 *   up when a response is offloaded); the URI is `location` plus the key, each segment
 *   percent-encoded. The location usually `alias`es the storage's root.
 * - `{ root, location }`: local files under `root` (a `path` location, or a storage key whose
 *   `localPath()` is inside it); the URI is `location` plus the path below `root`.
 * - `{ url, location }`: remote files whose URL starts with `url` (which ends with `/`); the URI is
 *   `location` plus the rest of the URL, query included. The location `proxy_pass`es to `url`.
 */
export type XAccelRule =
  | { storage: Storage | string; location: string }
  | { root: string; location: string }
  | { url: string; location: string }

/** Options of {@link xAccelRedirect}. */
export interface XAccelRedirectOptions {
  /** Where nginx finds each file; at least one rule, first match wins. */
  rules: XAccelRule[]
  /**
   * `X-Accel-Buffering`: whether nginx buffers the response (`true`/`'yes'`, `false`/`'no'`).
   * @default undefined (no header: nginx's `proxy_buffering` decides)
   */
  buffering?: boolean | 'yes' | 'no'
  /**
   * `X-Accel-Limit-Rate`: the most bytes per second nginx sends to this client. `0` and `'off'`
   * mean no limit, even where `limit_rate` sets one (`'off'` is sent as `0`: nginx ignores the
   * word and would keep its `limit_rate`).
   * @default undefined (no header: nginx's `limit_rate` decides)
   */
  limitRate?: number | 'off'
  /**
   * `X-Accel-Expires`: how many seconds nginx's proxy cache may keep this answer (`0`: not at
   * all; `'off'`: Cache-Control and Expires decide). It does not change what the client is told.
   * @default undefined (no header)
   */
  expires?: number | 'off'
  /**
   * `X-Accel-Charset`: the charset nginx's charset module converts the file to. It takes effect
   * only where that module is on (a `charset` directive in the internal location); the
   * Content-Type the app chose, with its charset, is sent either way.
   * @default undefined (no header)
   */
  charset?: string
}

const OWNER = 'xAccelRedirect()'
const OPTIONS = ['rules', 'buffering', 'limitRate', 'expires', 'charset']
// An nginx location prefix: `/`, then segments of path characters (RFC 3986 pchar), each ending in `/`.
const LOCATION = /^\/(?:(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+\/)+$/

/**
 * Whether `location` can be an nginx `internal` location prefix for X-Accel-Redirect: `/`, then
 * segments of path characters each ending in `/`, and no `.` or `..` segment (plain or encoded).
 */
export function isNginxLocation(location: unknown): location is string {
  return typeof location === 'string' && LOCATION.test(location) && !/\/(?:\.|%2e){1,2}\//i.test(location)
}
// A charset name: an RFC 9110 token.
const CHARSET = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

interface Rule {
  source: RuleSource
  location: string
}

/**
 * A hand-off that answers with `X-Accel-Redirect: <internal URI>` and an empty body: nginx then
 * serves the file from an `internal` location, and answers Range itself (206, multipart/byteranges)
 * from the client's Range and If-Range headers, as it does for static files. The answers the app
 * makes without a body (HEAD, 304, 412, 416) are never offloaded; its headers (Content-Disposition, Content-Type, ETag,
 * Last-Modified, Cache-Control, security headers, a view's `headers`) go with the redirect, and
 * the internal location must restore the ones nginx drops (docs/nginx.md).
 *
 * Not offloaded, so streamed by Node: files that no rule covers, generated files, names that
 * hold control characters, local files that a symlink leads out of their root, and requests that
 * carry `If-Match` (other than `*`) or `If-Unmodified-Since`, which nginx would check again against
 * the file on disk and refuse.
 *
 * @example
 * app.use(handoffMiddleware(xAccelRedirect({
 *   rules: [{ storage: 'default', location: '/protected/media/' }],
 *   limitRate: 1024 * 1024,
 * })))
 */
export function xAccelRedirect(options: XAccelRedirectOptions): ProxyHandoff {
  checkOptions(OWNER, options, OPTIONS)
  const rules = parseRules(OWNER, options.rules, ['storage', 'root', 'url'], ['location']).map(
    ({ at, record, source }): Rule => {
      const location = record.location
      // Dot segments, escaped ones too: nginx unescapes the URI, finds /../ and answers 404 to all.
      if (!isNginxLocation(location)) {
        throw new ConfigurationError(
          `${at}.location must be a URI path that starts and ends with "/" (such as "/protected/media/")`,
        )
      }
      return { source, location }
    },
  )
  const headers = accelHeaders(options)

  return (plan, request) => {
    const location = plan.file?.location
    if (!plan.body || !location) return undefined
    if (request && nginxWouldRecheck(request)) return undefined
    for (const rule of rules) {
      const uri = internalUri(rule, location)
      if (uri !== undefined) return offloadedPlan(plan, { 'X-Accel-Redirect': uri, ...headers })
    }
    return undefined
  }
}

/** The internal URI of `location` under `rule`, or `undefined` when the rule does not cover it. */
function internalUri(rule: Rule, location: FileLocation): string | undefined {
  if (rule.source.kind === 'url') {
    const rest = matchUrl(rule.source, location)
    return rest === undefined ? undefined : rule.location + rest
  }
  const segments = matchSegments(rule.source, location)
  if (segments === undefined) return undefined
  // nginx unescapes the URI once, refuses `/../`, and splits at a raw `?`: every segment is escaped.
  const encoded = encodeSegments(segments)
  return encoded === undefined ? undefined : rule.location + encoded
}

/**
 * If-Match and If-Unmodified-Since: nginx's not-modified filter checks them again, before the
 * internal location's headers apply, against its own validators (none for ETag with `etag off`;
 * the file's mtime), and would answer 412 to a request the app found valid.
 */
function nginxWouldRecheck(request: RequestLike): boolean {
  const ifMatch = request.headers['if-match']
  if (ifMatch !== undefined && ifMatch.trim() !== '*') return true
  return request.headers['if-unmodified-since'] !== undefined
}

/** The X-Accel-* headers the options ask for, checked once. */
function accelHeaders(options: XAccelRedirectOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const { buffering, limitRate, expires, charset } = options
  if (buffering !== undefined) {
    if (buffering === true || buffering === 'yes') headers['X-Accel-Buffering'] = 'yes'
    else if (buffering === false || buffering === 'no') headers['X-Accel-Buffering'] = 'no'
    else throw new ConfigurationError(`${OWNER}: option "buffering" must be true, false, 'yes' or 'no'`)
  }
  if (limitRate !== undefined) {
    if (limitRate !== 'off' && !isCount(limitRate))
      throw new ConfigurationError(
        `${OWNER}: option "limitRate" must be a number of bytes per second or 'off'`,
      )
    headers['X-Accel-Limit-Rate'] = limitRate === 'off' ? '0' : String(limitRate)
  }
  if (expires !== undefined) {
    if (expires !== 'off' && !isCount(expires))
      throw new ConfigurationError(`${OWNER}: option "expires" must be a number of seconds or 'off'`)
    headers['X-Accel-Expires'] = String(expires)
  }
  if (charset !== undefined) {
    if (typeof charset !== 'string' || !CHARSET.test(charset))
      throw new ConfigurationError(`${OWNER}: option "charset" must be a charset name such as 'utf-8'`)
    headers['X-Accel-Charset'] = charset
  }
  return headers
}

/** A whole number from 0 up. */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}
