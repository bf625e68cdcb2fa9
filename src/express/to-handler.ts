/** @module The Express adapter: the only module that knows Express. */
import type { ErrorRequestHandler, RequestHandler } from 'express'
import { statusForError } from '../errors'
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
 * trace to the client.
 */
export function downloadErrorHandler(): ErrorRequestHandler {
  return (error, _req, res, next) => {
    if (res.headersSent) {
      next(error)
      return
    }
    const status = statusForError(error) ?? 500
    res
      .status(status)
      .type('text/plain')
      .set('X-Content-Type-Options', 'nosniff')
      .send(`${status === 500 ? 'Internal Server Error' : res.statusMessage || 'Error'}\n`)
  }
}
