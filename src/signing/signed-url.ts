/**
 * @module Signed, expiring URLs: `signUrl()` adds an expiry, a key id and an HMAC-SHA256 signature
 * to a URL's query; `verifySignature()` checks them on the request.
 */
import { createHmac, type KeyObject, timingSafeEqual } from 'node:crypto'
import { ConfigurationError, SignatureError } from '../errors'
import {
  canonicalPath,
  canonicalQuery,
  formatQuery,
  parseQuery,
  type QueryParam,
  splitUrl,
} from './canonical'
import {
  isResolvedSignatureOptions,
  KEY_ID,
  type ResolvedSignatureOptions,
  resolveSignatureOptions,
  type SignatureOptions,
  type SigningKey,
  signingKey,
} from './options'

/**
 * The query parameters a signed URL carries. Prefixed with `dv_` so they do not clash with the
 * app's own parameters; `signUrl()` refuses a URL that already has one of them.
 * - `dv_expires`: the expiry, in whole seconds since the Unix epoch;
 * - `dv_kid`: the id of the key that signed the URL;
 * - `dv_signature`: the HMAC-SHA256 signature, base64url without padding (43 characters).
 */
export const SIGNATURE_PARAMS = Object.freeze({
  expires: 'dv_expires',
  keyId: 'dv_kid',
  signature: 'dv_signature',
} as const)

/** Options of `signUrl()`. Give exactly one of `expiresIn` and `expiresAt`. */
export interface SignUrlOptions {
  /** The key to sign with; its id goes in the URL. Required. */
  key: SigningKey
  /**
   * How long the URL stays valid, in whole seconds from `now`.
   * @default undefined (then `expiresAt` is required)
   */
  expiresIn?: number
  /**
   * When the URL stops being valid; rounded down to the second, and it must be later than `now`.
   * @default undefined (then `expiresIn` is required)
   */
  expiresAt?: Date
  /**
   * The method the URL is for. A HEAD request verifies against a GET signature, so `'HEAD'` signs
   * as `'GET'`.
   * @default 'GET'
   */
  method?: string
  /**
   * The time of signing: a Date, or milliseconds since the epoch. For tests.
   * @default Date.now()
   */
  now?: Date | number
}

/** What `verifySignature()` found in a URL it accepted. */
export interface VerifiedSignature {
  /** The id of the key that signed the URL: which keys are still in use shows in here. */
  keyId: string
  /** When the URL stops being valid. */
  expiresAt: Date
}

/** The request as a signature check needs it. `IncomingMessage` and Express's `Request` fit. */
export interface SignedRequest {
  /** @default 'GET' */
  method?: string
  /**
   * The request target, as Node gives it.
   * @default '/'
   */
  url?: string
  /**
   * Express's original URL: `url` loses the mount path under `app.use('/files', router)`, this does not.
   * @default undefined (then `url` is checked)
   */
  originalUrl?: string
}

/** The version tag that opens every string to sign: a key is never used for another format by accident. */
const SCHEME = 'DV1-HMAC-SHA256'
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Whole seconds since the epoch, no leading zero, at most 11 digits (the year 5138). */
const EXPIRES = /^[1-9][0-9]{0,10}$/
/** 32 bytes of HMAC-SHA256 in base64url without padding. */
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/
const RESERVED = new Set<string>(Object.values(SIGNATURE_PARAMS))

/**
 * Signs `url` (a path, with or without a query) so that `requireSignature()` or a view's
 * `signature` option accepts it until it expires. The path comes back in canonical
 * percent-encoding (`/café` → `/caf%C3%A9`), the app's parameters keep their order, and the three
 * {@link SIGNATURE_PARAMS} are appended. A fragment is kept at the end; it is never sent to the
 * server, so it is not signed.
 *
 * Signed are: the method, the path, every other query parameter (names in any order, the values
 * of a repeated name in theirs, in any equivalent encoding), the expiry and the key id. The host is
 * not: a URL verifies on any host that has the key.
 *
 * @throws ConfigurationError for a URL that is not a path or already carries a signature
 * parameter, a bad key, or an expiry that is missing, not in the future or not a whole number.
 *
 * @example
 * const url = signUrl('/signed/report/?format=pdf', {
 *   key: { id: '2024-06', secret: process.env.DOWNLOAD_SECRET! },
 *   expiresIn: 300,
 * })
 * // '/signed/report/?format=pdf&dv_expires=1718000300&dv_kid=2024-06&dv_signature=3q2-7w...'
 */
