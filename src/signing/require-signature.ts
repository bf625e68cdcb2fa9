/**
 * @module Signature checks at the edge: `requireSignature()`, a connect/Express middleware that
 * answers 403 itself, and `signatureCheck()`, the check behind a view's `signature` option.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { SignatureError } from '../errors'
import { statusAnswer } from '../responder/respond'
import { warn } from '../responder/send'
import { resolveSignatureOptions, resolveWithPrefix, type SignatureOptions } from './options'
import { type SignedRequest, verifySignature } from './signed-url'

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

/**
 * The check behind a view's `signature` option: validates `options` now (a ConfigurationError
 * names `option "signature.keys"` and the like, after `owner`) and returns a function that throws a
 * SignatureError for a request whose URL is not validly signed. The view calls it in `authorize()`
 * and logs the error with its own logger; `options.logger` is not used.
 *
 * @example
 * const check = signatureCheck({ keys }, 'ObjectDownloadView')
 * check(req) // throws SignatureError: Signed URL refused for GET /signed/report/: expired at ...
 */
export function signatureCheck(options: SignatureOptions, owner: string): (req: SignedRequest) => void {
  const resolved = resolveWithPrefix(options, owner, 'signature.')
  return (req) => {
    verifySignature(req, resolved)
  }
}
