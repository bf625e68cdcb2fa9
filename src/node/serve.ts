/**
 * @module serve(): the one step on node's req/res that every adapter calls. The view decides (the
 * method check, the signature, the file, the plan and its hand-off); this writes the decision, maps
 * library errors to their status, and releases what the file held. No framework here: Express,
 * Fastify and NestJS adapters are thin edges around it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { DestinationNotAllowedError, SignatureError, statusForError, UpstreamError } from '../errors'
import { statusAnswer } from '../http/respond'
import { type Logger, warn } from '../logger'
import { DownloadReport } from '../node/download-report'
import { sendPlan } from '../node/send'
import type { Decision, DownloadRequest, DownloadView, RouteParams } from '../views/download-view'

/**
 * Answers one request with `view`. Library errors become their status (404, 400, 403, 503…) with
 * a short plain-text body; anything unexpected is rethrown, for the caller's error handling (an
 * Express `next`, a Fastify error handler); after the headers went out, a failure cuts the
 * connection instead.
 *
 * @example
 * http.createServer((req, res) => serve(view, req, res, { slug: 'hello' }).catch(() => res.destroy()))
 */
export async function serve(
  view: DownloadView,
  req: IncomingMessage,
  res: ServerResponse,
  params: RouteParams = {},
): Promise<void> {
  const { logger, idleTimeout } = view.sendOptions
  const request = { req, params }
  // Begun before the lookup: the event's duration covers the whole answer.
  const report = DownloadReport.begin(view, request)
  let decision: Decision | undefined
  try {
    decision = await view.decide(request)
    await sendPlan(decision.plan, req, res, logger, { idleTimeout, report })
  } catch (error) {
    const status = statusForError(error)
    if (status === undefined || res.headersSent) throw error
    reportRefusal(error, logger)
    const answer = statusAnswer(status)
    res.writeHead(answer.status, answer.headers).end(answer.text)
  } finally {
    decision?.release()
  }
}

/**
 * Decides for an adapter that writes the answer through its framework (Fastify's reply, Nest's
 * response): errors are thrown, after the ones worth a line (a refused signature, a forbidden or
 * failing upstream) were logged with the view's logger.
 */
export async function decide(view: DownloadView, request: DownloadRequest): Promise<Decision> {
  try {
    return await view.decide(request)
  } catch (error) {
    reportRefusal(error, view.sendOptions.logger)
    throw error
  }
}

/**
 * Why a request was refused, or an upstream failed, is for the log, never for the client: a refused
 * signature, a forbidden destination and an upstream failure get a warning on `logger`. Adapters
 * that open a body themselves call it for the errors of that step too.
 */
export function reportRefusal(error: unknown, logger: Logger): void {
  if (
    error instanceof SignatureError ||
    error instanceof DestinationNotAllowedError ||
    error instanceof UpstreamError
  )
    warn(logger, error.message)
}

/**
 * Opens the body of `decision` for an adapter that writes through its framework, before it sets
 * any header, so that a file gone since the lookup is still a clean 404: `undefined` for HEAD and
 * bodiless answers. When opening fails, what the file holds is released and the refusal logged
 * (`reportRefusal`), and the error thrown for the adapter to map to its framework's error.
 */
export async function openBody(
  decision: Decision,
  req: IncomingMessage,
  logger: Logger,
): Promise<Readable | undefined> {
  const { plan } = decision
  if (!plan.body || req.method === 'HEAD') return undefined
  try {
    return await plan.body()
  } catch (error) {
    decision.release()
    reportRefusal(error, logger)
    throw error
  }
}