export function signUrl(url: string, options: SignUrlOptions): string {
  const owner = 'signUrl()'
  const fail: (option: string, rule: string) => never = (option, rule) => {
    throw new ConfigurationError(`${owner}: option "${option}" ${rule}`)
  }
  if (typeof url !== 'string' || !url.startsWith('/') || url.startsWith('//')) {
    throw new ConfigurationError(
      `${owner}: the URL must be a path that starts with one "/", like "/files/a.pdf"`,
    )
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError(`${owner}: options must be an object with "key" and "expiresIn"`)
  }
  const { path, query, fragment } = splitUrl(url)
  const canonical = canonicalPath(path)
  // Browsers resolve dot segments before sending, so a URL signed with one could never verify.
  if (canonical.split('/').some((segment) => /^\.{1,2}$/.test(segment))) {
    throw new ConfigurationError(`${owner}: the URL must not have "." or ".." segments`)
  }
  const params = parseQuery(query)
  const taken = params.find((param) => RESERVED.has(param.name))
  if (taken) {
    throw new ConfigurationError(`${owner}: the URL already has a "${taken.name}" parameter`)
  }

  const key: unknown = options.key
  const { id: keyId, key: keyObject } = signingKey(
    typeof key === 'object' && key !== null ? (key as { id?: unknown }).id : undefined,
    typeof key === 'object' && key !== null ? (key as { secret?: unknown }).secret : undefined,
    (rule) => fail('key', rule),
  )

  const now = options.now ?? Date.now()
  const nowMs = now instanceof Date ? now.getTime() : now
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs))
    fail('now', 'must be a valid Date or milliseconds')
  const { expiresIn, expiresAt } = options
  let expires: number
  if (expiresIn !== undefined && expiresAt !== undefined) {
    throw new ConfigurationError(`${owner}: give option "expiresIn" or option "expiresAt", not both`)
  } else if (expiresIn !== undefined) {
    if (!Number.isSafeInteger(expiresIn) || expiresIn <= 0)
      fail('expiresIn', 'must be a positive integer (seconds)')
    expires = Math.floor(nowMs / 1000) + expiresIn
  } else if (expiresAt !== undefined) {
    if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime()))
      fail('expiresAt', 'must be a valid Date')
    expires = Math.floor(expiresAt.getTime() / 1000)
    if (expires * 1000 <= nowMs) fail('expiresAt', 'must be in the future')
  } else {
    throw new ConfigurationError(`${owner}: option "expiresIn" (seconds) or option "expiresAt" is required`)
  }
  if (!EXPIRES.test(String(expires)))
    fail(expiresIn === undefined ? 'expiresAt' : 'expiresIn', 'is too far away')

  const method = signedMethod(options.method ?? 'GET')
  if (method === undefined) fail('method', 'must be an HTTP method, like "GET"')

  const expiresText = String(expires)
  const signature = sign(keyObject, method, canonical, params, expiresText, keyId)
  const signed = [
    formatQuery(params),
    `${SIGNATURE_PARAMS.expires}=${expiresText}`,
    `${SIGNATURE_PARAMS.keyId}=${keyId}`,
    `${SIGNATURE_PARAMS.signature}=${signature}`,
  ]
    .filter((part) => part !== '')
    .join('&')
  return `${canonical}?${signed}${fragment}`
}

/**
 * Checks the signature of `request`'s URL (`originalUrl` when present, else `url`) and returns
 * what it found. Throws a SignatureError whose message gives the method, the canonical path and
 * the reason (missing signature, duplicated parameter, malformed expiry, unknown key id, invalid
 * signature, expired at…): for the log, never for the client. The signature is never in it.
 *
 * A URL is valid strictly before its expiry second: at `dv_expires` it has expired.
 * HEAD is checked as GET. Pass options from `resolveSignatureOptions()` to check them only once.
 *
 * @example
 * const signing = resolveSignatureOptions({ keys: [{ id: 'k1', secret }] }, 'reports')
 * const { keyId, expiresAt } = verifySignature(req, signing)
 */
