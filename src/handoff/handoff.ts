/**
 * @module Hand-off: someone else sends the bytes of an answer the app decided. One concept with
 * several backends: a reverse proxy reading a local file (nginx X-Accel-Redirect, Apache and
 * lighttpd X-Sendfile), a redirect to a presigned URL of the object, or nginx fetching it from the
 * bucket. A hand-off rewrites a ResponsePlan; it may read the request's headers, and never sees a
 * response object.
 */
import type { IncomingMessage } from 'node:http'
import { ConfigurationError } from '../errors'
import type { RequestLike, ResponsePlan } from '../http/respond'

/** What a hand-off may need besides the plan and the request. */
export interface HandoffContext {
  /** The view's extra headers (its `headers` option), which a redirect carries too. @default {} */
  headers?: Record<string, string>
}

/**
 * Rewrites a 200 or 206 plan about a file into one that someone else completes (an empty body
 * with `X-Accel-Redirect`, `X-Sendfile`, or a redirect to the bucket), or returns `undefined` when
 * it does not take this file (no rule covers it; several ranges the bucket cannot send): the next
 * hand-off is tried, and the plan is streamed by Node when none takes it. `request`, when given,
 * is the request the plan answers: a backend may decline requests its proxy would judge
 * differently from the app (nginx checks If-Match again). The bucket backends are asynchronous
 * (they presign a URL) and throw a HandoffError for a file that is in no storage that presigns.
 *
 * Build them with `xAccelRedirect()`, `xSendfile()`, `lighttpdSendfile()`, `redirectToBucket()`
 * or `nginxFromBucket()`; any function of this shape is one too.
 */
export type Handoff = ((
  plan: ResponsePlan,
  request?: RequestLike,
  context?: HandoffContext,
) => ResponsePlan | undefined | Promise<ResponsePlan | undefined>) & {
  /** Set on hand-offs that need a storage that presigns URLs (`redirectToBucket()`, `nginxFromBucket()`). */
  readonly presigns?: boolean
}

/**
 * A hand-off to a reverse proxy that reads local files (`xAccelRedirect()`, `xSendfile()`,
 * `lighttpdSendfile()`): synchronous, as it only rewrites headers.
 */
export type ProxyHandoff = (plan: ResponsePlan, request?: RequestLike) => ResponsePlan | undefined

/** Hand-offs as a `handoff` option gives them: one, a list tried in order, or `false` for none. */
export type HandoffOption = Handoff | readonly Handoff[] | false

/**
 * Checks a `handoff` option: `undefined` when it is not given, `[]` for `false`, else the list.
 * Throws a ConfigurationError that names `owner`'s option otherwise.
 */
export function handoffList(option: unknown, owner: string): readonly Handoff[] | undefined {
  if (option === undefined) return undefined
  if (option === false) return []
  const list = Array.isArray(option) ? option : [option]
  if (!list.every((item) => typeof item === 'function'))
    throw new ConfigurationError(
      `${owner}: option "handoff" must be a hand-off (xAccelRedirect(), xSendfile(), redirectToBucket()...), a list of them, or false`,
    )
  return Object.freeze([...list]) as readonly Handoff[]
}

/**
 * The plan the first hand-off that takes `plan` makes of it, or `plan` itself. Only 200 and 206
 * plans about a file are handed off: 304, 412, 416 and 405 are the app's answers, decided from the
 * file's metadata. Synchronous while every hand-off tried is (a streamed plan goes out without
 * another tick); a promise once one presigns.
 */
export function applyHandoff(
  plan: ResponsePlan,
  handoffs: readonly ProxyHandoff[],
  request?: RequestLike,
  context?: HandoffContext,
): ResponsePlan
export function applyHandoff(
  plan: ResponsePlan,
  handoffs: readonly Handoff[],
  request?: RequestLike,
  context?: HandoffContext,
): ResponsePlan | Promise<ResponsePlan>
export function applyHandoff(
  plan: ResponsePlan,
  handoffs: readonly Handoff[],
  request?: RequestLike,
  context?: HandoffContext,
): ResponsePlan | Promise<ResponsePlan> {
  if (!plan.file || (plan.status !== 200 && plan.status !== 206)) return plan
  return tryFrom(0)

  function tryFrom(index: number): ResponsePlan | Promise<ResponsePlan> {
    for (let i = index; i < handoffs.length; i++) {
      const rewritten = (handoffs[i] as Handoff)(plan, request, context)
      if (rewritten instanceof Promise)
        return rewritten.then((value) => (value ? handedOff(value, plan) : tryFrom(i + 1)))
      if (rewritten) return handedOff(rewritten, plan)
    }
    return plan
  }
}

/** The plans a hand-off made, each with the responder's plan it replaced. */
const HANDED_OFF = new WeakMap<ResponsePlan, ResponsePlan>()

function handedOff(rewritten: ResponsePlan, planned: ResponsePlan): ResponsePlan {
  if (rewritten !== planned) HANDED_OFF.set(rewritten, planned)
  return rewritten
}

/**
 * The responder's plan that a hand-off replaced with `plan` (its status and ranges are what the
 * proxy or the bucket serves), or `undefined` when `plan` was not made by a hand-off that
 * `applyHandoff()` ran: download events tell handed-off answers apart with it.
 */
export function handedOffFrom(plan: ResponsePlan): ResponsePlan | undefined {
  return HANDED_OFF.get(plan)
}

const REQUEST_HANDOFFS = Symbol.for('typeorm-downloadview.handoffs')

type WithHandoffs = IncomingMessage & { [REQUEST_HANDOFFS]?: readonly Handoff[] }

/**
 * Sets the app-wide hand-offs on `req`, for every view that serves it (the Express adapter's
 * `handoffMiddleware()` calls it). A view's own `handoff`, or its file column's, comes first.
 */
export function setRequestHandoffs(req: IncomingMessage, handoffs: readonly Handoff[]): void {
  ;(req as WithHandoffs)[REQUEST_HANDOFFS] = handoffs
}

/** The hand-offs `setRequestHandoffs()` attached to `req`, if any. */
export function requestHandoffs(req: IncomingMessage): readonly Handoff[] | undefined {
  return (req as WithHandoffs)[REQUEST_HANDOFFS]
}
