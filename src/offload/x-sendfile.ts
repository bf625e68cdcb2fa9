/**
 * @module Apache `X-Sendfile` (mod_xsendfile) and lighttpd `X-Lighttpd-Send-File`: the app decides
 * the response, the web server sends the local file named by the header.
 */
import path from 'node:path'
import { ConfigurationError } from '../errors'
import type { FileLocation } from '../files/download-file'
import type { Storage } from '../storage/storage'
import type { Offload } from './offload'
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

/** Options of {@link xSendfile} and {@link lighttpdSendfile}. */
export interface SendfileOptions {
  /** The files the web server may send; at least one rule, first match wins. */
  rules: SendfileRule[]
  /**
   * Whether the web server URL-decodes the header value, as mod_xsendfile does by default
   * (`XSendFileUnescape On`) and lighttpd always does. Then each path segment is percent-encoded,
   * so that names with `%`, spaces or non-ASCII characters arrive intact. With `false` the path is
   * sent as it is, and paths that are not printable ASCII are not offloaded.
   * @default true
   */
  proxyUnescapes?: boolean
}

const OPTIONS = ['rules', 'proxyUnescapes']

interface Rule {
  source: RuleSource
  /** The base as the web server sees it (POSIX, absolute), when it differs from the local one. */
  to?: string
}

/**
 * An offload for Apache with mod_xsendfile: `X-Sendfile: <absolute path>` and an empty body.
 * Apache then sends the file, answers Range itself, and checks preconditions against the ETag and
 * Last-Modified the app sent (unless `XSendFileIgnoreEtag` / `XSendFileIgnoreLastModified`).
 * Files that no rule covers, files with no local path, files that a symlink leads out of their
 * root, and generated files are streamed by Node.
 *
 * @example
 * // Apache: XSendFile On; XSendFilePath /srv/media
 * app.use(offloadMiddleware(xSendfile({ rules: [{ root: '/srv/media' }] })))
 */
export function xSendfile(options: SendfileOptions): Offload {
  return sendfileOffload('xSendfile()', 'X-Sendfile', options)
}

/**
 * An offload for lighttpd: `X-Lighttpd-Send-File: <absolute path>` and an empty body (enable
 * `"x-sendfile" => "enable"` on the backend, and list the directories in `x-sendfile-docroot`).
 * Files that no rule covers, files with no local path, files that a symlink leads out of their
 * root, and generated files are streamed by Node.
 *
 * @example
 * app.use(offloadMiddleware(lighttpdSendfile({ rules: [{ storage: 'default', to: '/var/www/media' }] })))
 */
export function lighttpdSendfile(options: SendfileOptions): Offload {
  return sendfileOffload('lighttpdSendfile()', 'X-Lighttpd-Send-File', options)
}

function sendfileOffload(owner: string, header: string, options: SendfileOptions): Offload {
  checkOptions(owner, options, OPTIONS)
  const unescapes = options.proxyUnescapes ?? true
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
  const raw = `/${segments.join('/')}`
  // Sent as it is: printable ASCII only (Node writes header strings as Latin-1, not UTF-8), and
  // no trailing space, which the server trims off the header value (another file's name).
  return /^[\x20-\x7e]*[\x21-\x7e]$/.test(raw) && !segments.some((s) => s === '' || s === '.' || s === '..')
    ? raw
    : undefined
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
