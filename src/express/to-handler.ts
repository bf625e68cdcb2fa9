/** @module The Express adapter: the only module that knows Express. */
import type { ErrorRequestHandler, RequestHandler } from 'express'
import { statusForError } from '../errors'
import { statusAnswer } from '../responder/respond'
import type { DownloadView } from '../views/download-view'

/**
 * An Express 5 RequestHandler for `view` (the same as `view.handler()`, typed for Express).
 *
 * @example
 * app.get('/documents/:slug/', toHandler(documentView))
 */
export function toHandler(view: DownloadView): RequestHandler {
  const handler = view.handler()
  return (req, res, next) => handler(req, res, next)
}

/**
 * An error middleware for the end of the app: answers library errors that reach Express (from
 * guards or custom handlers) with their status, and anything else with a bare 500. Never a stack
 * trace to the client. Errors that carry a 4xx `status` (Express's own, for a malformed URL
 * escape) keep it.
 */
export function downloadErrorHandler(): ErrorRequestHandler {
  return (error, _req, res, next) => {
    if (res.headersSent) {
      next(error)
      return
    }
    const answer = statusAnswer(statusForError(error) ?? clientErrorStatus(error) ?? 500)
    res.writeHead(answer.status, answer.headers).end(answer.text)
  }
}

/** The 4xx that Express and its middlewares attach to errors (`status`), such as a bad URL escape. */
function clientErrorStatus(error: unknown): number | undefined {
  const status =
    (error as { status?: unknown; statusCode?: unknown } | null)?.status ??
    (error as { statusCode?: unknown } | null)?.statusCode
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined
}
