/**
 * @module Writing a ResponsePlan to a Node ServerResponse: backpressure, clean aborts, exact lengths,
 * and a cut for clients that stop reading.
 */
import { type IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { DEFAULT_IDLE_TIMEOUT } from '../http/options'
import type { ResponsePlan } from '../http/respond'
import { type Logger, stderrLogger, warn } from '../logger'
import { bufferedBytes, recyclerOf } from '../storage/source'
import { counted, type DownloadReport } from './download-report'

/** How {@link sendPlan} writes. */
export interface SendOptions {
  /**
   * Milliseconds the body may wait on a client that takes none of its bytes before the connection
   * is cut and the source closed (a warning is logged); `0` waits for ever. Views pass their
   * `idleTimeout` option.
   * @default 60000
   */
  idleTimeout?: number
  /**
   * Measures the answer for the view's `onDownload`: the body bytes are counted as they are
   * written, and the event reported once `res` closes.
   * @default undefined (nothing measured)
   */
  report?: DownloadReport
}

/**
 * Sends `plan` on `res`. The body is opened first, so a file that is gone rejects (with the
 * storage's error) before any header is written and the caller can still answer 404. Once the
 * headers are out, a failing source destroys the response: the client sees a cut connection, never
 * a short body presented as complete. A client that goes away destroys the source stream, and so
 * does one that stays connected but takes no byte for `idleTimeout`.
 */
export async function sendPlan(
  plan: ResponsePlan,
  req: IncomingMessage,
  res: ServerResponse,
  logger: Logger = stderrLogger,
  options: SendOptions = {},
): Promise<void> {
  const body = plan.body && req.method !== 'HEAD' ? await plan.body() : undefined
  const report = options.report
  if (res.destroyed || res.writableEnded) {
    // The client left while the file was being opened.
    body?.destroy()
    report?.watch(plan, res)
    return
  }
  try {
    res.writeHead(plan.status, plan.headers)
  } catch (error) {
    // Node refused a header: close the file we opened, and let the caller answer 500.
    body?.destroy()
    throw error
  }
  report?.watch(plan, res)
  if (!body) {
    res.end()
    return
  }
  const declared = plan.headers['Content-Length']
  const expected = declared === undefined ? undefined : Number(declared)
  // A client that stops reading would hold the socket and the file for as long as it stays.
  const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT
  // All the bytes are in memory already (a small file): one write with the headers, no pipe. A
  // length that does not match goes the long way, which cuts the response as it must.
  const bytes = bufferedBytes(body)
  if (bytes !== undefined && (expected === undefined || bytes.length === expected)) {
    // The bytes go back to their source once written ('finish'), for its next read.
    const recycle = recyclerFor(body, res)
    report?.count(bytes.length)
    let stopWatching: () => void = () => undefined
    res.end(bytes, () => {
      stopWatching()
      recycle?.(bytes)
    })
    // The idle watch acts only on bytes the socket has not taken: when the one write went to the
    // socket whole (most small answers), a timer per request would only ever be cleared.
    if (res.writableLength > 0) stopWatching = cutWhenIdle(res, body, idleTimeout, logger)
    body.destroy()
    return
  }
  let cut = false
  const stopWatching = cutWhenIdle(res, body, idleTimeout, logger, () => {
    cut = true
  })
  // A source that fails while the connection is still up is our failure, even when its error
  // carries a network code (an upstream ECONNRESET) or none (destroyed without an error): log it.
  // Once the client has gone, the pipeline destroys the source too, but the socket is gone first.
  const socket = res.socket
  let sourceFailed = false
  const onSourceFailure = () => {
    if (socket && !socket.destroyed) sourceFailed = true
  }
  body.once('error', onSourceFailure)
  body.once('close', () => {
    if (!body.readableEnded) onSourceFailure()
  })
  try {
    await (expected === undefined
      ? report
        ? pipeline(body, counted(report), res)
        : pipeline(body, res)
      : pipeline(body, exactly(expected, res, recyclerFor(body, res), report?.count), res))
  } catch (error) {
    // Cut for idleness: logged once, as a warning, already.
    if (cut || (!sourceFailed && isClientGone(error, res))) return
    logger.error(`Download of "${plan.file?.name ?? 'file'}" failed after the headers were sent`, error)
    res.destroy()
  } finally {
    stopWatching()
  }
}

/**
 * Destroys `res` and `body` (and logs one warning) when the client has taken no byte for
 * `idleTimeout` ms while bytes wait for it (see `watchIdle`); returns the function that stops
 * watching, which stops by itself when `res` closes. For every way a body reaches a node response:
 * `sendPlan`, and adapters whose framework writes the body (NestJS).
 */
export function cutWhenIdle(
  res: ServerResponse,
  body: Readable,
  idleTimeout: number,
  logger: Logger,
  onCut: () => void = () => undefined,
): () => void {
  const stop = watchIdle(res, idleTimeout, () => {
    onCut()
    warn(logger, `Cut a download whose client took no byte for ${idleTimeout} ms (option idleTimeout)`)
    res.destroy()
    body.destroy()
  })
  res.once('close', stop)
  return stop
}

/**
 * Calls `onIdle` (once) when `res` has bytes waiting for its socket and the socket has taken none
 * of them for `timeout` ms; returns the function that stops watching. A response waiting on its
 * source, with nothing unwritten, is not idle: the client is not the one holding it up.
 *
 * It checks four times per `timeout` and cuts after four checks in a row without progress, so
 * never sooner than `timeout` after the last byte taken (and at most a quarter later).
 */
function watchIdle(res: ServerResponse, timeout: number, onIdle: () => void): () => void {
  const socket = res.socket
  if (!(timeout > 0) || !socket) return () => undefined
  let taken = takenBytes(socket)
  let queued = kernelQueue(socket)
  let idleChecks = 0
  const timer = setInterval(
    () => {
      const nowTaken = takenBytes(socket)
      const nowQueued = kernelQueue(socket)
      const progress =
        nowTaken > taken || (nowQueued !== undefined && queued !== undefined && nowQueued < queued)
      taken = nowTaken
      queued = nowQueued
      if (progress || res.writableLength === 0) idleChecks = 0
      else if (++idleChecks >= IDLE_CHECKS) {
        clearInterval(timer)
        if (!res.destroyed) onIdle()
      }
    },
    Math.ceil(timeout / IDLE_CHECKS),
  )
  // A download in progress must not keep the process alive on its own.
  timer.unref()
  return () => clearInterval(timer)
}

/** Checks per idle timeout (see watchIdle). */
const IDLE_CHECKS = 4

/**
 * Bytes whose writes the socket completed: `bytesWritten` counts what it was given (sent, in
 * flight and buffered), `writableLength` what it has not finished writing.
 */
function takenBytes(socket: Socket): number {
  return (socket.bytesWritten ?? 0) - socket.writableLength
}

/**
 * What is left of the write in flight, as libuv counts it; `undefined` where the handle has no such
 * count. A write completes only once all of its chunk (up to 1 MiB) is in the kernel: without
 * this, a client that reads slower than a chunk per timeout, yet reads, would look idle.
 * `writeQueueSize` is not public, but it is what net.Socket's own timeout reads for the same
 * purpose (`_onTimeout` lets a write in progress postpone the timeout).
 */
function kernelQueue(socket: Socket): number | undefined {
  const size = (socket as Socket & { _handle?: { writeQueueSize?: unknown } | null })._handle?.writeQueueSize
  return typeof size === 'number' ? size : undefined
}

/**
 * Passes exactly `length` bytes, or fails: a short or long source never completes the response.
 * `count` hears the length of each chunk passed on (a download report's byte count).
 * With `recycle` (a source that reuses its buffers), a chunk goes back to the source once `res`
 * holds nothing unwritten: the pipeline asks for the next chunk only after writing this one, and a
 * response with nothing buffered has handed every byte to the kernel, so no one reads it any more.
 */
export function exactly(
  length: number,
  res: Pick<ServerResponse, 'writableLength' | 'destroyed'>,
  recycle?: (chunk: Buffer) => void,
  count?: (length: number) => void,
) {
  return async function* (source: Readable): AsyncGenerator<Buffer> {
    let seen = 0
    for await (const chunk of source) {
      const buffer = chunk as Buffer
      seen += buffer.length
      if (seen > length) throw new Error(`The source gave more than the ${length} bytes announced`)
      count?.(buffer.length)
      yield buffer
      if (recycle && res.writableLength === 0 && !res.destroyed) recycle(buffer)
    }
    if (seen < length) throw new Error(`The source ended after ${seen} of ${length} bytes announced`)
  }
}

/**
 * The source's recycler, when `res` writes through Node's own `write` and `end`: only then does
 * "nothing left unwritten" (or 'finish') mean the socket has the bytes. Middleware that replaces
 * them (compression, body rewriting, logging) may keep a chunk after its write returned, and a
 * buffer reused under it would send other bytes, another file's even.
 */
function recyclerFor(body: Readable, res: ServerResponse): ((chunk: Buffer) => void) | undefined {
  if (res.write !== ServerResponse.prototype.write || res.end !== ServerResponse.prototype.end)
    return undefined
  return recyclerOf(body)
}

function isClientGone(error: unknown, res: ServerResponse): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return (
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    (res.destroyed && !res.writableFinished && code === 'ERR_STREAM_DESTROYED')
  )
}