export function verifySignature(
  request: SignedRequest,
  options: SignatureOptions | ResolvedSignatureOptions,
): VerifiedSignature {
  const opts = isResolvedSignatureOptions(options)
    ? options
    : resolveSignatureOptions(options, 'verifySignature()')
  const { path, query } = splitUrl(request.originalUrl ?? request.url ?? '/')
  const canonical = canonicalPath(path)
  const method = signedMethod(request.method ?? 'GET')
  const refuse = (reason: string) =>
    new SignatureError(`Signed URL refused for ${method ?? 'an invalid method'} ${canonical}: ${reason}`)
  if (method === undefined) throw refuse('invalid method')

  // Sort the signature parameters out of the app's own.
  const found = new Map<string, string[]>()
  const params: QueryParam[] = []
  for (const param of parseQuery(query)) {
    if (RESERVED.has(param.name)) found.set(param.name, [...(found.get(param.name) ?? []), param.value])
    else params.push(param)
  }
  if (found.size === 0) throw refuse('missing signature')
  const single = (name: string): string => {
    const values = found.get(name) ?? []
    if (values.length > 1) throw refuse(`duplicated parameter "${name}"`)
    const [value] = values
    if (value === undefined) throw refuse(`missing parameter "${name}"`)
    return value
  }
  const expiresText = single(SIGNATURE_PARAMS.expires)
  const keyId = single(SIGNATURE_PARAMS.keyId)
  const signature = single(SIGNATURE_PARAMS.signature)

  if (!EXPIRES.test(expiresText)) throw refuse('malformed expiry')
  // The key id is echoed in the log only once it is known to be a plain token.
  if (!KEY_ID.test(keyId)) throw refuse('malformed key id')
  const key = opts.keys.get(keyId)
  if (!key) throw refuse(`unknown key id "${keyId}"`)
  if (!SIGNATURE.test(signature)) throw refuse('malformed signature')

  // Compare the base64url text, not decoded bytes: the last character carries 2 spare bits, so
  // decoding would accept 4 spellings of one signature. timingSafeEqual needs equal lengths,
  // which both have (43 bytes) after the check above.
  const expected = sign(key, method, canonical, params, expiresText, keyId)
  if (!timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(signature, 'latin1'))) {
    throw refuse('invalid signature (the URL was changed, or signed with another secret)')
  }

  // Expiry: checked after the signature, so the log says "expired" only of genuine URLs.
  const now = opts.clock()
  if (typeof now !== 'number' || !Number.isFinite(now)) {
    throw new Error(`The clock of the signature check returned ${String(now)}, not milliseconds`)
  }
  const expiresAt = new Date(Number(expiresText) * 1000)
  if (now >= expiresAt.getTime()) throw refuse(`expired at ${expiresAt.toISOString()}`)
  if (opts.maxAge !== undefined && expiresAt.getTime() - now > opts.maxAge * 1000) {
    throw refuse(`expires at ${expiresAt.toISOString()}, further away than maxAge (${opts.maxAge} s)`)
  }
  return { keyId, expiresAt }
}

/**
 * The HMAC of the string to sign, one field a line. No field can hold a line break: the path and
 * the query are percent-encoded, the method is a token, the expiry digits, the key id a token.
 */
function sign(
  key: KeyObject,
  method: string,
  path: string,
  params: readonly QueryParam[],
  expires: string,
  keyId: string,
): string {
  return createHmac('sha256', key)
    .update([SCHEME, method, path, canonicalQuery(params), expires, keyId].join('\n'))
    .digest('base64url')
}

/** The method a signature covers: upper case, with HEAD as GET; `undefined` for a non-token. */
function signedMethod(method: unknown): string | undefined {
  if (typeof method !== 'string' || !TOKEN.test(method)) return undefined
  const upper = method.toUpperCase()
  return upper === 'HEAD' ? 'GET' : upper
}
