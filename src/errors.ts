/** @module The DownloadError family, and the one table that maps a condition to an HTTP status. */

/** Base class of every error this library throws on purpose. */
export class DownloadError extends Error {
  override name = 'DownloadError'
}

/** No entity for the lookup, an empty file column, or no file at a key in a storage: 404. */
export class FileNotFoundError extends DownloadError {
  override name = 'FileNotFoundError'
}

/** A path or key that cannot be decoded, or holds a NUL byte: 400. */
export class BadPathError extends DownloadError {
  override name = 'BadPathError'
}

/** A path or key that escapes its root (`..`, absolute, through a symlink): 404, so nothing is revealed. */
export class UnsafePathError extends DownloadError {
  override name = 'UnsafePathError'
}

/** A remote server failed (502) or timed out (504). */
export class UpstreamError extends DownloadError {
  override name = 'UpstreamError'
  constructor(
    message: string,
    readonly timedOut = false,
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}

/** A request parameter outside what the view allows (an image width that is not in the list): 400. */
export class InvalidParameterError extends DownloadError {
  override name = 'InvalidParameterError'
}

/**
 * A signed URL that is missing its signature, expired, tampered with, or signed by an unknown key:
 * 403. The reason goes to the log; the client gets only the status text.
 */
export class SignatureError extends DownloadError {
  override name = 'SignatureError'
}

/**
 * The HTTP view refused to contact a destination: a host outside the allow-list, or an address
 * (loopback, private, link-local, cloud metadata) that the SSRF guard forbids: 403.
 */
export class DestinationNotAllowedError extends DownloadError {
  override name = 'DestinationNotAllowedError'
}

/**
 * The request may not have the file, and the app wants it said (a view's `authorize` hook throws
 * it): 403. To hide that the file exists, refuse with a 404 instead (the hook returns false).
 */
export class AccessDeniedError extends DownloadError {
  override name = 'AccessDeniedError'
}

/** The database (or another service the lookup needs) cannot be reached right now: 503. */
export class ServiceUnavailableError extends DownloadError {
  override name = 'ServiceUnavailableError'
}

/**
 * A stored image that sharp cannot decode (cut short, corrupt, over the byte or pixel limit), so no
 * variant of it can be made: 422. Not a 5xx: the server works, and asking again cannot help, as the
 * same bytes fail the same way (5xx tells clients, CDNs and monitors to retry and to alarm); not a
 * 404: the row and its file exist, and a 404 would hide the problem among mistyped URLs in the
 * access log. 422 (RFC 9110 §15.5.21) says the request was understood but what it asks cannot be
 * done with this content; clients do not retry it (imgproxy answers 422 for a source it cannot read).
 */
export class UndecodableImageError extends DownloadError {
  override name = 'UndecodableImageError'
}

/**
 * A hand-off to the bucket that cannot be made for a reason that lies in the configuration, not in
 * the request: the file's storage cannot presign URLs, the file is not in a storage, or the storage made a URL
 * that cannot go into a header. Views log it (once) and answer 500.
 */
export class HandoffError extends DownloadError {
  override name = 'HandoffError'
}

/**
 * A variant could not be generated for a reason other than the source's bytes (those are an
 * UndecodableImageError): the source failed while it was read, or the write failed. A 500.
 */
export class VariantGenerationError extends DownloadError {
  override name = 'VariantGenerationError'
}

/**
 * A ZIP archive whose members lack the CRC-32 that its headers need, more of them (in bytes) than a
 * ZipDownloadView may read to compute them (`maxChecksumBytes`): a 500, which the app's error
 * handler logs with this message. Not a 4xx: the request is fine, the rows are not filled yet
 * (`typeorm-downloadview backfill` fills them). No archive is ever sent without them.
 */
export class MissingChecksumError extends DownloadError {
  override name = 'MissingChecksumError'
}

/** A row cannot be saved because its file column does not describe a readable file. */
export class FileColumnError extends DownloadError {
  override name = 'FileColumnError'
}

/** The statuses an {@link UploadError} carries. */
export type UploadErrorStatus = 400 | 413 | 415

/**
 * An upload that cannot be taken, with the status it answers: not a multipart form, no file in
 * the expected field, a file in another field, a malformed form, or a client that left halfway
 * (400); a file or a field larger than allowed (413); a file whose bytes are of a type not allowed
 * (415). The message names the field and the limit, never a path.
 */
export class UploadError extends DownloadError {
  override name = 'UploadError'
  constructor(
    message: string,
    readonly status: UploadErrorStatus,
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}

/** Bad options given to a view, a column, a storage or a helper. Thrown at startup, never at request time. */
export class ConfigurationError extends DownloadError {
  override name = 'ConfigurationError'
}

/**
 * The status a condition maps to, or `undefined` for anything unexpected (the framework's
 * error handler answers those with a 500).
 */
export function statusForError(error: unknown): number | undefined {
  if (error instanceof FileNotFoundError || error instanceof UnsafePathError) return 404
  if (error instanceof BadPathError || error instanceof InvalidParameterError) return 400
  if (
    error instanceof SignatureError ||
    error instanceof DestinationNotAllowedError ||
    error instanceof AccessDeniedError
  )
    return 403
  if (error instanceof UpstreamError) return error.timedOut ? 504 : 502
  if (error instanceof ServiceUnavailableError) return 503
  if (error instanceof UndecodableImageError) return 422
  if (error instanceof UploadError) return error.status
  return undefined
}

/** `error` if it is an Error, else an Error that describes it: for `cause` chains and logs. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}
