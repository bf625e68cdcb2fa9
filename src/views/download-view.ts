/**
 * @module DownloadView: the base of every view. A view finds a DownloadFile and decides the answer
 * (the responder's plan, then its hand-off); it never touches the response: `serve()` (src/node)
 * writes it, and maps errors to statuses, for every adapter.
 */
import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { ConfigurationError, FileNotFoundError, HandoffError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import {
  applyHandoff,
  type Handoff,
  type HandoffOption,
  handoffList,
  requestHandoffs,
} from '../handoff/handoff'
import { canSign } from '../handoff/presigned'
import { type ResolvedRespondOptions, type RespondOptions, resolveRespondOptions } from '../http/options'
import { methodNotAllowed, planResponse, type ResponsePlan, statusAnswer } from '../http/respond'
import { type Logger, stderrLogger } from '../logger'
import type { SignatureOptions } from '../signing/options'
import { signatureCheck } from '../signing/signature-check'
import type { SignedRequest } from '../signing/signed-url'
import type { Storage } from '../storage/storage'
import type { DownloadEvent, DownloadHook } from './download-event'

/** Route parameters, as a router hands them over (Express 5 gives arrays for `*splat`). */
export type RouteParams = Record<string, string | string[] | undefined>

/** One request to a view. */
export interface DownloadRequest {
  req: IncomingMessage
  params: RouteParams
}

/** The option names of {@link DownloadViewOptions}, for subclasses' unknown-option checks. */
export const VIEW_OPTIONS: readonly string[] = ['logger', 'handoff', 'signature', 'onDownload']

/** Options every view takes. */
export interface DownloadViewOptions extends RespondOptions {
  /**
   * Where failures after the headers were sent are reported.
   * @default a logger that writes one line to standard error
   */
  logger?: Logger
  /**
   * Who sends the bytes of this view's 200 and 206 answers instead of Node: a hand-off or a list
   * tried in order, the first that takes a file wins (`xAccelRedirect()`, `xSendfile()`,
   * `lighttpdSendfile()` for a reverse proxy reading local files; `redirectToBucket()`,
   * `nginxFromBucket()` for objects in a bucket). 304, 412 and 416 are the app's answers whatever
   * the hand-off. `false` turns hand-off off for this view, the app's included. See docs/nginx.md
   * and docs/scale-out.md.
   * @default undefined (ObjectDownloadView: the file column's `handoff`; then the app's, if
   * `handoffMiddleware()` set one; else Node streams)
   */
  handoff?: HandoffOption
  /**
   * Serve only signed, unexpired URLs (`signUrl()`): anything else is a 403, with the reason in
   * the log. The same options as `requireSignature()`.
   * @default undefined (no signature needed)
   */
  signature?: SignatureOptions
  /**
   * Called once for each answer about a file (200, 206, HEAD, 304, 412, 416, handed off or not),
   * after the response ended: the request, the file (name, size, storage key; no absolute path),
   * the status, the ranges, the body bytes written, whether it completed, how long it took, and
   * whether the bytes were handed off (then `bytes` is `undefined`). It never delays or fails a
   * download: what it throws or rejects with is logged with `logger`. See {@link DownloadEvent}.
   * @default undefined (nothing is measured)
   * @example
   * new ObjectDownloadView({ ..., onDownload: (event) => audit.push(event) })
   */
  onDownload?: DownloadHook
}

/** The base class of the views: subclasses implement `getFile()`. */
export abstract class DownloadView {
  protected readonly respondOptions: ResolvedRespondOptions
  protected readonly logger: Logger
  /**
   * The hand-offs tried before the app's: the view's own (`[]` for `handoff: false`, which also
   * drops the app's), or `undefined` for "the app's only". ObjectDownloadView puts its column's here.
   */
  protected handoffs: readonly Handoff[] | undefined
  /** Whether `handoffs` is the view's own option, which replaces the app's. */
  private readonly ownHandoffs: boolean
  private readonly checkSignature: ((req: SignedRequest) => void) | undefined
  private readonly onDownload: DownloadHook | undefined
  /** The hand-off failures logged so far: each configuration problem is logged once. */
  private readonly handoffFailures = new Set<string>()

  constructor(options: DownloadViewOptions) {
    const owner = this.constructor.name
    this.respondOptions = resolveRespondOptions(options, owner)
    this.logger = options.logger ?? stderrLogger
    if (options.logger !== undefined && typeof options.logger?.error !== 'function')
      throw new ConfigurationError(`${owner}: option "logger" must have an error() method`)
    this.handoffs = handoffList(options.handoff, owner)
    this.ownHandoffs = this.handoffs !== undefined
    this.checkSignature =
      options.signature === undefined ? undefined : signatureCheck(options.signature, owner)
    if (options.onDownload !== undefined && typeof options.onDownload !== 'function')
      throw new ConfigurationError(`${owner}: option "onDownload" must be a function`)
    this.onDownload = options.onDownload
  }

  /**
   * Throws a ConfigurationError naming option "handoff" when every hand-off the view has needs
   * presigned URLs and `storage`, the one the view serves from (when it is known at startup),
   * cannot make them: each request would be a 500.
   */
  protected checkHandoff(storage: Storage | undefined, option = 'handoff'): void {
    const handoffs = this.handoffs
    if (storage === undefined || !handoffs?.length || canSign(storage)) return
    if (!handoffs.every((handoff) => handoff.presigns)) return
    throw new ConfigurationError(
      `${this.constructor.name}: option "${option}" hands off to the bucket, which needs a storage that presigns URLs (signedUrl(), as S3Storage has); ${storage.name} has none`,
    )
  }

  /**
   * Adds `handoffs` (a file column's) after the view's own, unless the view set its own `handoff`
   * option, which wins.
   */
  protected inheritHandoffs(handoffs: readonly Handoff[] | undefined): void {
    if (!this.ownHandoffs && handoffs?.length) this.handoffs = handoffs
  }

  /** The file to serve for this request. Throw `FileNotFoundError` (404) and friends from here. */
  abstract getFile(request: DownloadRequest): Promise<DownloadFile>

  /**
   * The response plan for `file`: the responder's, then the first hand-off's that takes it (the
   * view's or its column's, then the app's). Override to adjust it.
   */
  protected plan(request: DownloadRequest, file: DownloadFile): ResponsePlan | Promise<ResponsePlan> {
    const plan = planResponse(request.req, file, this.respondOptions)
    const app = this.ownHandoffs ? undefined : requestHandoffs(request.req)
    const own = this.handoffs ?? []
    const handoffs = app?.length ? (own.length ? [...own, ...app] : app) : own
    if (!handoffs.length) return plan
    try {
      const handed = applyHandoff(plan, handoffs, request.req, { headers: this.respondOptions.headers })
      return handed instanceof Promise ? handed.catch((error) => this.failedHandoff(error)) : handed
    } catch (error) {
      return this.failedHandoff(error)
    }
  }

  /**
   * The answer when a hand-off that the configuration makes impossible failed (a storage without
   * signedUrl(), a generated file handed to the bucket): a 500, logged once per problem, never a
   * crash. Other errors go on.
   */
  private failedHandoff(error: unknown): ResponsePlan {
    if (!(error instanceof HandoffError)) throw error
    const message = `${this.constructor.name}: ${error.message}`
    if (!this.handoffFailures.has(message) && this.handoffFailures.size < 100) {
      this.handoffFailures.add(message)
      this.logger.error(message)
    }
    const answer = statusAnswer(500)
    return {
      status: 500,
      headers: answer.headers,
      body: async () => Readable.from([Buffer.from(answer.text)]),
    }
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
      // Only a bucket hand-off presigns (async): other plans go out without another tick.
      return { plan: planned instanceof Promise ? await planned : planned, release }
    } catch (error) {
      release()
      throw error
    }
  }

  /**
   * How `serve()` and the adapters write this view's answers: where failures are reported, when a
   * client is idle, and who hears of each download.
   */
  get sendOptions(): { logger: Logger; idleTimeout: number; onDownload: DownloadHook | undefined } {
    return { logger: this.logger, idleTimeout: this.respondOptions.idleTimeout, onDownload: this.onDownload }
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
