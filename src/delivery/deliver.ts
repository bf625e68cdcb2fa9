/**
 * @module Delivery: rewrites the responder's plan for a stored file so that the bytes come from the
 * bucket (a redirect to a presigned URL, or nginx fetching it) instead of through the app. It sees
 * a ResponsePlan only, never a request or response object.
 */
import type { ResponsePlan } from '../responder/respond'
import type { Delivery } from './options'
import { signingLocation } from './presigned'
import { redirectPlan } from './redirect'
import { xAccelPlan } from './x-accel'

/** What a delivery needs to know besides the plan. */
export interface DeliveryContext {
  /** The view's extra headers (its `headers` option), which a redirect carries too. @default {} */
  headers?: Record<string, string>
}

/**
 * The plan that delivers `plan` the way `delivery` says. Only 200 and 206 plans about a stored file
 * change: 304, 412 and 416 (decided from the file's metadata) and 405 stay the app's answer.
 *
 * - `stream`: `plan` itself.
 * - `redirect`: a 302 (or the configured status) to a presigned URL that carries the download's
 *   Content-Disposition and Content-Type; for GET and HEAD alike, Range included (the client sends
 *   its Range again to the bucket).
 * - `x-accel`: an empty 200 with `X-Accel-Redirect` to the nginx location that proxies to the
 *   bucket, and `X-Bucket-Range` for a 206. HEAD stays the app's answer; several ranges, and
 *   objects whose URL nginx would change on the way, are streamed (`plan` itself).
 *
 * Rejects with a DeliveryError when the file is not in a storage that can presign URLs, or the
 * storage made a URL that cannot go into a header; with the storage's own error when presigning fails.
 *
 * @example
 * const plan = planResponse(req, file, options)
 * const delivered = await deliver(plan, { mode: 'redirect', status: 302, expiresIn: 300, maxAge: 60 })
 * // { status: 302, headers: { Location: 'https://bucket.s3…', 'Cache-Control': 'private, max-age=60', … } }
 */
export async function deliver(
  plan: ResponsePlan,
  delivery: Delivery,
  context: DeliveryContext = {},
): Promise<ResponsePlan> {
  const file = plan.file
  if (delivery.mode === 'stream' || !file || (plan.status !== 200 && plan.status !== 206)) return plan
  const { storage, key } = signingLocation(file, delivery.mode)
  if (delivery.mode === 'redirect')
    return redirectPlan(plan, file, { storage, key, delivery, headers: context.headers ?? {} })
  return xAccelPlan(plan, { storage, key, delivery })
}
