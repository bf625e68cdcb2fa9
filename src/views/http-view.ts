/** @module HTTPDownloadView: serve a file that lives at a remote URL, proxied through the responder. */

// Named types for the declarations: a default import of a node: module in a .d.ts fails to compile
// for users without esModuleInterop (moduleResolution node10).
import type { Agent as HttpAgent } from 'node:http'
import http from 'node:http'
import type { Agent as HttpsAgent } from 'node:https'
import https from 'node:https'
import { ConfigurationError, DestinationNotAllowedError } from '../errors'
import { rejectUnknownViewOptions } from '../http/options'
import { firstSpan, HTTPFile, UpstreamClient } from '../upstream/http-file'
import { DestinationGuard } from '../upstream/http-guard'
import { type DownloadRequest, DownloadView, type DownloadViewOptions, VIEW_OPTIONS } from './download-view'

/** Options of {@link HTTPDownloadView}. */
export interface HTTPDownloadViewOptions extends DownloadViewOptions {
  /**
   * The remote file (http or https, no credentials in it: use `requestHeaders`). Required unless a
   * subclass overrides `getUrl()`.
   * @default undefined
   */
  url?: string | URL
  /**
   * The name the client sees.
   * @default undefined (the upstream's Content-Disposition file name, else the URL's last segment,
   * else 'download')
   */
  basename?: string
  /**
   * Hosts that are trusted: `files.example.com`, `*.example.com` (subdomains only) or IP literals,
   * each with an optional port (`files.example.com:8443`, `10.0.0.5:9000`, `[::1]:8080`). An entry
   * without a port trusts the scheme's default port (80, 443) and the port of the URL the view was
   * given (`url`, or what `getUrl()` returned), not the host's other ports. A trusted host is
   * contacted even when it resolves to a private or loopback address; any other host must resolve
   * only to public addresses.
   * @default [] (public hosts only)
   */
  allowedHosts?: string[]
  /**
   * Refuse every host that is not in `allowedHosts`, public or not (redirects included).
   * @default false
   */
  onlyAllowedHosts?: boolean
  /**
   * Request headers of the client to send upstream (`['Authorization', 'Cookie']`). Range and the
   * conditional headers are always forwarded; hop-by-hop headers and Host cannot be listed. Credentials
   * (Authorization, Cookie) are dropped on a redirect to another origin.
   * @default [] (no client header but Range and the conditional ones)
   */
  forwardHeaders?: string[]
  /**
   * Headers sent with every upstream request (`{ Authorization: 'Bearer …' }`).
   * @default {}
   */
  requestHeaders?: Record<string, string>
  /**
   * The most redirects followed for one request; each hop is checked like the first. `0` turns a
   * redirect into a 502.
   * @default 5
   */
  maxRedirects?: number
  /**
   * The largest file served, in bytes: a larger declared length is a 502 before any header, and a
   * body of unknown length that grows past it is cut.
   * @default undefined (no limit)
   */
  maxSize?: number
  /**
   * Milliseconds to connect to the upstream (DNS, TCP and TLS); then a 504.
   * @default 10000
   */
  connectTimeout?: number
  /**
   * Milliseconds the upstream may stay silent, waiting for its headers (then a 504) or between two
   * chunks of the body (then the download is cut).
   * @default 30000
   */
  timeout?: number
  /**
   * The agents for upstream connections (a custom CA, a proxy, socket limits). A custom agent must
   * keep Node's `lookup` option: the SSRF guard relies on it. Do not share one agent between views
   * with different allow-lists: a pooled connection is reused without a new DNS check.
   * @default a keep-alive http.Agent and https.Agent per view
   */
  agent?: { http?: HttpAgent; https?: HttpsAgent }
}

const OWN_OPTIONS = [
  'url',
  'basename',
  'allowedHosts',
  'onlyAllowedHosts',
  'forwardHeaders',
  'requestHeaders',
  'maxRedirects',
  'maxSize',
  'connectTimeout',
  'timeout',
  'agent',
]
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
// Field values: visible ASCII, space and tab, obs-text; never CR, LF or NUL (RFC 9110 §5.5).
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
// Hop-by-hop fields (RFC 9110 §7.6.1) concern one connection, never the next one.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])
// Fields the view sets itself on each upstream request.
const MANAGED = new Set([
  'host',
  'content-length',
  'accept-encoding',
  'range',
  'if-range',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
])
// One `first-last` or `-suffix` byte range, sent upstream as it is; of several, only the first span.
const SINGLE_RANGE = /^\s*bytes\s*=\s*(?:(\d+)-(\d*)|-(\d+))\s*$/i
const MAX_TIMER = 2 ** 31 - 1
// As Node's global agent: connections kept for reuse, and closed after 5 s unused in the pool
// (only pooled sockets: the agent destroys a socket on timeout when no request holds it).
const OWN_AGENT = { keepAlive: true, timeout: 5000, scheduling: 'lifo' } as const

