/**
 * @module The `redirect` delivery: a 302 (or 303, 307) to a short-lived presigned URL of the object,
 * which makes the bucket answer with the name and type the app would have sent.
 */
import type { DownloadFile } from '../files/download-file'
import { isActiveContent, resolveContentType } from '../responder/content-type'
import { contentDisposition } from '../responder/disposition'
import { type ResponsePlan, withExtra } from '../responder/respond'
import type { Delivery } from './options'
import { checkedUrl, type SigningStorage } from './presigned'

/** Where the object is, how to redirect, and the view's extra headers. */
export interface RedirectTarget {
  storage: SigningStorage
  key: string
  delivery: Extract<Delivery, { mode: 'redirect' }>
  headers?: Record<string, string>
}

/**
 * The redirect that replaces a 200 or 206 `plan` for `file`: `Location` is a URL presigned for
 * `delivery.expiresIn` seconds with `response-content-disposition` (the plan's own
 * Content-Disposition, RFC 6266/8187) and `response-content-type`; `Cache-Control: private,
 * max-age=<maxAge>`, shorter than the URL's life; an empty body.
 *
 * Active content (HTML, SVG, XML, JavaScript) is sent as an attachment even on an inline view: the
 * bucket cannot add the `Content-Security-Policy: sandbox` the app would send with it.
 *
 * The redirect carries no ETag or Last-Modified: a browser that revalidated a cached redirect with
 * them would get a 304 and keep following a URL that has expired.
 */
export async function redirectPlan(
  plan: ResponsePlan,
  file: DownloadFile,
  target: RedirectTarget,
): Promise<ResponsePlan> {
  const { storage, key, delivery } = target
  // The file's own type, also when the app planned multipart/byteranges: the bucket sends the file.
  const contentType = resolveContentType(file.contentType, file.name)
  const planned = headerOf(plan, 'Content-Disposition')
  // The responder's own value (RFC 6266/8187), unless it is inline active content, or missing.
  const disposition =
    planned === undefined || (/^inline\b/i.test(planned) && isActiveContent(contentType))
      ? contentDisposition(file.name, { attachment: true })
      : planned
  const signed = await storage.signedUrl(key, {
    expiresIn: delivery.expiresIn,
    contentDisposition: disposition,
    contentType,
  })
  checkedUrl(signed, storage)
  const ours: Record<string, string> = {
    // As the storage signed it, byte for byte: the signature covers the path and the query.
    Location: signed,
    'Cache-Control': `private, max-age=${delivery.maxAge}`,
    'Content-Length': '0',
  }
  return { status: delivery.status, headers: withExtra(target.headers ?? {}, ours), file }
}

/** The value of header `name` in `plan`, whatever its case. */
function headerOf(plan: ResponsePlan, name: string): string | undefined {
  const wanted = name.toLowerCase()
  for (const [key, value] of Object.entries(plan.headers)) if (key.toLowerCase() === wanted) return value
  return undefined
}
