/**
 * @module Canonical forms of a URL's path and query (RFC 3986 §6.2.2), so that every encoding of
 * the same URL is signed, and verified, as the same bytes.
 */

const HEX = '0123456789ABCDEF'

/** Bytes that RFC 3986 §2.3 calls unreserved: never percent-encoded in a canonical form. */
const UNRESERVED = byteSet('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~')

/** Bytes a path segment may carry as they are (RFC 3986 §3.3 pchar): unreserved, sub-delims, ":" and "@". */
const PATH_SAFE = byteSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@")

/** A URL split into what is sent to the server and what is not. */
export interface UrlParts {
  /** Everything before `?`, as written. */
  path: string
  /** Everything between `?` and `#`, as written; `undefined` when there is no `?`. */
  query: string | undefined
  /** The fragment, `#` included, or `''`. Never sent to a server, so never signed. */
  fragment: string
}

/** One query parameter, name and value in canonical encoding. */
export interface QueryParam {
  name: string
  value: string
  /** Whether the parameter was written with `=` (`a=` rather than `a`); the two verify alike. */
  hasValue: boolean
}

/**
 * Splits a request target into path, query and fragment. An absolute-form target
 * (`http://host/path?q`, RFC 9112 §3.2.2) loses its scheme and authority.
 */
export function splitUrl(url: string): UrlParts {
  let rest = url
  const hash = rest.indexOf('#')
  const fragment = hash === -1 ? '' : rest.slice(hash)
  if (hash !== -1) rest = rest.slice(0, hash)
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/.exec(rest)
  if (absolute) rest = rest.slice(absolute[0].length)
  const mark = rest.indexOf('?')
  const path = mark === -1 ? rest : rest.slice(0, mark)
  return { path: path === '' ? '/' : path, query: mark === -1 ? undefined : rest.slice(mark + 1), fragment }
}

/**
 * The canonical form of a path: each segment percent-decoded, then re-encoded with upper-case hex
 * for every byte outside `pchar`, so `/caf%c3%a9`, `/caf%C3%A9` and `/café` are one path.
 * An encoded slash (`%2F`) stays encoded: it is part of a segment, not a separator. Dot segments
 * are kept as they are: resolving them here would let `/a/x/../b` verify as `/a/b` while the
 * router sees another path.
 */
export function canonicalPath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeBytes(decodeBytes(segment, false), PATH_SAFE))
    .join('/')
}

/**
 * The parameters of `query`, each name and value decoded (`+` is a space, as in HTML forms and
 * Express's parser) and re-encoded with only unreserved bytes left bare, in their original order.
 * Empty pieces (`a=1&&b=2`) are skipped.
 */
export function parseQuery(query: string | undefined): QueryParam[] {
  if (!query) return []
  const params: QueryParam[] = []
  for (const piece of query.split('&')) {
    if (piece === '') continue
    const equals = piece.indexOf('=')
    const rawName = equals === -1 ? piece : piece.slice(0, equals)
    const rawValue = equals === -1 ? '' : piece.slice(equals + 1)
    params.push({
      name: encodeBytes(decodeBytes(rawName, true), UNRESERVED),
      value: encodeBytes(decodeBytes(rawValue, true), UNRESERVED),
      hasValue: equals !== -1,
    })
  }
  return params
}

/**
 * The canonical query: every parameter as `name=value`, sorted by name. The sort is stable, so the
 * values of a repeated name keep their order: `x=1&x=0` is not `x=0&x=1` to an app that reads the
 * first value (URLSearchParams.get) or an array, and must not verify as it.
 */
export function canonicalQuery(params: readonly QueryParam[]): string {
  return [...params]
    .sort((a, b) => compare(a.name, b.name))
    .map(({ name, value }) => `${name}=${value}`)
    .join('&')
}

/** `params` written back as a query string, in their order, keeping `a` apart from `a=`. */
export function formatQuery(params: readonly QueryParam[]): string {
  return params.map(({ name, value, hasValue }) => (hasValue ? `${name}=${value}` : name)).join('&')
}

/** Canonical strings are ASCII, so code-unit order is byte order and the same on every platform. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * The bytes `text` stands for: `%XX` is one byte, any other character its UTF-8 bytes. A `%` not
 * followed by two hex digits is a literal `%`, as Express's query parser reads it.
 */
function decodeBytes(text: string, plusIsSpace: boolean): number[] {
  const bytes: number[] = []
  let literal = ''
  const flush = () => {
    if (literal === '') return
    for (const byte of Buffer.from(literal, 'utf8')) bytes.push(byte)
    literal = ''
  }
  for (let index = 0; index < text.length; index++) {
    const char = text[index]
    if (char === '%' && /^[0-9A-Fa-f]{2}$/.test(text.slice(index + 1, index + 3))) {
      flush()
      bytes.push(Number.parseInt(text.slice(index + 1, index + 3), 16))
      index += 2
    } else if (char === '+' && plusIsSpace) {
      flush()
      bytes.push(0x20)
    } else {
      literal += char
    }
  }
  flush()
  return bytes
}

function encodeBytes(bytes: readonly number[], safe: ReadonlySet<number>): string {
  let out = ''
  for (const byte of bytes) {
    out += safe.has(byte) ? String.fromCharCode(byte) : `%${HEX[byte >> 4]}${HEX[byte & 15]}`
  }
  return out
}

function byteSet(chars: string): ReadonlySet<number> {
  return new Set([...chars].map((char) => char.charCodeAt(0)))
}
