/**
 * @module The requests and responses of Nest's platforms (Express, Fastify) as the adapter needs
 * them: Node's own inside each, and the route's parameters.
 */
import { IncomingMessage, ServerResponse } from 'node:http'
import { ConfigurationError } from '../errors'
import type { RouteParams } from '../views/download-view'

/**
 * What a controller gets with `@Req()`: Express's request (an `IncomingMessage`) or Fastify's
 * (which holds it in `raw`); both carry the route's `params`.
 */
export type PlatformRequest = (IncomingMessage | { raw: IncomingMessage }) & { params?: unknown }

/** Node's request inside the platform's. */
export function nodeRequest(req: PlatformRequest, caller: string): IncomingMessage {
  if (req instanceof IncomingMessage) return req
  const raw = (req as { raw?: unknown } | null)?.raw
  if (raw instanceof IncomingMessage) return raw
  throw new ConfigurationError(
    `${caller}: "req" must be the request of @Req() (Express, or Fastify with its raw request)`,
  )
}

/** Node's response inside the platform's, when it has one (Express's is one; Fastify's has `raw`). */
export function nodeResponse(res: object): ServerResponse | undefined {
  if (res instanceof ServerResponse) return res
  const raw = (res as { raw?: unknown }).raw
  return raw instanceof ServerResponse ? raw : undefined
}

/** The route parameters the platform parsed. */
export function routeParamsOf(req: PlatformRequest): RouteParams {
  const params = (req as { params?: unknown }).params
  return params !== null && typeof params === 'object' ? (params as RouteParams) : {}
}
