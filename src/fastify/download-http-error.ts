/** @module DownloadHttpError: a library error as Fastify's error handler expects it, with `statusCode`. */
import { STATUS_CODES } from 'node:http'
import { statusAnswer } from '../http/respond'

/**
 * What a download route throws for a library error (`FileNotFoundError`, `SignatureError`,
 * `ServiceUnavailableError`…), so that Fastify's error handler (the app's `setErrorHandler()`, or
 * Fastify's default JSON) answers it with its status. The message is the status text only, never a
 * path; the library error is the `cause`, for the log and for handlers that look closer.
 *
 * @example
 * app.setErrorHandler((error, request, reply) => {
 *   if (error instanceof DownloadHttpError && error.cause instanceof FileNotFoundError)
 *     return reply.code(404).send({ status: 404, title: 'No such document' })
 *   return reply.send(error)
 * })
 */
export class DownloadHttpError extends Error {
  override name = 'DownloadHttpError'
  /** The status of the library's table (`statusForError()`): 404, 400, 403, 422, 502, 503, 504. */
  readonly statusCode: number
  /**
   * The headers that go with the status, already set on the reply before this is thrown (so a
   * custom error handler keeps them): `Cache-Control: no-store`, `X-Content-Type-Options: nosniff`,
   * and `Retry-After` on 503. Fastify's default error handler sets them too.
   */
  readonly headers: Record<string, string>

  constructor(statusCode: number, cause: unknown) {
    super(STATUS_CODES[statusCode] ?? 'Error', { cause })
    this.statusCode = statusCode
    // The body's headers are the error handler's to decide: it formats the body.
    const { 'Content-Type': _type, 'Content-Length': _length, ...headers } = statusAnswer(statusCode).headers
    this.headers = headers
  }
}
