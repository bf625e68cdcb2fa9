/**
 * @module Apache `X-Sendfile` (mod_xsendfile) and lighttpd (`X-Sendfile`, or the FastCGI-era
 * `X-Lighttpd-Send-File`): the app decides the response, the web server sends the local file named
 * by the header.
 */
import path from 'node:path'
import { ConfigurationError } from '../errors'
import type { FileLocation } from '../files/download-file'
import type { Storage } from '../storage/storage'
import type { ProxyHandoff } from './handoff'
import {
  CONTROL,
  checkOptions,
  encodeSegments,
  localPathOf,
  matchSegments,
  offloadedPlan,
  type ParsedRule,
  parseRules,
  type RuleSource,
} from './rules'

/**
 * Which local files the web server may send; the first rule that covers a file wins.
 *
 * - `{ root }`: files under that directory (a `path` location, or a storage key whose
 *   `localPath()` is inside it).
 * - `{ storage }`: files of that storage (the object, or its name in `storages`, looked up when a
 *   response is offloaded); the path is the storage's `localPath()` of the key.
 *
 * `to` rewrites the rule's base into the path the web server sees (another container, another
 * mount point): `{ root: '/srv/media', to: '/var/www/media' }` sends `/var/www/media/a.pdf` for
 * `/srv/media/a.pdf`; `{ storage: 'default', to: '/var/www/media' }` sends `/var/www/media/<key>`
 * (then the storage needs no `localPath()`).
 */
export type SendfileRule = { root: string; to?: string } | { storage: Storage | string; to?: string }

/** Options of {@link xSendfile}. */
export interface SendfileOptions {
  /** The files the web server may send; at least one rule, first match wins. */
  rules: SendfileRule[]
  /**
   * Whether the web server URL-decodes the header value. Then each path segment is
   * percent-encoded. Otherwise the path is sent as it is, its UTF-8 bytes unchanged (names with
   * spaces, `%` and non-ASCII characters arrive intact), and paths with control characters are not
   * offloaded. mod_xsendfile 0.12, the version Debian and Ubuntu ship, does not decode; 1.0 does
   * with `XSendFileUnescape On`; lighttpd always does.
   * @default false for xSendfile() (Apache), true for lighttpdSendfile()
   */
  proxyUnescapes?: boolean
}

/** Options of {@link lighttpdSendfile}. */
export interface LighttpdSendfileOptions extends SendfileOptions {
  /**
   * The header lighttpd reads. `X-Sendfile` works behind `mod_proxy` (how a Node app sits behind
   * lighttpd); lighttpd 1.4 honours `X-Lighttpd-Send-File` only from FastCGI backends and drops it
   * silently from proxied ones.
   * @default 'X-Sendfile'
   */
  header?: 'X-Sendfile' | 'X-Lighttpd-Send-File'
}

// Half of a UTF-16 pair: no UTF-8 bytes name it, so no file on disk has it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const OPTIONS = ['rules', 'proxyUnescapes']
const LIGHTTPD_OPTIONS = [...OPTIONS, 'header']

interface Rule {
  source: RuleSource
  /** The base as the web server sees it (POSIX, absolute), when it differs from the local one. */
  to?: string
}

/**
 * A hand-off to Apache with mod_xsendfile: `X-Sendfile: <absolute path>` and an empty body.
 * Apache then sends the file, answers Range itself, and checks preconditions against the ETag and
 * Last-Modified the app sent (unless `XSendFileIgnoreEtag` / `XSendFileIgnoreLastModified`).
 * Files that no rule covers, files with no local path, files that a symlink leads out of their
 * root, and generated files are streamed by Node.
 *
 * @example
 * // Apache: XSendFile On; XSendFilePath /srv/media
 * app.use(handoffMiddleware(xSendfile({ rules: [{ root: '/srv/media' }] })))
 */
export function xSendfile(options: SendfileOptions): ProxyHandoff {
  checkOptions('xSendfile()', options, OPTIONS)
  return sendfileOffload('xSendfile()', 'X-Sendfile', options, false)
}