/**
 * Serves a remote file: the upstream's body is streamed (never buffered), Range and the conditional
 * headers are forwarded so that 206, 304, 412 and 416 come from the origin, and the metadata
 * (type, length, ETag, Last-Modified) is the upstream's. An upstream 404 or 410 is a 404, any other
 * failure a 502, a timeout a 504. Loopback, private, link-local and cloud metadata addresses are
 * refused (403) after DNS resolution and on every redirect, unless the host is in `allowedHosts`.
 *
 * @example
 * const view = new HTTPDownloadView({ url: 'https://cdn.example.com/report.pdf', maxSize: 50e6 })
 * app.get('/report.pdf', toHandler(view))
 *
 * @example
 * class AvatarView extends HTTPDownloadView {
 *   override getUrl({ params }: DownloadRequest) {
 *     return `https://avatars.example.com/${encodeURIComponent(String(params.user))}.png`
 *   }
 * }
 */
export class HTTPDownloadView extends DownloadView {
  readonly url: URL | undefined
  readonly basename: string | undefined
  readonly guard: DestinationGuard
  readonly forwardHeaders: readonly string[]
  readonly requestHeaders: Readonly<Record<string, string>>
  protected readonly client: UpstreamClient
  private readonly ownAgents: (http.Agent | https.Agent)[] = []

