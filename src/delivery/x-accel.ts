/**
 * @module The `x-accel` delivery: nginx fetches the object from the bucket itself. The app answers
 * with `X-Accel-Redirect: <location><object path>?<presigned query>`; the `internal` location
 * proxies to the bucket's endpoint, which is written in nginx's configuration (docs/scale-out.md).
 */
import { offloadedPlan } from '../offload/rules'
import type { ResponsePlan } from '../responder/respond'
import type { Delivery } from './options'
import { checkedUrl, type SigningStorage } from './presigned'

/** The header that tells the internal location which bytes to ask the bucket for (`Range`). */
export const BUCKET_RANGE_HEADER = 'X-Bucket-Range'

/** Where the object is, and where nginx proxies to the bucket. */
export interface XAccelTarget {
  storage: SigningStorage
  key: string
  delivery: Extract<Delivery, { mode: 'x-accel' }>
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
 * `plan` itself (streamed by the app) for HEAD (the app has answered it), for several ranges (the
 * bucket serves one range per request; the app builds the multipart body), and for an object whose
 * presigned path nginx would not forward byte for byte (see {@link forwardsUnchanged}).
 */
export async function xAccelPlan(plan: ResponsePlan, target: XAccelTarget): Promise<ResponsePlan> {
  if (!plan.body) return plan
  const ranges = plan.ranges ?? []
  const [range] = ranges
  if (plan.status === 206 && (ranges.length !== 1 || !range)) return plan
  const { storage, key, delivery } = target
  const signed = await storage.signedUrl(key, { expiresIn: delivery.expiresIn })
  const url = checkedUrl(signed, storage)
  const tail = signed.slice(url.origin.length)
  if (
    !signed.startsWith(url.origin) ||
    tail !== url.pathname + url.search ||
    !forwardsUnchanged(url.pathname) ||
    !QUERY.test(url.search)
  )
    return plan
  const headers: Record<string, string> = {
    'X-Accel-Redirect': delivery.location + url.pathname.slice(1) + url.search,
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
