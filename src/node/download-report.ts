/**
 * @module Download reports: one answer measured (body bytes written, completion, time) and handed
 * to the view's `onDownload` once the response is over. The one helper that `serve()`, the Fastify
 * adapter and the NestJS adapter share, so that every framework reports the same event.
 */
import type { ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Readable } from 'node:stream'
import { handedOffFrom } from '../handoff/handoff'
import type { ResponsePlan } from '../http/respond'
import type { Logger } from '../logger'
import { type DownloadHook, eventFile } from '../views/download-event'
import type { DownloadRequest, DownloadView } from '../views/download-view'

/**
 * Measures one answer of a view that has an `onDownload` hook. Begin it before the view decides
 * (the duration starts there), count the body bytes as they go to the response, and `watch()` the
 * response once the plan is about to be written: the hook is called after it closes.
 */
export class DownloadReport {
  private bytes = 0
  private reported = false

  private constructor(
    private readonly hook: DownloadHook,
    private readonly logger: Logger,
    private readonly request: DownloadRequest,
    private readonly started: number,
  ) {}

  /** A report for `request` to `view`, or `undefined` when the view has no `onDownload`. */
  static begin(view: DownloadView, request: DownloadRequest): DownloadReport | undefined {
    const { onDownload, logger } = view.sendOptions
    return onDownload ? new DownloadReport(onDownload, logger, request, performance.now()) : undefined
  }

  /** Counts `length` body bytes handed to the response. */
  readonly count = (length: number): void => {
    this.bytes += length
  }

  /**
   * Reports `plan` once `res` has closed (at once when it already has): complete when the response
   * finished, with the body bytes counted. Plans about no file (405) are not downloads.
   */
  watch(plan: ResponsePlan, res: ServerResponse): void {
    if (!plan.file) return
    const report = () => this.report(plan, res.writableFinished, res.headersSent ? res.statusCode : undefined)
    if (res.closed) setImmediate(report)
    else res.once('close', () => setImmediate(report))
  }

  /**
   * Reports `plan` now, for a platform whose Node response cannot be watched: `complete` is what
   * the caller saw (its body read to the end).
   */
  end(plan: ResponsePlan, complete: boolean): void {
    if (plan.file) setImmediate(() => this.report(plan, complete, undefined))
  }

  private report(plan: ResponsePlan, finished: boolean, sentStatus: number | undefined): void {
    const file = plan.file
    if (this.reported || !file) return
    this.reported = true
    const decided = handedOffFrom(plan)
    const expected = decided ? undefined : declaredLength(plan)
    const hook = this.hook
    try {
      const result = hook({
        req: this.request.req,
        params: this.request.params,
        file: eventFile(file),
        status: decided?.status ?? sentStatus ?? plan.status,
        ranges: (decided ?? plan).ranges,
        bytes: decided ? undefined : this.bytes,
        complete: finished && (expected === undefined || this.bytes === expected),
        durationMs: performance.now() - this.started,
        handedOff: decided !== undefined,
      })
      if (isThenable(result)) result.then(undefined, (error: unknown) => this.failed(file.name, error))
    } catch (error) {
      this.failed(file.name, error)
    }
  }

  private failed(name: string, error: unknown): void {
    try {
      this.logger.error(`onDownload failed for "${name}"`, error)
    } catch {
      // A logger that throws too: the download is over, and nothing else may hear of it.
    }
  }
}

/**
 * Passes `source` on, counting its bytes into `report` (when there is one): for bodies of unknown
 * length, which `exactly()` does not see.
 */
export function counted(report: DownloadReport | undefined) {
  return async function* (source: Readable): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      const buffer = chunk as Buffer
      report?.count(buffer.length)
      yield buffer
    }
  }
}

/** The Content-Length of a plan with a body that was sent (not HEAD, 304...), else `undefined`. */
function declaredLength(plan: ResponsePlan): number | undefined {
  if (!plan.body) return undefined
  const declared = plan.headers['Content-Length']
  return declared === undefined ? undefined : Number(declared)
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null | undefined)?.then === 'function'
}
