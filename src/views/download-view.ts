/**
 * @module DownloadView: the base of every view. A view finds a DownloadFile; the responder decides
 * the response; `sendPlan` writes it. Views never set headers, read Range or map errors themselves.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { statusForError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { type ResolvedRespondOptions, type RespondOptions, resolveRespondOptions } from '../responder/options'
import { methodNotAllowed, planResponse, type ResponsePlan, statusAnswer } from '../responder/respond'
import { type Logger, sendPlan, stderrLogger } from '../responder/send'

/** Route parameters, as a router hands them over (Express 5 gives arrays for `*splat`). */
export type RouteParams = Record<string, string | string[] | undefined>

/** One request to a view. */
export interface DownloadRequest {
  req: IncomingMessage
  params: RouteParams
}

/** Options every view takes. */
export interface DownloadViewOptions extends RespondOptions {
  /**
   * Where failures after the headers were sent are reported.
   * @default a logger that writes one line to standard error
   */
  logger?: Logger
}

/** A connect/Express-style handler. Express 5's `RequestHandler` accepts it as it is. */
export type DownloadHandler = (
  req: IncomingMessage & { params?: RouteParams },
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void

/** The base class of the views: subclasses implement `getFile()`. */
export abstract class DownloadView {
  protected readonly respondOptions: ResolvedRespondOptions
  protected readonly logger: Logger

  constructor(options: DownloadViewOptions) {
    this.respondOptions = resolveRespondOptions(options, this.constructor.name)
    this.logger = options.logger ?? stderrLogger
  }

  /** The file to serve for this request. Throw `FileNotFoundError` (404) and friends from here. */
  abstract getFile(request: DownloadRequest): Promise<DownloadFile>

  /** The response plan for `file`; override to adjust it (offload does). */
  protected plan(request: DownloadRequest, file: DownloadFile): ResponsePlan {
    return planResponse(request.req, file, this.respondOptions)
  }

  /**
   * Serves one request on plain `node:http`. Library errors become their status (404, 400, 503…);
   * anything unexpected is rethrown for the caller's error handling.
   *
   * @example
   * http.createServer((req, res) => view.serve(req, res, { slug: 'hello' }).catch(() => res.destroy()))
   */
  async serve(req: IncomingMessage, res: ServerResponse, params: RouteParams = {}): Promise<void> {
    const method = req.method ?? 'GET'
    const request: DownloadRequest = { req, params }
    try {
      if (method !== 'GET' && method !== 'HEAD') {
        const plan = methodNotAllowed()
        res.writeHead(plan.status, plan.headers).end()
        return
      }
      const file = await this.getFile(request)
      await sendPlan(this.plan(request, file), req, res, this.logger)
    } catch (error) {
      const status = statusForError(error)
      if (status === undefined || res.headersSent) throw error
      const answer = statusAnswer(status)
      res.writeHead(answer.status, answer.headers).end(answer.text)
    }
  }

  /** An Express 5 (or connect) handler; unexpected errors go to `next`, so to the app's error handler. */
  handler(): DownloadHandler {
    return (req, res, next) => {
      this.serve(req, res, req.params ?? {}).catch(next)
    }
  }
}
