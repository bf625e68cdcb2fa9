/** @module The Express adapter: the only module that knows Express. */
import type { ErrorRequestHandler, RequestHandler } from 'express'
import { ConfigurationError, statusForError } from '../errors'
import { statusAnswer } from '../http/respond'
import { type Logger, stderrLogger } from '../logger'
import { serve } from '../node/serve'
import type { DownloadView } from '../views/download-view'

/**
 * An Express (4.21+ or 5) RequestHandler for `view`: `serve()` with the route's parameters; errors
 * it does not answer itself (a bug, a storage's unexpected failure) go to `next`, so to the app's
 * error handler (`downloadErrorHandler()`).
 *
 * @example
 * app.all('/documents/:slug/', toHandler(documentView))
 */
export function toHandler(view: DownloadView): RequestHandler {
  return (req, res, next) => {
    serve(view, req, res, req.params).catch(next)
  }
}

/** Options of {@link downloadErrorHandler}. */
export interface DownloadErrorHandlerOptions {
  /**
   * Where each 5xx it writes is reported, with the error.
   * @default a logger that writes one line to standard error
   */
  logger?: Logger
}

/**
 * An error middleware for the end of the app: answers library errors that reach Express (from
 * guards or custom handlers) with their status, and anything else with a bare 500. Never a stack
 * trace to the client; every 5xx it writes is logged, with the request's method and path (not its
 * query, which may hold a signature). Errors that carry a 4xx `status` (Express's own, for a
 * malformed URL escape) keep it.
 */
export function downloadErrorHandler(options: DownloadErrorHandlerOptions = {}): ErrorRequestHandler {
  const logger = options.logger ?? stderrLogger
  if (typeof logger?.error !== 'function')
    throw new ConfigurationError('downloadErrorHandler(): option "logger" must have an error() method')
  return (error, req, res, next) => {
    if (res.headersSent) {
      next(error)
      return
    }
    const answer = statusAnswer(statusForError(error) ?? clientErrorStatus(error) ?? 500)
    if (answer.status >= 500) {
      const path = (req.originalUrl ?? req.url ?? '').split('?')[0]
      logger.error(`${req.method} ${path}: ${answer.status}`, error)
    }
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
