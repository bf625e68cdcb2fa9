/**
 * @module DownloadView: the base of every view. A view finds a DownloadFile and decides the answer
 * (the responder's plan, then its hand-off); it never touches the response: `serve()` (src/node)
 * writes it, and maps errors to statuses, for every adapter.
 */
import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { deliver } from '../delivery/deliver'
import { type Delivery, type DeliveryOption, resolveDelivery } from '../delivery/options'
import { canSign } from '../delivery/presigned'
import { ConfigurationError, DeliveryError, FileNotFoundError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { type Logger, stderrLogger } from '../logger'
import { applyOffload, type Offload, requestOffloads } from '../offload/offload'
import { type ResolvedRespondOptions, type RespondOptions, resolveRespondOptions } from '../responder/options'
import { methodNotAllowed, planResponse, type ResponsePlan, statusAnswer } from '../responder/respond'
import type { SignatureOptions } from '../signing/options'
import { signatureCheck } from '../signing/signature-check'
import type { SignedRequest } from '../signing/signed-url'
import type { Storage } from '../storage/storage'

/** Route parameters, as a router hands them over (Express 5 gives arrays for `*splat`). */
export type RouteParams = Record<string, string | string[] | undefined>

/** One request to a view. */
export interface DownloadRequest {
  req: IncomingMessage
  params: RouteParams
}

/** The option names of {@link DownloadViewOptions}, for subclasses' unknown-option checks. */
export const VIEW_OPTIONS: readonly string[] = ['logger', 'offload', 'signature', 'delivery']

/** Options every view takes. */
export interface DownloadViewOptions extends RespondOptions {
  /**
   * Where failures after the headers were sent are reported.
   * @default a logger that writes one line to standard error
   */
  logger?: Logger
  /**
   * Reverse-proxy offload for this view: an offload (`xAccelRedirect({...})`) or several, tried in
   * order. `false` turns off the offload that `offloadMiddleware()` set for the app.
   * @default undefined (the app's offload, if `offloadMiddleware()` set one; else none)
   */
  offload?: Offload | Offload[] | false
  /**
   * Serve only signed, unexpired URLs (`signUrl()`): anything else is a 403, with the reason in
   * the log. The same options as `requireSignature()`.
   * @default undefined (no signature needed)
   */
  signature?: SignatureOptions
  /**
   * How the bytes of stored files reach the client: `'stream'` through the app; `'redirect'` (or
   * `{ mode: 'redirect', status, expiresIn, maxAge }`) to a short-lived presigned URL of the
   * object; `{ mode: 'x-accel', location, expiresIn }` through nginx, which fetches the object from
   * the bucket. The last two need a storage that presigns URLs (S3Storage). 304, 412 and 416 are
   * answered by the app in every mode. See docs/scale-out.md.
   * @default 'stream' (ObjectDownloadView: the file column's `delivery`, if it has one)
   */
  delivery?: DeliveryOption
}

/** The base class of the views: subclasses implement `getFile()`. */
export abstract class DownloadView {
  protected readonly respondOptions: ResolvedRespondOptions
  protected readonly logger: Logger
  /** The view's own offloads; `undefined` means "the request's", `[]` means none. */
  protected readonly offloads: readonly Offload[] | undefined
  private readonly checkSignature: ((req: SignedRequest) => void) | undefined
  /** The `delivery` option, resolved; `undefined` when the view sets none (stream). */
  protected delivery: Delivery | undefined
  /** The delivery failures logged so far: each configuration problem is logged once. */
  private readonly deliveryFailures = new Set<string>()

  constructor(options: DownloadViewOptions) {
    const owner = this.constructor.name
    this.respondOptions = resolveRespondOptions(options, owner)
    this.logger = options.logger ?? stderrLogger
    if (options.logger !== undefined && typeof options.logger?.error !== 'function')
      throw new ConfigurationError(`${owner}: option "logger" must have an error() method`)
    const offload = options.offload
    if (offload === undefined) this.offloads = undefined
    else if (offload === false) this.offloads = []
    else {
      const list = Array.isArray(offload) ? offload : [offload]
      if (!list.every((item) => typeof item === 'function'))
        throw new ConfigurationError(
          `${owner}: option "offload" must be an offload (xAccelRedirect(), xSendfile()...), a list of them, or false`,
        )
      this.offloads = list
    }
    this.checkSignature =
      options.signature === undefined ? undefined : signatureCheck(options.signature, owner)
    this.delivery = resolveDelivery(options.delivery, owner)
  }

  /**
   * Throws a ConfigurationError naming option "delivery" when the delivery needs presigned URLs and
   * `storage`, the one the view serves from (when it is known at startup), cannot make them.
   */
  protected checkDelivery(storage: Storage | undefined): void {
    const mode = this.delivery?.mode
    if (storage === undefined || mode === undefined || mode === 'stream' || canSign(storage)) return
    throw new ConfigurationError(
      `${this.constructor.name}: option "delivery" is '${mode}', which needs a storage that presigns URLs (signedUrl(), as S3Storage has); ${storage.name} has none`,
    )
  }

  /** The file to serve for this request. Throw `FileNotFoundError` (404) and friends from here. */
  abstract getFile(request: DownloadRequest): Promise<DownloadFile>

  /**
   * The response plan for `file`: the responder's, then the delivery's (a redirect, X-Accel-Redirect
   * to the bucket), then offload's for plans still streamed. Override to adjust it.
   */
  protected plan(request: DownloadRequest, file: DownloadFile): ResponsePlan | Promise<ResponsePlan> {
    const plan = planResponse(request.req, file, this.respondOptions)
    const delivery = this.delivery
    if (delivery && delivery.mode !== 'stream' && plan.file && (plan.status === 200 || plan.status === 206))
      return this.delivered(plan, delivery, request)
    return this.offloaded(plan, request)
  }

  private offloaded(plan: ResponsePlan, request: DownloadRequest): ResponsePlan {
    const offloads = this.offloads ?? requestOffloads(request.req)
    return offloads?.length ? applyOffload(plan, offloads, request.req) : plan
  }

  /**
   * `plan` delivered; a delivery that the configuration makes impossible (a storage without
   * signedUrl()) is a 500, logged once per problem, never a crash.
   */
  private async delivered(
    plan: ResponsePlan,
    delivery: Delivery,
    request: DownloadRequest,
  ): Promise<ResponsePlan> {
    let delivered: ResponsePlan
    try {
      delivered = await deliver(plan, delivery, { headers: this.respondOptions.headers })
    } catch (error) {
      if (!(error instanceof DeliveryError)) throw error
      const message = `${this.constructor.name}: ${error.message}`
      if (!this.deliveryFailures.has(message) && this.deliveryFailures.size < 100) {
        this.deliveryFailures.add(message)
        this.logger.error(message)
      }
      const answer = statusAnswer(500)
      return {
        status: 500,
        headers: answer.headers,
        body: async () => Readable.from([Buffer.from(answer.text)]),
      }
    }
    return this.offloaded(delivered, request)
  }

  /**
   * Runs before the file is looked up; throw to refuse the request (a `SignatureError` is a 403).
   * The base class does nothing; the `signature` option and subclasses hook in here.
   */
  protected async authorize(request: DownloadRequest): Promise<void> {
    this.checkSignature?.(request.req as SignedRequest)
  }

  /**
   * Decides the answer to one request, without writing anything: the method check, `authorize()`
   * (the signature), `getFile()`, then the plan with its hand-off. Library errors are thrown for
   * the caller to map (`statusForError`); `release()` gives back what the file holds once the
   * answer was sent or abandoned. The one step that writes it is `serve()` (node), which every
   * adapter calls.
   */
  async decide(request: DownloadRequest): Promise<Decision> {
    const method = request.req.method ?? 'GET'
    if (method !== 'GET' && method !== 'HEAD') return { plan: methodNotAllowed(), release: () => undefined }
    await this.authorize(request)
    const file = await this.getFile(request)
    const release = () => file.release?.()
    try {
      const planned = this.plan(request, file)
      // Only a delivery presigns (async): streamed plans go out without another tick.
      return { plan: planned instanceof Promise ? await planned : planned, release }
    } catch (error) {
      release()
      throw error
    }
  }

  /** How `serve()` writes this view's answers: where failures are reported, when a client is idle. */
  get sendOptions(): { logger: Logger; idleTimeout: number } {
    return { logger: this.logger, idleTimeout: this.respondOptions.idleTimeout }
  }
}

/** What a view decided for one request: the plan to write, and what to release afterwards. */
export interface Decision {
  plan: ResponsePlan
  /** Gives back what the file holds (a read buffer); call it once the answer is sent or abandoned. */
  release(): void
}

/**
 * The value of route parameter `name` as one string: Express 5 hands a `*splat` over as decoded
 * segments, which are joined with `/`. `undefined` when the route has no such parameter.
 */
export function routeParam(params: RouteParams, name: string): string | undefined {
  const value = params[name]
  if (Array.isArray(value)) return value.join('/')
  return typeof value === 'string' ? value : undefined
}

/**
 * The value of route parameter `name`, or a FileNotFoundError when the route has none or it is
 * empty: for views that take a path from the URL.
 */
export function requiredRouteParam(params: RouteParams, name: string): string {
  const value = routeParam(params, name)
  if (value === undefined || value === '') throw new FileNotFoundError(`No "${name}" in the route`)
  return value
}

/** Whether paths with a segment that starts with a dot (`.env`, `.git/config`) may be served. */
export type Dotfiles = 'allow' | 'deny'

/** Checks the `param`, `basename` and `dotfiles` options of views that serve a path from the route. */
export function routePathOptions(
  options: { param?: unknown; basename?: unknown; dotfiles?: unknown },
  owner: string,
): { param: string; basename: string | undefined; dotfiles: Dotfiles } {
  const param = options.param ?? 'path'
  if (typeof param !== 'string' || param === '')
    throw new ConfigurationError(`${owner}: option "param" must be a route parameter name`)
  const { basename } = options
  if (basename !== undefined && (typeof basename !== 'string' || basename === ''))
    throw new ConfigurationError(`${owner}: option "basename" must be a non-empty string`)
  const dotfiles = options.dotfiles ?? 'deny'
  if (dotfiles !== 'allow' && dotfiles !== 'deny')
    throw new ConfigurationError(`${owner}: option "dotfiles" must be 'allow' or 'deny'`)
  return { param, basename, dotfiles }
}

/**
 * Refuses, as "not found", a path that names no file: one that ends with `/` (`f.txt/` is not an
 * alias of `f.txt`, as in send), and with `dotfiles: 'deny'` one with a segment that starts with a
 * dot (`.env`, `.git/config`, `a/.ssh/id_rsa`), which send also hides by default. 404, not 403:
 * the client learns nothing about what exists.
 */
export function checkRequestedPath(requested: string, dotfiles: Dotfiles): void {
  if (requested.endsWith('/')) throw new FileNotFoundError(`"${requested}" names a folder, not a file`)
  if (dotfiles === 'deny' && requested.split('/').some((segment) => isDotSegment(segment)))
    throw new FileNotFoundError(`"${requested}" has a segment that starts with a dot (option "dotfiles")`)
}

/** `.env`, `.git`: a hidden name. `.` and `..` are path steps, which key confinement handles (404 too). */
function isDotSegment(segment: string): boolean {
  return segment.startsWith('.') && segment !== '.' && segment !== '..'
}
