/** @module Signing keys and the options of signature checks, validated once at startup. */
import { createSecretKey, type KeyObject } from 'node:crypto'
import { ConfigurationError } from '../errors'
import { type Logger, stderrLogger } from '../logger'

/**
 * The fewest bytes a secret may have. RFC 2104 §3 discourages HMAC keys shorter than the hash
 * output, which is 32 bytes for SHA-256: use `crypto.randomBytes(32)`, or a string of 32 or more
 * random characters.
 */
export const MIN_SECRET_BYTES = 32

/** A key id: 1 to 32 URL-safe characters, sent as they are in every signed URL. */
export const KEY_ID = /^[A-Za-z0-9._~-]{1,32}$/

/**
 * One signing key. The id travels in the URL (never the secret), so keys can be rotated: sign
 * with the new key, keep the old one in `keys` until the URLs it signed have expired.
 */
export interface SigningKey {
  /** A short public name for the key: 1 to 32 letters, digits, `-`, `_`, `.` or `~` (`'2024-06'`). */
  readonly id: string
  /** The HMAC secret: a string (its UTF-8 bytes) or bytes, at least {@link MIN_SECRET_BYTES} long. */
  readonly secret: string | Uint8Array
}

/** The keys a check accepts: a list of keys, or a record from key id to secret. */
export type SigningKeys = readonly SigningKey[] | Readonly<Record<string, string | Uint8Array>>

/** How signed URLs are verified: by `requireSignature()`, `verifySignature()` and a view's `signature` option. */
export interface SignatureOptions {
  /**
   * Every key a URL may be signed with, looked up by the id in the URL. Ids must be unique.
   * Required; there is no default.
   */
  keys: SigningKeys
  /**
   * The furthest in the future, in seconds from now, that an expiry may be: a URL that expires
   * later is refused, even when its signature is good. Caps the damage of a link signed by mistake
   * for years. `undefined` sets no cap.
   * @default undefined
   */
  maxAge?: number
  /**
   * The current time in milliseconds since the epoch, as `Date.now` gives it. For tests.
   * @default Date.now
   */
  clock?: () => number
  /**
   * Where `requireSignature()` reports refused requests: `warn()` if the logger has one, else
   * `error()`. Views log with their own `logger` option and ignore this one.
   * @default a logger that writes one line to standard error
   */
  logger?: Logger
}

/** SignatureOptions, checked and with every default applied. Build it with `resolveSignatureOptions()`. */
export interface ResolvedSignatureOptions {
  /** Key id to HMAC key. */
  readonly keys: ReadonlyMap<string, KeyObject>
  readonly maxAge: number | undefined
  readonly clock: () => number
  readonly logger: Logger
}

const KNOWN = new Set(['keys', 'maxAge', 'clock', 'logger'])
const resolvedOptions = new WeakSet<object>()

/**
 * Validates `options` (throwing a ConfigurationError that names the bad option) and applies the
 * defaults. `owner` names the caller in messages: `requireSignature(): option "keys" must ...`.
 *
 * @example
 * const signing = resolveSignatureOptions({ keys: [{ id: 'k1', secret }] }, 'reports')
 * verifySignature(req, signing)
 */
export function resolveSignatureOptions(options: SignatureOptions, owner: string): ResolvedSignatureOptions {
  return resolveWithPrefix(options, owner, '')
}

/** Whether `options` came out of `resolveSignatureOptions()`. */
export function isResolvedSignatureOptions(
  options: SignatureOptions | ResolvedSignatureOptions,
): options is ResolvedSignatureOptions {
  return resolvedOptions.has(options)
}

/**
 * `resolveSignatureOptions()` for options nested in another options object: `prefix` is prepended
 * to option names (`signature.` gives `option "signature.keys"`).
 */
export function resolveWithPrefix(
  options: SignatureOptions,
  owner: string,
  prefix: string,
): ResolvedSignatureOptions {
  const fail: (option: string, rule: string) => never = (option, rule) => {
    throw new ConfigurationError(`${owner}: option "${prefix}${option}" ${rule}`)
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigurationError(
      prefix === ''
        ? `${owner}: options must be an object with "keys"`
        : `${owner}: option "${prefix.slice(0, -1)}" must be an object with "keys"`,
    )
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) fail(key, 'is unknown')
  }

  const keys = new Map<string, KeyObject>()
  const entries = keyEntries(options.keys)
  if (entries === undefined || entries.length === 0) {
    fail('keys', 'must be a non-empty array of { id, secret }, or a record of key id to secret')
  }
  for (const [rawId, secret] of entries) {
    const { id, key } = signingKey(rawId, secret, (rule) => fail('keys', rule))
    if (keys.has(id)) fail('keys', `has the key id "${id}" twice`)
    keys.set(id, key)
  }

  const { maxAge, clock, logger } = options
  if (maxAge !== undefined && !(Number.isSafeInteger(maxAge) && maxAge > 0)) {
    fail('maxAge', 'must be a positive integer (seconds), or undefined for no cap')
  }
  if (clock !== undefined && typeof clock !== 'function') {
    fail('clock', 'must be a function that returns milliseconds since the epoch')
  }
  if (logger !== undefined) {
    if (typeof logger?.error !== 'function') fail('logger', 'must have an error() method')
    if (logger.warn !== undefined && typeof logger.warn !== 'function') {
      fail('logger', 'must have a warn() method that is a function, or none')
    }
  }

  const resolved: ResolvedSignatureOptions = Object.freeze({
    keys,
    maxAge,
    clock: clock ?? Date.now,
    logger: logger ?? stderrLogger,
  })
  resolvedOptions.add(resolved)
  return resolved
}

/**
 * The checked id and the HMAC key for `secret`; `fail` receives the broken rule. The secret is
 * copied, so changing the caller's buffer later changes nothing.
 */
export function signingKey(
  id: unknown,
  secret: unknown,
  fail: (rule: string) => never,
): { id: string; key: KeyObject } {
  if (typeof id !== 'string' || !KEY_ID.test(id)) {
    const shown = typeof id === 'string' ? ` ${JSON.stringify(id.slice(0, 40))}` : ''
    fail(`has an invalid key id${shown}: use 1 to 32 letters, digits, "-", "_", "." or "~"`)
  }
  let bytes: Buffer | undefined
  if (typeof secret === 'string') bytes = Buffer.from(secret, 'utf8')
  else if (secret instanceof Uint8Array) bytes = Buffer.from(secret)
  else fail(`needs a string or Uint8Array secret for key "${id}"`)
  if (bytes.length < MIN_SECRET_BYTES) {
    fail(
      `has a secret of ${bytes.length} bytes for key "${id}": use at least ${MIN_SECRET_BYTES} random bytes`,
    )
  }
  return { id, key: createSecretKey(bytes) }
}

function keyEntries(keys: unknown): Array<[unknown, unknown]> | undefined {
  if (Array.isArray(keys)) {
    return keys.map((key: unknown) =>
      typeof key === 'object' && key !== null
        ? [(key as { id?: unknown }).id, (key as { secret?: unknown }).secret]
        : [undefined, undefined],
    )
  }
  if (typeof keys === 'object' && keys !== null && !(keys instanceof Uint8Array)) return Object.entries(keys)
  return undefined
}
