/**
 * @module What the reverse-proxy hand-offs share: rules that map where a file's bytes are (a storage, a
 * local directory, a URL prefix) to where the reverse proxy finds them, and the rewrite of a plan
 * into the bodiless answer the proxy completes.
 */
import { realpathSync } from 'node:fs'
import path from 'node:path'
import { ConfigurationError } from '../errors'
import type { FileLocation } from '../files/download-file'
import { resolveContentType } from '../http/content-type'
import type { ResponsePlan } from '../http/respond'
import { rejectUnknownOptions } from '../options'
import { normalizeKey } from '../storage/keys'
import { storages } from '../storage/registry'
import type { Storage } from '../storage/storage'

/** Which files a rule covers, checked and normalised when the offload is built. */
export type RuleSource =
  | { kind: 'storage'; storage: Storage | string }
  | { kind: 'root'; root: string }
  | { kind: 'url'; url: string }

/** A rule as read by {@link parseRules}: where it is in the options, its keys, and its source. */
export interface ParsedRule {
  /** `xAccelRedirect(): option "rules"[0]`, for messages. */
  at: string
  record: Record<string, unknown>
  source: RuleSource
}

// C0 controls and DEL: a name holding one is never offloaded (CR/LF would split a header, NUL
// ends a C string in the proxy), whatever escaping would make of it.
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
export const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Checks the options object of `owner` (`xAccelRedirect()`): an object whose keys are all `known`.
 * Throws a ConfigurationError that names the unknown option.
 */
export function checkOptions(
  owner: string,
  options: unknown,
  known: readonly string[],
): asserts options is object {
  if (typeof options !== 'object' || options === null)
    throw new ConfigurationError(`${owner}: options must be an object with "rules"`)
  rejectUnknownOptions(options, known, owner)
}

/**
 * Reads option "rules" of `owner`: a non-empty array of objects, each with exactly one source of
 * `kinds` and no keys but those and `keys` (the backend's own, which it reads from `record`).
 */
export function parseRules(
  owner: string,
  rules: unknown,
  kinds: readonly RuleSource['kind'][],
  keys: readonly string[],
): ParsedRule[] {
  if (!Array.isArray(rules) || rules.length === 0) {
    throw new ConfigurationError(`${owner}: option "rules" must be a non-empty array of rules`)
  }
  return rules.map((rule: unknown, index) => {
    const at = `${owner}: option "rules"[${index}]`
    if (typeof rule !== 'object' || rule === null) throw new ConfigurationError(`${at} must be an object`)
    const record = rule as Record<string, unknown>
    for (const key of Object.keys(record)) {
      if (!(kinds as readonly string[]).includes(key) && !keys.includes(key))
        throw new ConfigurationError(`${at} has an unknown key "${key}"`)
    }
    return { at, record, source: parseRuleSource(record, at, kinds) }
  })
}

/**
 * Reads the source of `rule` (its `storage`, `root` or `url`; exactly one), or throws a
 * ConfigurationError that names `at` (`xAccelRedirect(): rules[0]`).
 */
export function parseRuleSource(
  rule: Record<string, unknown>,
  at: string,
  allowed: readonly RuleSource['kind'][],
): RuleSource {
  const present = allowed.filter((kind) => rule[kind] !== undefined)
  const names = allowed.map((kind) => `"${kind}"`).join(allowed.length > 2 ? ', ' : ' or ')
  if (present.length !== 1) throw new ConfigurationError(`${at} must have exactly one of ${names}`)
  const kind = present[0] as RuleSource['kind']
  if (kind === 'storage') {
    const storage = rule.storage
    if (typeof storage === 'string' && storage !== '') return { kind, storage }
    if (isStorage(storage)) return { kind, storage }
    throw new ConfigurationError(`${at}.storage must be a Storage or the name of a registered storage`)
  }
  if (kind === 'root') {
    const root = rule.root
    if (typeof root !== 'string' || !path.isAbsolute(root) || CONTROL.test(root)) {
      throw new ConfigurationError(`${at}.root must be an absolute directory path`)
    }
    return { kind, root: path.resolve(root) }
  }
  const url = parseUrlPrefix(rule.url)
  if (url === undefined) {
    throw new ConfigurationError(
      `${at}.url must be an http(s) URL that ends with "/", without query or fragment`,
    )
  }
  return { kind, url }
}

/**
 * The segments of the file's path below the rule's base, or `undefined` when the rule does not
 * cover the file: for a `storage` rule, the key's segments when the file is in that very storage;
 * for a `root` rule, the local path's segments below the root (a `path` location, or a storage
 * location whose `localPath()` is inside the root). Never for a `url` rule (see {@link matchUrl}).
 * Never either for a local file that a symlink leads out of its base (see {@link staysInside}).
 */
export function matchSegments(source: RuleSource, location: FileLocation): string[] | undefined {
  if (source.kind === 'storage') {
    if (location.kind !== 'storage') return undefined
    const storage = typeof source.storage === 'string' ? storages.tryGet(source.storage) : source.storage
    if (!storage || storage !== location.storage) return undefined
    const segments = keySegments(location.key)
    const local = localPathOf(location)
    // A storage that keeps local files: its root is localPath() minus the key, as in LocalStorage.
    if (segments === undefined || local === undefined) return segments
    return staysInside(path.join(local, ...segments.map(() => '..')), local) ? segments : undefined
  }
  if (source.kind === 'root') {
    const local = localPathOf(location)
    if (local === undefined) return undefined
    const segments = segmentsBelow(source.root, local)
    return segments !== undefined && staysInside(source.root, local) ? segments : undefined
  }
  return undefined
}

