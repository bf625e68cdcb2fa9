/**
 * @module Downloads: the injectable service of DownloadModule. It registers the module's storages,
 * builds views from the app's DataSource, and answers a request with a view inside a controller
 * method, so that guards, interceptors and exception filters keep working around downloads.
 */
import { type IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { Inject, Injectable, type OnModuleDestroy, Optional, StreamableFile } from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'
import { DataSource, type ObjectLiteral } from 'typeorm'
import { ConfigurationError } from '../errors'
import { statusAnswer } from '../http/respond'
import { counted, DownloadReport } from '../node/download-report'
import { cutWhenIdle, exactly } from '../node/send'
import { decide, openBody } from '../node/serve'
import { storages } from '../storage/registry'
import type { Storage } from '../storage/storage'
import type { Decision, DownloadView, RouteParams } from '../views/download-view'
import { ObjectDownloadView, type ObjectDownloadViewOptions } from '../views/object-view'
import { toHttpException } from './exceptions'
import { DOWNLOAD_MODULE_OPTIONS, type DownloadModuleOptions } from './options'
import { nodeRequest, nodeResponse, type PlatformRequest, routeParamsOf } from './platform'

/** Options of {@link Downloads.objectView}: ObjectDownloadView's, with the DataSource optional. */
export type ObjectViewOptions<E extends ObjectLiteral> = Omit<
  ObjectDownloadViewOptions<E>,
  'entity' | 'dataSource'
> & {
  /**
   * The DataSource the entity lives in.
   * @default the app's DataSource, from `TypeOrmModule.forRoot()`
   */
  dataSource?: DataSource
}

/**
 * The service of {@link DownloadModule}: inject it into a controller, build the views once, and
 * answer each download route with `respond()`.
 *
 * @example
 * @Controller('documents')
 * export class DocumentsController {
 *   private readonly file: ObjectDownloadView<Document>
 *
 *   constructor(@Inject(Downloads) private readonly downloads: Downloads) {
 *     this.file = downloads.objectView(Document, { lookup: 'slug', file: 'file' })
 *   }
 *
 *   @Get(':slug/download')
 *   download(@Req() req: Request, @Res({ passthrough: true }) res: Response) {
 *     return this.downloads.respond(this.file, req, res)
 *   }
 * }
 */
@Injectable()
export class Downloads implements OnModuleDestroy {
  /** The storages this module registered, to forget when the app closes. */
  private readonly registered: [string, Storage][] = []

  constructor(
    @Inject(DOWNLOAD_MODULE_OPTIONS) options: DownloadModuleOptions,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Optional() @Inject(DataSource) private readonly dataSource?: DataSource,
  ) {
    // Registered when DI creates the service, so before any provider or controller that injects
    // it is built: views built in a constructor (StorageDownloadView({ storage: 'default' })
    // checking its storage) find the storages.
    for (const [name, storage] of storageEntries(options)) {
      storages.register(name, storage)
      this.registered.push([name, storage])
    }
  }

  /** Forgets the storages this module registered (unless something replaced them since). */
  onModuleDestroy(): void {
    for (const [name, storage] of this.registered) {
      if (storages.tryGet(name) === storage) storages.clear(name)
    }
    this.registered.length = 0
  }

  /**
   * An ObjectDownloadView of `entity` on the app's DataSource (the one `TypeOrmModule.forRoot()`
   * provides), unless `options.dataSource` names another.
   *
   * @example
   * this.file = downloads.objectView(Document, { lookup: 'slug', file: 'file' })
   */
  objectView<E extends ObjectLiteral>(
    entity: new () => E,
    options: ObjectViewOptions<E>,
  ): ObjectDownloadView<E> {
    const dataSource = options.dataSource ?? this.dataSource
    if (!dataSource) {
      throw new ConfigurationError(
        'Downloads.objectView(): no DataSource: import TypeOrmModule.forRoot() in the app, or pass option "dataSource"',
      )
    }
    return new ObjectDownloadView({ ...options, entity, dataSource })
  }

  /**
   * Answers the request with `view`, from a controller method that takes `@Req()` and
   * `@Res({ passthrough: true })` (Express or Fastify): the status and headers of the view's
   * answer are set on the response, and the body is returned as a `StreamableFile` for Nest to
   * send (`undefined` for bodiless answers: 304, 412, 416, 405), so guards, interceptors and
   * exception filters work as on any route. Library errors become Nest HttpExceptions
   * (`toHttpException`: 404, 400, 403, 502, 503 with Retry-After, 504), which the app's filters
   * format; anything else is rethrown. What the file holds is released once the response is sent
   * or its client gone.
   *
   * Without `passthrough: true` Nest leaves the response to the method, and nothing is sent.
   *
   * @param params the route parameters; by default the request's own (`req.params`)
   * @example
   * @Get(':slug/download')
   * download(@Req() req: Request, @Res({ passthrough: true }) res: Response) {
   *   return this.downloads.respond(this.file, req, res)
   * }
   */
  async respond(
    view: DownloadView,
    req: PlatformRequest,
    res: object,
    params: RouteParams = routeParamsOf(req),
  ): Promise<StreamableFile | undefined> {
    const request = nodeRequest(req, 'Downloads.respond()')
    const { logger } = view.sendOptions
    // Begun before the lookup: the event's duration covers the whole answer.
    const report = DownloadReport.begin(view, { req: request, params })
    let decision: Decision
    try {
      decision = await decide(view, { req: request, params })
    } catch (error) {
      throw this.refusal(error, res)
    }
    const { plan } = decision
    let source: Readable | undefined
    try {
      source = await openBody(decision, request, logger)
    } catch (error) {
      throw this.refusal(error, res)
    }
    try {
      this.setHead(res, plan.status, plan.headers)
    } catch (error) {
      source?.destroy()
      decision.release()
      throw error
    }
    const headers: PlannedHeaders = {
      type: plan.headers['Content-Type'],
      disposition: plan.headers['Content-Disposition'],
      length:
        plan.headers['Content-Length'] === undefined ? undefined : Number(plan.headers['Content-Length']),
    }
    const response = nodeResponse(res)
    if (response) report?.watch(plan, response)
    if (!source) {
      decision.release()
      // A platform without Node's response (neither Express nor Fastify): reported as sent.
      if (!response) report?.end(plan, true)
      // HEAD: a stream Nest sends no byte of. Fastify's HEAD route of a GET route would set
      // Content-Length: 0 for an empty body, wrong for a file (and for a 304 of one).
      if (request.method === 'HEAD') return new PlannedFile(Readable.from([], { objectMode: false }), headers)
      return undefined
    }
    const body = exactLength(source, headers.length, report)
    // Once the status is out it cannot change: a failing source cuts the connection, as serve() does.
    body.once('error', (error) => {
      // A client that left destroyed the source itself: nothing to report.
      if (response?.destroyed || request.socket?.destroyed) return
      logger.error(`Download of "${plan.file?.name ?? 'file'}" failed while streaming`, error)
      response?.destroy()
    })
    // A client that stops reading would hold the file for as long as it stays (option idleTimeout).
    const stopWatching = response
      ? cutWhenIdle(response, body, view.sendOptions.idleTimeout, logger)
      : () => undefined
    onceDone(body, source, request, response, () => {
      stopWatching()
      decision.release()
      if (!response) report?.end(plan, body.readableEnded)
    })
    return new PlannedFile(body, headers)
      .setErrorHandler((_error, platformResponse) => platformResponse.destroy?.())
      .setErrorLogger(() => undefined)
  }

  /**
   * The exception for `error`, with the headers its status needs (Retry-After on 503) set on the
   * response, where the app's exception filter leaves them; an unexpected error as it is.
   */
  private refusal(error: unknown, res: object): unknown {
    const exception = toHttpException(error)
    if (!exception) return error
    const retryAfter = statusAnswer(exception.getStatus()).headers['Retry-After']
    if (retryAfter !== undefined) this.setHead(res, undefined, { 'Retry-After': retryAfter })
    return exception
  }

  /** Sets the status and the headers on the platform's response, exactly as the plan has them. */
  private setHead(res: object, status: number | undefined, headers: Record<string, string>): void {
    if (res instanceof ServerResponse) {
      // Express: Node's own setHeader, since Express's res.set() adds a charset to a Content-Type.
      if (status !== undefined) res.statusCode = status
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
      return
    }
    const adapter = this.adapterHost.httpAdapter
    if (status !== undefined) adapter.status(res, status)
    for (const [name, value] of Object.entries(headers)) adapter.setHeader(res, name, value)
  }
}

/** The headers of a plan that a StreamableFile describes; absent ones stay absent. */
interface PlannedHeaders {
  type: string | undefined
  disposition: string | undefined
  length: number | undefined
}

/**
 * A StreamableFile that describes the plan's headers and no others: Nest's platforms set the
 * Content-Type, Content-Disposition and Content-Length of a StreamableFile only where the response
 * has none, and a plain StreamableFile says `application/octet-stream` when it is given no type,
 * which a 304 must not get.
 */
class PlannedFile extends StreamableFile {
  constructor(
    stream: Readable,
    private readonly planned: PlannedHeaders,
  ) {
    super(stream, { type: planned.type, disposition: planned.disposition, length: planned.length })
  }

  override getHeaders(): ReturnType<StreamableFile['getHeaders']> {
    // Nest's adapters skip a header whose value is undefined (Nest 11 declares `type` a string).
    return { ...this.planned } as ReturnType<StreamableFile['getHeaders']>
  }
}

/** The storages of the module's options, checked. */
function storageEntries(options: DownloadModuleOptions | undefined): [string, Storage][] {
  const given = options?.storages
  if (given === undefined) return []
  if (given === null || typeof given !== 'object' || Array.isArray(given))
    throw new ConfigurationError('DownloadModule: option "storages" must be an object of storages by name')
  return Object.entries(given)
}

/**
 * What `exactly()` is given for the response it recycles chunks for: nothing here, as a chunk may
 * still wait in a stream buffer between this body and the socket (Nest pipes it, Fastify too).
 */
const NOT_RECYCLED = { writableLength: 1, destroyed: true }

/**
 * `source`, held to its Content-Length: a source that gives fewer or more bytes fails instead of
 * ending a body that Nest would otherwise present as complete (on a kept-alive connection, the
 * client would wait for the missing bytes). Its bytes are counted into `report`, when there is one.
 */
function exactLength(
  source: Readable,
  length: number | undefined,
  report: DownloadReport | undefined,
): Readable {
  if (length === undefined)
    return report ? Readable.from(counted(report)(source), { objectMode: false }) : source
  return Readable.from(exactly(length, NOT_RECYCLED, undefined, report?.count)(source), { objectMode: false })
}

/**
 * Calls `release` once the answer is over: the body read to its end, the response finished, or the
 * client gone (its connection closed, also while a pipelined response waited its turn). A body
 * still open then is destroyed, which closes the file: an interceptor that replaced the answer, or
 * a client that left, never leaves a descriptor behind.
 */
function onceDone(
  body: Readable,
  source: Readable,
  request: IncomingMessage,
  response: ServerResponse | undefined,
  release: () => void,
): void {
  const socket = request.socket
  let done = false
  const finish = () => {
    if (done) return
    done = true
    body.off('close', finish)
    response?.off('close', finish)
    socket?.off('close', finish)
    if (!source.readableEnded) source.destroy()
    if (!body.readableEnded) body.destroy()
    release()
  }
  if (response?.destroyed || socket?.destroyed) {
    finish()
    return
  }
  body.once('close', finish)
  response?.once('close', finish)
  socket?.once('close', finish)
}
