/**
 * @module signatureCheck(): the check behind a view's `signature` option. The Express middleware
 * that answers 403 itself, `requireSignature()`, lives with the Express adapter.
 */
import { resolveWithPrefix, type SignatureOptions } from './options'
import { type SignedRequest, verifySignature } from './signed-url'

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
