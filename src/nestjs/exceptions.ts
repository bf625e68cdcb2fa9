/** @module Library errors as Nest HttpExceptions, so that the app's exception filters format them. */
import { STATUS_CODES } from 'node:http'
import {
  BadGatewayException,
  BadRequestException,
  ForbiddenException,
  GatewayTimeoutException,
  HttpException,
  type HttpExceptionOptions,
  NotFoundException,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnprocessableEntityException,
  UnsupportedMediaTypeException,
} from '@nestjs/common'
import { statusForError } from '../errors'

type ExceptionClass = new (objectOrError?: unknown, options?: HttpExceptionOptions) => HttpException

/** Nest's own class for each status of `statusForError()`, so that `@Catch(NotFoundException)` sees ours. */
const EXCEPTIONS: Readonly<Record<number, ExceptionClass>> = {
  400: BadRequestException,
  403: ForbiddenException,
  404: NotFoundException,
  413: PayloadTooLargeException,
  415: UnsupportedMediaTypeException,
  422: UnprocessableEntityException,
  502: BadGatewayException,
  503: ServiceUnavailableException,
  504: GatewayTimeoutException,
}

/**
 * The Nest HttpException for a library error (`FileNotFoundError` → `NotFoundException`, a refused
 * signature → `ForbiddenException`, the database unreachable → `ServiceUnavailableException`…), or
 * `undefined` for an error the library does not map (a bug, an unexpected failure), which the
 * caller rethrows. The body is Nest's default, `{ statusCode, message }` with the status text only:
 * the library's message (which names keys and paths) stays in `cause`, for logs.
 *
 * @example
 * catch (error) { throw toHttpException(error) ?? error }
 */
export function toHttpException(error: unknown): HttpException | undefined {
  const status = statusForError(error)
  if (status === undefined) return undefined
  const description = STATUS_CODES[status] ?? 'Error'
  const Exception = EXCEPTIONS[status]
  if (Exception) return new Exception(undefined, { cause: error, description })
  return new HttpException({ statusCode: status, message: description }, status, { cause: error })
}
