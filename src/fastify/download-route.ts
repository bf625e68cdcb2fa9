/**
 * @module The Fastify adapter: a view's decision written through Fastify's reply, so that the app's
 * hooks (onRequest, preHandler, onSend, onResponse) and its error handler run for every download.
 */
import type { ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  RouteHandlerMethod,
} from 'fastify'
import { statusForError } from '../errors'
import { counted, DownloadReport } from '../node/download-report'
import { cutWhenIdle, exactly } from '../node/send'
import { decide, openBody } from '../node/serve'
import { bufferedBytes } from '../storage/source'
import type { Decision, DownloadView, RouteParams } from '../views/download-view'
import { DownloadHttpError } from './download-http-error'

declare module 'fastify' {
  interface FastifyReply {
    /**
     * Answers the request with `view`: `params` (by default the route's) are what its lookup
     * reads. Added by the {@link fastifyDownloads} plugin.
     */
    download(view: DownloadView, params?: RouteParams): Promise<FastifyReply>
  }
}

/**
 * A Fastify 5 route handler that answers with `view`, the route's parameters as its lookup.
 * GET, HEAD (Fastify's `exposeHeadRoutes` sends HEAD to the GET handler), Range, 304, 412 and 416
 * are answered by the view; mount it with `app.all()` (or `route({ method: [...] })`) so that
 * other methods get 405 with `Allow: GET, HEAD`, not Fastify's 404. Library errors are thrown as
 * {@link DownloadHttpError}s with their status, for the app's error handler; anything else as it
 * is (500).
 *
 * @example
 * const app = Fastify()
 * app.all('/documents/:slug', downloadRoute(new ObjectDownloadView({ dataSource, entity: Document, lookup: 'slug', file: 'file' })))
 */
export function downloadRoute(view: DownloadView): RouteHandlerMethod {
  return (request, reply) => sendDownload(view, request, reply, request.params as RouteParams)
}

/**
 * A Fastify plugin that adds `reply.download(view, params?)`, for handlers that pick the view or
 * the parameters themselves. Like a fastify-plugin plugin it is not encapsulated: the decorator is
 * there for the context that registers it and its children (the whole app, from the root).
 *
 * @example
 * await app.register(fastifyDownloads)
 * app.get('/annual-report', async (_request, reply) => reply.download(documents, { slug: 'report-2025' }))
 */
export const fastifyDownloads: FastifyPluginAsync = Object.assign(
  async function fastifyDownloads(app: FastifyInstance) {
    app.decorateReply(
      'download',
      function download(this: FastifyReply, view: DownloadView, params?: RouteParams): Promise<FastifyReply> {
        return sendDownload(view, this.request, this, params ?? (this.request.params as RouteParams))
      },
    )
  },
  {
    // What fastify-plugin sets, without depending on it: no encapsulation, and the Fastify it needs.
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'typeorm-downloadview',
    [Symbol.for('plugin-meta')]: { name: 'typeorm-downloadview', fastify: '5.x' },
  },
)

/**
 * Decides with `view`, then sends the plan through `reply`: its status and headers, and the body
 * as a stream that Fastify pipes (with backpressure) and destroys when the client goes away. What
 * the file holds is released once the response is finished or abandoned.
 */
async function sendDownload(
  view: DownloadView,
  request: FastifyRequest,
  reply: FastifyReply,
  params: RouteParams,
): Promise<FastifyReply> {
  const req = request.raw
  const res = reply.raw
  const { logger, idleTimeout } = view.sendOptions
  const downloadRequest = { req, params }
  // Begun before the lookup: the event's duration covers the whole answer.
  const report = DownloadReport.begin(view, downloadRequest)
  let decision: Decision
  try {
    decision = await decide(view, downloadRequest)
  } catch (error) {
    throw fastifyError(error, reply)
  }
  const { plan, release } = decision
  let body: Readable | undefined
  try {
    body = await openBody(decision, req, logger)
  } catch (error) {
    throw fastifyError(error, reply)
  }
  if (res.destroyed) {
    // The client left while the file was being opened.
    body?.destroy()
    release()
    report?.watch(plan, res)
    return reply
  }
  res.once('close', release)
  reply.code(plan.status).headers(plan.headers)
  report?.watch(plan, res)

  if (!body) {
    // Why a stream for HEAD: Fastify's HEAD route (exposeHeadRoutes) would answer an empty payload
    // with `Content-Length: 0`; it drains a stream instead, and keeps the length GET would send.
    return reply.send(req.method === 'HEAD' ? Readable.from([], { objectMode: false }) : undefined)
  }
  const declared = plan.headers['Content-Length']
  // All the bytes are in memory already (a small file): one write, no pipe.
  const bytes = bufferedBytes(body)
  if (bytes !== undefined && (declared === undefined || bytes.length === Number(declared))) {
    body.destroy()
    report?.count(bytes.length)
    return reply.send(bytes)
  }
  // A client that stops reading would hold the socket and the file for as long as it stays: the
  // same watch as sendPlan's (bytes waiting, none taken for idleTimeout), which leaves the socket's
  // own timeout, and Fastify's connectionTimeout and onTimeout hooks, alone.
  cutWhenIdle(res, body, idleTimeout, logger)
  const length = declared === undefined ? undefined : Number(declared)
  return reply.send(
    payload(
      body,
      length,
      res,
      (error) => logger.error(`Download of "${plan.file?.name ?? 'file'}" failed while it was sent`, error),
      report,
    ),
  )
}

/**
 * `body` as the payload Fastify pipes: exactly `length` bytes when it is known. A source that
 * fails (or gives more or fewer bytes) is reported to `onFailure`, cuts the connection, and ends
 * the payload quietly: an error on the payload would send Fastify's error handler, before the
 * first byte, a 500 carrying the download's headers (its name, its validators, its length).
 * Its bytes are counted into `report`, when the view has one.
 */
function payload(
  body: Readable,
  length: number | undefined,
  res: ServerResponse,
  onFailure: (error: unknown) => void,
  report: DownloadReport | undefined,
): Readable {
  const out = Readable.from(exactBytes(), { objectMode: false })
  // A client that goes away: Fastify destroys `out`, and the source closes at once, even in a read.
  out.once('close', () => body.destroy())
  return out

  async function* exactBytes(): AsyncGenerator<Buffer> {
    try {
      if (length === undefined) yield* report ? counted(report)(body) : (body as AsyncIterable<Buffer>)
      else yield* exactly(length, res, undefined, report?.count)(body)
    } catch (error) {
      // The client left, or was cut for idleness (logged once already).
      if (out.destroyed || res.destroyed) return
      onFailure(error)
      res.destroy()
    }
  }
}

/**
 * `error` for Fastify's error handler: a library error becomes a DownloadHttpError with its
 * status, whose headers (Retry-After on 503) are set on the reply so that any error handler keeps
 * them; anything else is thrown as it is, for a 500.
 */
function fastifyError(error: unknown, reply: FastifyReply): unknown {
  const status = statusForError(error)
  if (status === undefined) return error
  const wrapped = new DownloadHttpError(status, error)
  reply.headers(wrapped.headers)
  return wrapped
}