/**
 * A hand-off to lighttpd: `X-Sendfile: <percent-encoded absolute path>` and an empty body (enable
 * `proxy.header = ( "x-sendfile" => "enable" )` and list the directories in
 * `"x-sendfile-docroot"`). lighttpd URL-decodes the path, sends the file and answers Range itself.
 * Files that no rule covers, files with no local path, files that a symlink leads out of their
 * root, and generated files are streamed by Node.
 *
 * @example
 * app.use(handoffMiddleware(lighttpdSendfile({ rules: [{ storage: 'default', to: '/var/www/media' }] })))
 */
export function lighttpdSendfile(options: LighttpdSendfileOptions): ProxyHandoff {
  const owner = 'lighttpdSendfile()'
  checkOptions(owner, options, LIGHTTPD_OPTIONS)
  const header = options.header ?? 'X-Sendfile'
  if (header !== 'X-Sendfile' && header !== 'X-Lighttpd-Send-File')
    throw new ConfigurationError(`${owner}: option "header" must be 'X-Sendfile' or 'X-Lighttpd-Send-File'`)
  return sendfileOffload(owner, header, options, true)
}

function sendfileOffload(
  owner: string,
  header: string,
  options: SendfileOptions,
  decodes: boolean,
): ProxyHandoff {
  const unescapes = options.proxyUnescapes ?? decodes
  if (typeof unescapes !== 'boolean')
    throw new ConfigurationError(`${owner}: option "proxyUnescapes" must be a boolean`)
  const rules = parseRules(owner, options.rules, ['root', 'storage'], ['to']).map(readRule)

  return (plan) => {
    const location = plan.file?.location
    if (!plan.body || !location) return undefined
    for (const rule of rules) {
      const value = headerValue(rule, location, unescapes)
      if (value !== undefined) return offloadedPlan(plan, { [header]: value })
    }
    return undefined
  }
}

/** The header value for `location` under `rule`, or `undefined` when the rule does not cover it. */
function headerValue(rule: Rule, location: FileLocation, unescapes: boolean): string | undefined {
  const below = matchSegments(rule.source, location)
  if (below === undefined) return undefined
  let segments: string[]
  if (rule.to !== undefined) segments = [...splitPath(rule.to), ...below]
  else if (rule.source.kind === 'root') segments = [...splitPath(rule.source.root), ...below]
  else {
    // A storage rule without `to`: the storage's own local path.
    const local = localPathOf(location)
    if (local === undefined) return undefined
    segments = splitPath(local)
  }
  if (unescapes) {
    const encoded = encodeSegments(segments)
    return encoded === undefined ? undefined : `/${encoded}`
  }
  if (segments.some((s) => s === '' || s === '.' || s === '..' || CONTROL.test(s) || LONE_SURROGATE.test(s)))
    return undefined
  // Sent as it is, as UTF-8 bytes: Node writes header strings as Latin-1, one byte per character,
  // so the UTF-8 bytes go in as Latin-1 characters (obs-text, RFC 9110 §5.5). No leading or
  // trailing space: the server trims them off the value, which would name another file.
  const raw = Buffer.from(`/${segments.join('/')}`, 'utf8').toString('latin1')
  return raw.endsWith(' ') ? undefined : raw
}

function splitPath(absolute: string): string[] {
  return absolute.split(path.sep === '/' ? '/' : /[\\/]/).filter((segment) => segment !== '')
}

/** A rule's `to`, checked; a storage rule without it needs a storage that keeps local files. */
function readRule({ at, record, source }: ParsedRule): Rule {
  const to = record.to
  if (to === undefined) {
    if (source.kind === 'storage' && typeof source.storage !== 'string' && !source.storage.localPath) {
      throw new ConfigurationError(
        `${at}.storage keeps no local files (it has no localPath()): give "to", the path where the web server sees them`,
      )
    }
    return { source }
  }
  if (typeof to !== 'string' || !to.startsWith('/') || CONTROL.test(to)) {
    throw new ConfigurationError(`${at}.to must be an absolute path as the web server sees it`)
  }
  return { source, to: path.posix.resolve(to) }
}
