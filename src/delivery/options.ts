/**
 * @module Delivery options: how the bytes of a stored file reach the client (through the app, by a
 * redirect to a presigned URL, or through nginx from the bucket), checked once at startup.
 */
import { ConfigurationError } from '../errors'
import { isNginxLocation } from '../offload/nginx'
import { MAX_EXPIRES_IN } from '../storage/storage'

/** The delivery modes: `stream` through the app, `redirect` to the bucket, `x-accel` through nginx. */
export type DeliveryMode = 'stream' | 'redirect' | 'x-accel'

/** The redirect statuses a delivery may answer with: all of them keep GET a GET. */
export type RedirectStatus = 302 | 303 | 307

/** `redirect`: answer 200/206 plans with a redirect to a short-lived presigned URL of the object. */
export interface RedirectDeliveryOptions {
  mode: 'redirect'
  /**
   * The redirect's status.
   * @default 302
   */
  status?: RedirectStatus
  /**
   * Seconds the presigned URL works (1 to 604800, S3's longest).
   * @default 300
   */
  expiresIn?: number
  /**
   * `Cache-Control: private, max-age=<maxAge>` on the redirect: how long a browser may reuse it.
   * Less than `expiresIn`, so a reused redirect still leads to a URL that works.
   * @default a fifth of `expiresIn`, rounded down (60 for 300)
   */
  maxAge?: number
}

/** `x-accel`: nginx fetches the object from the bucket through an `internal` location that proxies to it. */
export interface XAccelDeliveryOptions {
  mode: 'x-accel'
  /**
   * The nginx `internal` location that proxies to the bucket's endpoint (`/_bucket/`): the app
   * answers `X-Accel-Redirect: <location><object path>?<presigned query>` (docs/scale-out.md).
   */
  location: string
  /**
   * Seconds the presigned URL that nginx fetches works; nginx uses it at once.
   * @default 60
   */
  expiresIn?: number
}

/**
 * How a view delivers stored files: `'stream'`, `'redirect'` (with the defaults), or an options
 * object (`{ mode: 'x-accel', location }` needs its location).
 */
export type DeliveryOption =
  | 'stream'
  | 'redirect'
  | { mode: 'stream' }
  | RedirectDeliveryOptions
  | XAccelDeliveryOptions

/** A delivery with every default applied. */
export type Delivery =
  | { mode: 'stream' }
  | { mode: 'redirect'; status: RedirectStatus; expiresIn: number; maxAge: number }
  | { mode: 'x-accel'; location: string; expiresIn: number }

const REDIRECT_STATUSES: readonly number[] = [302, 303, 307]

/**
 * Checks a `delivery` option and applies its defaults; `undefined` when it is not given. `owner`
 * names the view or decorator in messages (`ObjectDownloadView: option "delivery" ...`).
 *
 * @example
 * resolveDelivery({ mode: 'redirect', expiresIn: 120 }, 'StorageDownloadView')
 * // { mode: 'redirect', status: 302, expiresIn: 120, maxAge: 24 }
 */
export function resolveDelivery(option: unknown, owner: string): Delivery | undefined {
  if (option === undefined) return undefined
  const fail = (name: string, rule: string): never => {
    throw new ConfigurationError(`${owner}: option "${name}" ${rule}`)
  }
  if (option === 'stream') return { mode: 'stream' }
  if (option === 'redirect') return { mode: 'redirect', status: 302, expiresIn: 300, maxAge: 60 }
  if (option === 'x-accel')
    fail('delivery', "'x-accel' needs the nginx location: { mode: 'x-accel', location: '/_bucket/' }")
  if (typeof option !== 'object' || option === null || Array.isArray(option))
    fail('delivery', "must be 'stream', 'redirect', or { mode, ... }")
  const record = option as Record<string, unknown>
  const known = (keys: readonly string[]) => {
    for (const key of Object.keys(record)) {
      if (!keys.includes(key))
        fail('delivery', `has an unknown key "${key}" for mode '${String(record.mode)}'`)
    }
  }
  const seconds = (name: string, fallback: number): number => {
    const value = record[name] ?? fallback
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_EXPIRES_IN)
      fail(`delivery.${name}`, `must be a whole number of seconds from 1 to ${MAX_EXPIRES_IN}`)
    return value as number
  }
  switch (record.mode) {
    case 'stream':
      known(['mode'])
      return { mode: 'stream' }
    case 'redirect': {
      known(['mode', 'status', 'expiresIn', 'maxAge'])
      const status = record.status ?? 302
      if (typeof status !== 'number' || !REDIRECT_STATUSES.includes(status))
        fail('delivery.status', 'must be 302, 303 or 307')
      const expiresIn = seconds('expiresIn', 300)
      const maxAge = record.maxAge ?? Math.floor(expiresIn / 5)
      if (typeof maxAge !== 'number' || !Number.isSafeInteger(maxAge) || maxAge < 0 || maxAge >= expiresIn)
        fail(
          'delivery.maxAge',
          `must be a whole number of seconds from 0 to less than expiresIn (${expiresIn})`,
        )
      return { mode: 'redirect', status: status as RedirectStatus, expiresIn, maxAge: maxAge as number }
    }
    case 'x-accel': {
      known(['mode', 'location', 'expiresIn'])
      const location = record.location
      // Dot segments, escaped ones too: nginx unescapes the URI, finds /../ and answers 404 to all.
      if (!isNginxLocation(location))
        fail('delivery.location', 'must be a URI path that starts and ends with "/" (such as "/_bucket/")')
      return { mode: 'x-accel', location: location as string, expiresIn: seconds('expiresIn', 60) }
    }
    default:
      return fail('delivery.mode', "must be 'stream', 'redirect' or 'x-accel'")
  }
}