/**
 * Whether `local`, its symlinks followed, is still inside `root` (followed too). The proxy follows
 * symlinks (nginx unless `disable_symlinks`, mod_xsendfile, lighttpd), so a link that leads out of
 * the root would make it send a file that Node refuses to (LocalStorage confines through
 * symlinks), and a view that trusts a row's size and date never stats the key before the offload.
 * Such a file is streamed by Node instead, which answers 404. A path that does not resolve (a
 * missing file) is left to the proxy, which answers 404 too. Synchronous, as an offload is.
 */
export function staysInside(root: string, local: string): boolean {
  let real: string
  try {
    real = realpathSync.native(local)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return code === 'ENOENT' || code === 'ENOTDIR'
  }
  try {
    return segmentsBelow(realRoot(root), real) !== undefined
  } catch {
    return false
  }
}

const realRoots = new Map<string, string>()

/** The real path of a rule's root, resolved once (roots are configuration, not request data). */
function realRoot(root: string): string {
  let real = realRoots.get(root)
  if (real === undefined) {
    real = realpathSync.native(root)
    realRoots.set(root, real)
  }
  return real
}

/** What follows a `url` rule's prefix in the file's URL (path and query), or `undefined`. */
export function matchUrl(source: RuleSource, location: FileLocation): string | undefined {
  if (source.kind !== 'url' || location.kind !== 'url') return undefined
  let href: string
  try {
    const url = new URL(location.url)
    url.hash = ''
    href = url.href
  } catch {
    return undefined
  }
  if (!href.startsWith(source.url)) return undefined
  const rest = href.slice(source.url.length)
  // An escaped slash or NUL would change meaning once nginx unescapes the URI (a/b for a%2Fb).
  if (rest === '' || rest.startsWith('?') || /%(2f|5c|00)/i.test(rest) || !/^[\x21-\x7e]+$/.test(rest)) {
    return undefined
  }
  return rest
}

/** The absolute local path of a `path` location, or of a storage key that has one; else `undefined`. */
export function localPathOf(location: FileLocation): string | undefined {
  let local: unknown
  if (location.kind === 'path') local = location.path
  else if (location.kind === 'storage') {
    try {
      local = location.storage.localPath?.(location.key)
    } catch {
      // An unsafe key has no local path: it is simply not offloaded.
      return undefined
    }
  }
  if (typeof local !== 'string' || !path.isAbsolute(local)) return undefined
  return path.resolve(local)
}

/** The normalised segments of a storage key, or `undefined` for a key no storage would accept. */
export function keySegments(key: string): string[] | undefined {
  try {
    return normalizeKey(key).split('/')
  } catch {
    return undefined
  }
}

/**
 * The segments of `file` below `root`, or `undefined` when `file` is not strictly inside `root`.
 * Compared with a trailing separator, so `/srv/media2/a` is not inside `/srv/media`.
 */
export function segmentsBelow(root: string, file: string): string[] | undefined {
  const prefix = root.endsWith(path.sep) ? root : root + path.sep
  if (!file.startsWith(prefix) || file.length === prefix.length) return undefined
  return file.slice(prefix.length).split(path.sep)
}

/**
 * The segments percent-encoded one by one (`encodeURIComponent`: `/`, `?`, `#`, `%`, spaces and
 * non-ASCII all escaped) and joined with `/`; `undefined` when a segment is empty, `.` or `..`,
 * holds a control character, or is not well-formed Unicode.
 */
export function encodeSegments(segments: readonly string[]): string | undefined {
  const encoded: string[] = []
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..' || CONTROL.test(segment)) return undefined
    try {
      encoded.push(encodeURIComponent(segment))
    } catch {
      // A lone surrogate: no file name the proxy could open.
      return undefined
    }
  }
  return encoded.join('/')
}

/**
 * The plan the reverse proxy completes: status 200 (the proxy answers Range and If-Range itself
 * from the client's own headers, and Apache's mod_xsendfile acts on 200 only), the app's headers
 * minus the ones that described the body Node no longer sends (Content-Length, Content-Range,
 * Accept-Ranges), the file's own Content-Type instead of a multipart one, `Content-Length: 0`,
 * no body, and `headers` (the backend's) over any header of the same name.
 */
export function offloadedPlan(plan: ResponsePlan, headers: Record<string, string>): ResponsePlan {
  const dropped = new Set(['content-length', 'content-range', 'accept-ranges'])
  for (const name of Object.keys(headers)) dropped.add(name.toLowerCase())
  const kept: Record<string, string> = {}
  for (const [name, value] of Object.entries(plan.headers)) {
    if (!dropped.has(name.toLowerCase())) kept[name] = value
  }
  // Several ranges: the app planned multipart/byteranges; the proxy builds its own from the file's type.
  const file = plan.file
  if (file && plan.status === 206 && (plan.ranges?.length ?? 0) > 1) {
    for (const name of Object.keys(kept)) {
      if (name.toLowerCase() === 'content-type') kept[name] = resolveContentType(file.contentType, file.name)
    }
  }
  return { status: 200, headers: { ...kept, ...headers, 'Content-Length': '0' }, file }
}

/** Whether `value` looks like a Storage (the methods offload and the views rely on). */
function isStorage(value: unknown): value is Storage {
  const candidate = value as Partial<Storage> | null | undefined
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.open === 'function' &&
    typeof candidate.stat === 'function'
  )
}

/** The normalised `href` of an http(s) URL prefix that ends with `/`, or `undefined`. */
function parseUrlPrefix(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) return undefined
  if (url.username !== '' || url.password !== '' || !url.pathname.endsWith('/')) return undefined
  return url.href
}