  constructor(options: HTTPDownloadViewOptions) {
    super(options)
    const owner = 'HTTPDownloadView'
    rejectUnknownViewOptions(options, [...VIEW_OPTIONS, ...OWN_OPTIONS], owner)
    const fail = (option: string, rule: string): never => {
      throw new ConfigurationError(`${owner}: option "${option}" ${rule}`)
    }

    if (options.url !== undefined) this.url = parseConfiguredUrl(options.url, fail)
    else if (this.getUrl === HTTPDownloadView.prototype.getUrl)
      fail('url', 'is required unless a subclass overrides getUrl()')

    if (
      options.basename !== undefined &&
      (typeof options.basename !== 'string' || options.basename.trim() === '')
    )
      fail('basename', 'must be a non-empty string')
    this.basename = options.basename

    this.guard = new DestinationGuard(options, owner)

    const forward = options.forwardHeaders ?? []
    if (!Array.isArray(forward)) fail('forwardHeaders', 'must be an array of header names')
    this.forwardHeaders = forward.map((name: unknown) => {
      if (typeof name !== 'string' || !TOKEN.test(name))
        return fail('forwardHeaders', `has an invalid header name ${JSON.stringify(name)}`)
      const lower = name.toLowerCase()
      if (HOP_BY_HOP.has(lower) || lower === 'host')
        fail('forwardHeaders', `may not list "${name}": it concerns one connection only`)
      if (MANAGED.has(lower)) fail('forwardHeaders', `may not list "${name}": the view sets it itself`)
      return lower
    })

    const extra = options.requestHeaders ?? {}
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra))
      fail('requestHeaders', 'must be an object of header names to values')
    for (const [name, value] of Object.entries(extra)) {
      const lower = name.toLowerCase()
      if (!TOKEN.test(name)) fail('requestHeaders', `has an invalid header name "${name}"`)
      if (HOP_BY_HOP.has(lower) || MANAGED.has(lower))
        fail('requestHeaders', `may not set "${name}": the view or the connection decides it`)
      if (typeof value !== 'string' || !FIELD_VALUE.test(value))
        fail('requestHeaders', `has an invalid value for "${name}"`)
      // Which would win is a guess either way: a client's Authorization over the server's own token.
      if (this.forwardHeaders.some((forwarded) => forwarded.toLowerCase() === lower))
        fail('requestHeaders', `sets "${name}", which "forwardHeaders" also takes from the client`)
    }
    this.requestHeaders = { ...extra }

    const maxRedirects = options.maxRedirects ?? 5
    if (!Number.isSafeInteger(maxRedirects) || maxRedirects < 0)
      fail('maxRedirects', 'must be an integer of at least 0')
    const maxSize = options.maxSize
    if (maxSize !== undefined && (!Number.isSafeInteger(maxSize) || maxSize < 0))
      fail('maxSize', 'must be a number of bytes (an integer of at least 0)')
    const connectTimeout = options.connectTimeout ?? 10_000
    if (!Number.isSafeInteger(connectTimeout) || connectTimeout < 1 || connectTimeout > MAX_TIMER)
      fail('connectTimeout', 'must be a number of milliseconds (an integer from 1 to 2147483647)')
    const timeout = options.timeout ?? 30_000
    if (!Number.isSafeInteger(timeout) || timeout < 1 || timeout > MAX_TIMER)
      fail('timeout', 'must be a number of milliseconds (an integer from 1 to 2147483647)')

    const agent = options.agent ?? {}
    if (typeof agent !== 'object' || agent === null)
      fail('agent', 'must be { http?: http.Agent, https?: https.Agent }')
    if (agent.http !== undefined && !(agent.http instanceof http.Agent))
      fail('agent', 'must have an http.Agent as "http"')
    if (agent.https !== undefined && !(agent.https instanceof https.Agent))
      fail('agent', 'must have an https.Agent as "https"')
    const own = <A extends http.Agent>(created: A): A => {
      this.ownAgents.push(created)
      return created
    }
    this.client = new UpstreamClient({
      guard: this.guard,
      agents: {
        http: agent.http ?? own(new http.Agent(OWN_AGENT)),
        https: agent.https ?? own(new https.Agent(OWN_AGENT)),
      },
      connectTimeout,
      timeout,
      maxRedirects,
      maxSize,
    })
  }

  /**
   * The URL of the file for this request; the `url` option by default. Override it to compute the
   * URL from the route (it may be async). Whatever it returns goes through the SSRF guard.
   */
  getUrl(_request: DownloadRequest): string | URL | Promise<string | URL> {
    return this.url as URL
  }

  /** The name the client sees; the `basename` option by default, else the upstream's. */
  getBasename(_request: DownloadRequest): string | undefined {
    return this.basename
  }

  /**
   * Asks the upstream (GET, or HEAD for a HEAD) with the client's Range and conditional headers and
   * the configured ones, and returns the file the answer describes.
   */
  async getFile(request: DownloadRequest): Promise<HTTPFile> {
    const url = toUrl(await this.getUrl(request))
    const { req } = request
    const method = req.method === 'HEAD' ? 'HEAD' : 'GET'
    const headers: Record<string, string> = { ...this.requestHeaders }
    // Fields the client's Connection header names are hop-by-hop too (RFC 9110 §7.6.1).
    const connection = new Set(
      String(req.headers.connection ?? '')
        .split(',')
        .map((name) => name.trim().toLowerCase()),
    )
    for (const name of this.forwardHeaders) {
      const value = req.headers[name]
      if (connection.has(name) || value === undefined) continue
      headers[name] = Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value
    }
    const conditional = this.conditionalHeaders(req.headers, method)
    const range = req.headers.range
    return HTTPFile.fetch(this.client, url, {
      method,
      headers,
      conditional,
      basename: this.getBasename(request),
      ranges:
        conditional.Range !== undefined && range !== undefined
          ? { header: range, maxRanges: this.respondOptions.maxRanges, several: !SINGLE_RANGE.test(range) }
          : undefined,
    })
  }

  /** Closes the keep-alive connections of the agents this view created (for shutdown). */
  destroy(): void {
    for (const agent of this.ownAgents) agent.destroy()
  }

  /**
   * The client's Range (GET only, when ranges are on) with its If-Range, and the four conditional
   * headers: the upstream decides them, and the responder relays its answer. Of several ranges,
   * only the first span goes upstream; the file fetches the others when the responder opens them.
   */
  private conditionalHeaders(
    headers: http.IncomingHttpHeaders,
    method: 'GET' | 'HEAD',
  ): Record<string, string> {
    const conditional: Record<string, string> = {}
    const copy = (name: string, canonical: string) => {
      const value = headers[name]
      if (typeof value === 'string') conditional[canonical] = value
    }
    copy('if-match', 'If-Match')
    copy('if-none-match', 'If-None-Match')
    copy('if-modified-since', 'If-Modified-Since')
    copy('if-unmodified-since', 'If-Unmodified-Since')
    const range = headers.range
    const single =
      method === 'GET' && this.respondOptions.acceptRanges && range ? SINGLE_RANGE.exec(range) : null
    // A spec the responder would ignore (5-2, -0) is not sent: the upstream might answer 416.
    if (single) {
      const [, first, last, suffix] = single
      const valid = suffix !== undefined ? Number(suffix) > 0 : last === '' || Number(last) >= Number(first)
      if (valid) {
        conditional.Range = `bytes=${suffix !== undefined ? `-${suffix}` : `${first}-${last}`}`
        copy('if-range', 'If-Range')
      }
    } else if (method === 'GET' && this.respondOptions.acceptRanges && range) {
      const span = firstSpan(range)
      if (span !== undefined) {
        conditional.Range = span
        copy('if-range', 'If-Range')
      }
    }
    return conditional
  }
}

/** The `url` option as a URL, or a ConfigurationError. */
function parseConfiguredUrl(value: unknown, fail: (option: string, rule: string) => never): URL {
  let url: URL
  try {
    url = value instanceof URL ? new URL(value.href) : new URL(String(value))
  } catch {
    return fail('url', 'must be an absolute http or https URL')
  }
  if (typeof value !== 'string' && !(value instanceof URL)) fail('url', 'must be a string or a URL')
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('url', 'must be an http or https URL')
  if (url.username !== '' || url.password !== '')
    fail('url', 'may not hold credentials: send them with "requestHeaders"')
  return url
}

/** What `getUrl()` returned, as a URL; the guard then checks the scheme and the host. */
function toUrl(value: string | URL): URL {
  let url: URL
  try {
    url = value instanceof URL ? new URL(value.href) : new URL(value)
  } catch {
    throw new TypeError(
      `HTTPDownloadView: getUrl() returned ${JSON.stringify(String(value))}, not an absolute URL`,
    )
  }
  if (url.username !== '' || url.password !== '')
    throw new DestinationNotAllowedError(`Refused a URL with credentials for host ${url.host}`)
  url.hash = ''
  return url
}
