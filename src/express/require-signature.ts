/**
 * @module requireSignature(): a connect/Express middleware that lets through only signed, unexpired
 * URLs and answers anything else 403 itself. (A view's own `signature` option does the same check
 * through `serve()`.)
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { SignatureError } from '../errors'
import { statusAnswer } from '../http/respond'
import { warn } from '../logger'
import { resolveSignatureOptions, type SignatureOptions } from '../signing/options'
import { verifySignature } from '../signing/signed-url'

/** A connect/Express-style middleware. Express 5's `RequestHandler` accepts it as it is. */
export type SignatureMiddleware = (
  req: IncomingMessage & { originalUrl?: string },
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void

/**
 * A middleware that lets through only requests whose URL `signUrl()` signed with one of
 * `options.keys` and that have not expired. Any other request gets a 403 whose body is the status
 * text alone (`Forbidden`); the reason goes to `options.logger` (`warn()`, else `error()`), once.
 * Options are checked here, at startup: a bad one throws a ConfigurationError naming it.
 *
 * Under a mounted router it checks `req.originalUrl`, the URL the client signed.
 *
 * @example
 * const keys = [{ id: '2024-06', secret: process.env.DOWNLOAD_SECRET! }]
 * app.get('/signed/report/', requireSignature({ keys, maxAge: 3600 }), toHandler(reportView))
 * // elsewhere: res.redirect(signUrl('/signed/report/', { key: keys[0], expiresIn: 300 }))
 */
export function requireSignature(options: SignatureOptions): SignatureMiddleware {
  const resolved = resolveSignatureOptions(options, 'requireSignature()')
  return (req, res, next) => {
    try {
      verifySignature(req, resolved)
    } catch (error) {
      if (!(error instanceof SignatureError)) {
        next(error)
        return
      }
      // The reason a request was refused is for the log, never for the client.
      warn(resolved.logger, error.message)
      const answer = statusAnswer(403)
      res.writeHead(answer.status, answer.headers).end(answer.text)
      return
    }
    next()
  }
}
