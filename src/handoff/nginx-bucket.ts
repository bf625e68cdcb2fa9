/**
 * @module nginxFromBucket(): nginx fetches the object from the bucket itself. The app answers with
 * `X-Accel-Redirect: <location><object path>?<presigned query>`; the `internal` location proxies
 * to the bucket's endpoint, which is written in nginx's configuration (docs/scale-out.md).
 */
import { ConfigurationError } from '../errors'
import type { ResponsePlan } from '../http/respond'
import { rejectUnknownOptions } from '../options'
import { MAX_EXPIRES_IN } from '../storage/storage'
import type { Handoff } from './handoff'
import { isNginxLocation } from './nginx'
import { checkedUrl, type SigningStorage, signingLocation } from './presigned'
import { offloadedPlan } from './rules'

/** The header that tells the internal location which bytes to ask the bucket for (`Range`). */
export const BUCKET_RANGE_HEADER = 'X-Bucket-Range'

/** Options of {@link nginxFromBucket}. */
export interface NginxFromBucketOptions {
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

const OWNER = 'nginxFromBucket()'

/**
 * A hand-off that has nginx send a stored object from the bucket: an empty 200 with
 * `X-Accel-Redirect` to the `internal` location that proxies to the bucket, and `X-Bucket-Range`
 * for a 206. HEAD stays the app's answer; several ranges, and objects whose URL nginx would change
 * on the way, are streamed by the app. Needs a storage that presigns URLs (S3Storage): a file in
 * any other storage, or a generated one, is a HandoffError (the view answers 500 and logs it once).
 *
 * @example
 * new StorageDownloadView({ storage: 'default', handoff: nginxFromBucket({ location: '/_bucket/' }) })
 */
export function nginxFromBucket(options: NginxFromBucketOptions): Handoff {
  if (typeof options !== 'object' || options === null)
    throw new ConfigurationError(`${OWNER}: options must be an object with "location"`)
  rejectUnknownOptions(options, ['location', 'expiresIn'], OWNER)
  const { location } = options
  // Dot segments, escaped ones too: nginx unescapes the URI, finds /../ and answers 404 to all.
  if (!isNginxLocation(location))
    throw new ConfigurationError(
      `${OWNER}: option "location" must be a URI path that starts and ends with "/" (such as "/_bucket/")`,
    )
  const expiresIn = options.expiresIn ?? 60
  if (
    typeof expiresIn !== 'number' ||
    !Number.isSafeInteger(expiresIn) ||
    expiresIn < 1 ||
    expiresIn > MAX_EXPIRES_IN
  )
    throw new ConfigurationError(
      `${OWNER}: option "expiresIn" must be a whole number of seconds from 1 to ${MAX_EXPIRES_IN}`,
    )
  const handoff = async (plan: ResponsePlan) => {
    const file = plan.file
    if (!file) return undefined
    const { storage, key } = signingLocation(file, OWNER)
    return xAccelPlan(plan, { storage, key, location, expiresIn })
  }
  return Object.assign(handoff, { presigns: true })
}

/** Where the object is, and where nginx proxies to the bucket. */
export interface XAccelTarget {
  storage: SigningStorage
  key: string
  location: string
  expiresIn: number
}

// The query of a presigned URL as nginx passes it on (unchanged): visible ASCII, no `#`.
const QUERY = /^(?:\?[\x21\x22\x24-\x7e]*)?$/

/**
 * The plan that has nginx send the object: status 200, no body, the app's headers (Content-Type,
 * Content-Disposition, ETag, Last-Modified, Cache-Control, Accept-Ranges, nosniff, the sandbox
 * policy, the view's `headers`) minus Content-Length and Content-Range, `X-Accel-Redirect` to
 * `location` + the presigned URL's path (without its leading `/`) and query, and for a 206 the one
 * range the app decided, as `X-Bucket-Range: bytes=<first>-<last>`. The internal location sends the
 * bucket that range and none of the client's headers, so If-Range, several ranges or a Range the
 * app ignored cannot make the bucket answer differently from the app.
 *
 * `undefined` (the app streams the plan) for HEAD (the app has answered it), for several ranges (the
 * bucket serves one range per request; the app builds the multipart body), and for an object whose
 * presigned path nginx would not forward byte for byte (see {@link forwardsUnchanged}).
 */
export async function xAccelPlan(
  plan: ResponsePlan,
  target: XAccelTarget,
): Promise<ResponsePlan | undefined> {
  if (!plan.body) return undefined
  const ranges = plan.ranges ?? []
  const [range] = ranges
  if (plan.status === 206 && (ranges.length !== 1 || !range)) return undefined
  const { storage, key } = target
  const signed = await storage.signedUrl(key, { expiresIn: target.expiresIn })
  const url = checkedUrl(signed, storage)
  const tail = signed.slice(url.origin.length)
  if (
    !signed.startsWith(url.origin) ||
    tail !== url.pathname + url.search ||
    !forwardsUnchanged(url.pathname) ||
    !QUERY.test(url.search)
  )
    return undefined
  const headers: Record<string, string> = {
    'X-Accel-Redirect': target.location + url.pathname.slice(1) + url.search,
  }
  if (plan.status === 206 && range) headers[BUCKET_RANGE_HEADER] = `bytes=${range.start}-${range.end}`
  const offloaded = offloadedPlan(plan, headers)
  // The bucket sends its own Accept-Ranges, which the internal location replaces with the app's.
  const acceptRanges = plan.headers['Accept-Ranges']
  if (acceptRanges !== undefined) offloaded.headers['Accept-Ranges'] = acceptRanges
  return offloaded
}

/**
 * Whether nginx forwards the URI path `path` to the bucket exactly as it is. nginx unescapes an
 * X-Accel-Redirect URI, then escapes only space, `#`, `%`, `?`, controls and bytes above 0x7e
 * before proxying it; a presigned path escapes more (`(`, `:`, `+`, `!`…, RFC 3986 style), and
 * S3 checks the signature against the path it receives, so such a path would arrive changed and
 * be refused (403). It must also hold no dot segment and no NUL once unescaped (nginx refuses
 * those). Keys that attachFile() makes (`[A-Za-z0-9_.-]` and `/`) always pass.
 */
export function forwardsUnchanged(path: string): boolean {
  if (!/^\/[\x21-\x7e]*$/.test(path)) return false
  const bytes: number[] = []
  for (let i = 0; i < path.length; i++) {
    const char = path.charCodeAt(i)
    if (char !== 0x25) {
      bytes.push(char)
      continue
    }
    const hex = path.slice(i + 1, i + 3)
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return false
    bytes.push(Number.parseInt(hex, 16))
    i += 2
  }
  const decoded = Buffer.from(bytes)
  if (decoded.includes(0)) return false
  const text = decoded.toString('latin1')
  if (/(?:^|\/)\.{1,2}(?:\/|$)/.test(text)) return false
  let escaped = ''
  for (const byte of decoded) {
    escaped +=
      byte <= 0x20 || byte >= 0x7f || byte === 0x23 || byte === 0x25 || byte === 0x3f
        ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
        : String.fromCharCode(byte)
  }
  return escaped === path
}
