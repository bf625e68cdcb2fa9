/**
 * @module redirectToBucket(): a 302 (or 303, 307) to a short-lived presigned URL of the object,
 * which makes the bucket answer with the name and type the app would have sent.
 */
import { ConfigurationError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { isActiveContent, resolveContentType } from '../http/content-type'
import { contentDisposition } from '../http/disposition'
import { type ResponsePlan, withExtra } from '../http/respond'
import { rejectUnknownOptions } from '../options'
import { MAX_EXPIRES_IN } from '../storage/storage'
import type { Handoff } from './handoff'
import { checkedUrl, type SigningStorage, signingLocation } from './presigned'

/** The redirect statuses a hand-off may answer with: all of them keep GET a GET. */
export type RedirectStatus = 302 | 303 | 307

/** Options of {@link redirectToBucket}. */
export interface RedirectToBucketOptions {
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

const OWNER = 'redirectToBucket()'
const REDIRECT_STATUSES: readonly number[] = [302, 303, 307]

/**
 * A hand-off that answers 200 and 206 plans about a stored file with a redirect to a presigned URL
 * of the object, for GET and HEAD alike, Range included (the client sends its Range again to the
 * bucket). 304, 412 and 416 stay the app's answers, decided from the row. Needs a storage that
 * presigns URLs (S3Storage): a file in any other storage, or a generated one, is a HandoffError
 * (the view answers 500 and logs it once).
 *
 * @example
 * new ObjectDownloadView({ dataSource, entity: Document, file: 'file', handoff: redirectToBucket({ expiresIn: 120 }) })
 */
export function redirectToBucket(options: RedirectToBucketOptions = {}): Handoff {
  const settings = redirectSettings(options)
  const handoff = async (
    plan: ResponsePlan,
    _request?: unknown,
    context?: { headers?: Record<string, string> },
  ) => {
    const file = plan.file
    if (!file) return undefined
    const { storage, key } = signingLocation(file, OWNER)
    return redirectPlan(plan, file, { storage, key, ...settings, headers: context?.headers ?? {} })
  }
  return Object.assign(handoff, { presigns: true })
}

/** The options with their defaults, checked: a ConfigurationError names a wrong one. */
function redirectSettings(options: RedirectToBucketOptions): Required<RedirectToBucketOptions> {
  if (typeof options !== 'object' || options === null)
    throw new ConfigurationError(`${OWNER}: options must be an object`)
  rejectUnknownOptions(options, ['status', 'expiresIn', 'maxAge'], OWNER)
  const status = options.status ?? 302
  if (!REDIRECT_STATUSES.includes(status))
    throw new ConfigurationError(`${OWNER}: option "status" must be 302, 303 or 307`)
  const expiresIn = options.expiresIn ?? 300
  if (!isSeconds(expiresIn) || expiresIn < 1 || expiresIn > MAX_EXPIRES_IN)
    throw new ConfigurationError(
      `${OWNER}: option "expiresIn" must be a whole number of seconds from 1 to ${MAX_EXPIRES_IN}`,
    )
  const maxAge = options.maxAge ?? Math.floor(expiresIn / 5)
  if (!isSeconds(maxAge) || maxAge < 0 || maxAge >= expiresIn)
    throw new ConfigurationError(
      `${OWNER}: option "maxAge" must be a whole number of seconds from 0 to less than expiresIn (${expiresIn})`,
    )
  return { status, expiresIn, maxAge }
}

function isSeconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value)
}

/** Where the object is, how to redirect, and the view's extra headers. */
export interface RedirectTarget extends Required<RedirectToBucketOptions> {
  storage: SigningStorage
  key: string
  headers?: Record<string, string>
}

/**
 * The redirect that replaces a 200 or 206 `plan` for `file`: `Location` is a URL presigned for
 * `target.expiresIn` seconds with `response-content-disposition` (the plan's own
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
  const { storage, key } = target
  // The file's own type, also when the app planned multipart/byteranges: the bucket sends the file.
  const contentType = resolveContentType(file.contentType, file.name)
  const planned = headerOf(plan, 'Content-Disposition')
  // The responder's own value (RFC 6266/8187), unless it is inline active content, or missing.
  const disposition =
    planned === undefined || (/^inline\b/i.test(planned) && isActiveContent(contentType))
      ? contentDisposition(file.name, { attachment: true })
      : planned
  const signed = await storage.signedUrl(key, {
    expiresIn: target.expiresIn,
    contentDisposition: disposition,
    contentType,
  })
  checkedUrl(signed, storage)
  const ours: Record<string, string> = {
    // As the storage signed it, byte for byte: the signature covers the path and the query.
    Location: signed,
    'Cache-Control': `private, max-age=${target.maxAge}`,
    'Content-Length': '0',
  }
  return { status: target.status, headers: withExtra(target.headers ?? {}, ours), file }
}

/** The value of header `name` in `plan`, whatever its case. */
function headerOf(plan: ResponsePlan, name: string): string | undefined {
  const wanted = name.toLowerCase()
  for (const [key, value] of Object.entries(plan.headers)) if (key.toLowerCase() === wanted) return value
  return undefined
}
