/**
 * @module Offload: hand the bytes of a decided response to a reverse proxy (nginx X-Accel-Redirect,
 * Apache X-Sendfile, lighttpd X-Lighttpd-Send-File). An offload rewrites a ResponsePlan; it may
 * read the request's headers, and never sees a response object.
 */
import type { IncomingMessage } from 'node:http'
import type { RequestLike, ResponsePlan } from '../responder/respond'

/**
 * Rewrites a plan that would stream a body into one the reverse proxy completes, or returns
 * `undefined` when it cannot (no rule matches the file's location, a generated file): the plan is
 * then streamed by Node as usual. `request`, when given, is the request the plan answers: a
 * backend may decline requests its proxy would judge differently from the app (nginx checks
 * If-Match again).
 */
export type Offload = (plan: ResponsePlan, request?: RequestLike) => ResponsePlan | undefined

const REQUEST_OFFLOADS = Symbol.for('typeorm-downloadview.offloads')

type WithOffloads = IncomingMessage & { [REQUEST_OFFLOADS]?: readonly Offload[] }

/**
 * The plan the first matching offload makes of `plan`, or `plan` itself. Only plans that carry a
 * body (200 and 206 to a GET) are offloaded: HEAD, 304, 412 and 416 are answered by the app, which
 * has already decided them from the file's metadata.
 */
export function applyOffload(
  plan: ResponsePlan,
  offloads: readonly Offload[],
  request?: RequestLike,
): ResponsePlan {
  if (!plan.body || !plan.file) return plan
  for (const offload of offloads) {
    const rewritten = offload(plan, request)
    if (rewritten) return rewritten
  }
  return plan
}

/**
 * A connect/Express middleware that turns offload on for every download view below it (a view's
 * own `offload` option wins; `offload: false` on a view opts out).
 *
 * @example
 * app.use(offloadMiddleware(xAccelRedirect({ rules: [{ root: '/srv/media', location: '/protected/' }] })))
 */
export function offloadMiddleware(
  ...offloads: Offload[]
): (req: IncomingMessage, res: unknown, next: (error?: unknown) => void) => void {
  for (const offload of offloads) {
    if (typeof offload !== 'function') throw new TypeError('offloadMiddleware() takes offload functions')
  }
  const frozen = Object.freeze([...offloads])
  return (req, _res, next) => {
    ;(req as WithOffloads)[REQUEST_OFFLOADS] = frozen
    next()
  }
}

/** The offloads `offloadMiddleware()` attached to `req`, if any (pass `req` on to `applyOffload`). */
export function requestOffloads(req: IncomingMessage): readonly Offload[] | undefined {
  return (req as WithOffloads)[REQUEST_OFFLOADS]
}
