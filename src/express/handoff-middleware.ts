/** @module handoffMiddleware(): the app-wide hand-off, for every download view below it. */
import type { IncomingMessage } from 'node:http'
import { ConfigurationError } from '../errors'
import { type Handoff, setRequestHandoffs } from '../handoff/handoff'

/**
 * A connect/Express middleware that turns hand-off on for every download view below it. A view's
 * own `handoff` option replaces it (`handoff: false` opts out); an ObjectDownloadView's file
 * column's `handoff` is tried first. Throws a ConfigurationError for anything but hand-offs.
 *
 * @example
 * app.use(handoffMiddleware(xAccelRedirect({ rules: [{ root: '/srv/media', location: '/protected/' }] })))
 */
export function handoffMiddleware(
  ...handoffs: Handoff[]
): (req: IncomingMessage, res: unknown, next: (error?: unknown) => void) => void {
  if (handoffs.length === 0 || !handoffs.every((handoff) => typeof handoff === 'function'))
    throw new ConfigurationError(
      'handoffMiddleware() takes hand-offs (xAccelRedirect(), xSendfile(), redirectToBucket()...)',
    )
  const frozen = Object.freeze([...handoffs])
  return (req, _res, next) => {
    setRequestHandoffs(req, frozen)
    next()
  }
}
