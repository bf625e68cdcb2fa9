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
  encodeSegments,
  localPathOf,
  matchSegments,
  offloadedPlan,
  parseRuleSource,
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

const OPTIONS = new Set(['rules', 'proxyUnescapes'])

interface Rule {
  source: RuleSource
  /** The base as the web server sees it (POSIX, absolute), when it differs from the local one. */
  to?: string
}

/**
 * An offload for Apache with mod_xsendfile: `X-Sendfile: <absolute path>` and an empty body.
 * Apache then sends the file, answers Range itself, and checks preconditions against the ETag and
 * Last-Modified the app sent (unless `XSendFileIgnoreEtag` / `XSendFileIgnoreLastModified`).
 * Files that no rule covers, files with no local path, and generated files are streamed by Node.
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
 * Files that no rule covers, files with no local path, and generated files are streamed by Node.
 *
 * @example
 * app.use(offloadMiddleware(lighttpdSendfile({ rules: [{ storage: 'default', to: '/var/www/media' }] })))
 */
export function lighttpdSendfile(options: SendfileOptions): Offload {
  return sendfileOffload('lighttpdSendfile()', 'X-Lighttpd-Send-File', options)
}

function sendfileOffload(owner: string, header: string, options: SendfileOptions): Offload {
  if (typeof options !== 'object' || options === null)
    throw new ConfigurationError(`${owner}: options must be an object with "rules"`)
  for (const key of Object.keys(options)) {
    if (!OPTIONS.has(key)) throw new ConfigurationError(`${owner}: unknown option "${key}"`)
  }
  const unescapes = options.proxyUnescapes ?? true
  if (typeof unescapes !== 'boolean')
    throw new ConfigurationError(`${owner}: option "proxyUnescapes" must be a boolean`)
  const rules = parseRules(owner, options.rules)

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
  // Sent as it is: printable ASCII only (Node writes header strings as Latin-1, not UTF-8).
  return /^[\x20-\x7e]+$/.test(raw) && !segments.some((s) => s === '' || s === '.' || s === '..')
    ? raw
    : undefined
}

function splitPath(absolute: string): string[] {
  return absolute.split(path.sep === '/' ? '/' : /[\\/]/).filter((segment) => segment !== '')
}

function parseRules(owner: string, rules: unknown): Rule[] {
  if (!Array.isArray(rules) || rules.length === 0) {
    throw new ConfigurationError(`${owner}: option "rules" must be a non-empty array of rules`)
  }
  return rules.map((rule: unknown, index) => {
    const at = `${owner}: option "rules"[${index}]`
    if (typeof rule !== 'object' || rule === null) throw new ConfigurationError(`${at} must be an object`)
    const record = rule as Record<string, unknown>
    for (const key of Object.keys(record)) {
      if (!['storage', 'root', 'to'].includes(key))
        throw new ConfigurationError(`${at} has an unknown key "${key}"`)
    }
    const source = parseRuleSource(record, at, ['root', 'storage'])
    const to = record.to
    if (to === undefined) {
      if (source.kind === 'storage' && typeof source.storage !== 'string' && !source.storage.localPath) {
        throw new ConfigurationError(
          `${at}.storage keeps no local files (it has no localPath()): give "to", the path where the web server sees them`,
        )
      }
      return { source }
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    if (typeof to !== 'string' || !to.startsWith('/') || /[\u0000-\u001f\u007f]/.test(to)) {
      throw new ConfigurationError(`${at}.to must be an absolute path as the web server sees it`)
    }
    return { source, to: path.posix.resolve(to) }
  })
}
