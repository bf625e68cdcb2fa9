/** @module DownloadFile: what a view hands to the responder (django-downloadview's file wrapper). */
import type { Readable } from 'node:stream'
import type { ByteRange, Storage } from '../storage/storage'

/**
 * Where a file's bytes are, for reverse-proxy offload (X-Accel-Redirect and friends). Files that
 * have no such place (generated content) are always streamed by Node.
 */
export type FileLocation =
  | { kind: 'storage'; storage: Storage; key: string }
  | { kind: 'path'; path: string }
  | { kind: 'url'; url: string }

/** A file as the responder sees it: a name, what is known about it, and a way to read it. */
export interface DownloadFile {
  /** The name the client sees (Content-Disposition); never a path. */
  readonly name: string
  /** Size in bytes, when known. Unknown size means no Content-Length and no Range support. */
  readonly size?: number
  /** The media type; derived from `name` when absent. */
  readonly contentType?: string
  /** Last modification time: `Last-Modified`, and a weak ETag when there is no checksum. */
  readonly modifiedAt?: Date
  /** Hex SHA-256 of the content: a strong ETag. */
  readonly sha256?: string
  /** An explicit entity tag (`"abc"` or `W/"abc"`), which wins over the derived ones. */
  readonly etag?: string
  /** Where the bytes are, for offload. */
  readonly location?: FileLocation
  /**
   * `false` when the bytes can be read only once, from the start (a single-use stream): the
   * responder then sends `Accept-Ranges: none` and ignores Range, even when the size is known.
   */
  readonly acceptRanges?: boolean
  /**
   * A status the file's origin already decided for this very request: a proxied upstream that was
   * forwarded the conditional and Range headers answered 304, 412 or 416. The responder relays it,
   * with the file's validators, instead of deciding again.
   */
  readonly relayStatus?: 304 | 412 | 416
  /**
   * Opens the whole file, or one inclusive byte range of it. Rejects (before any header is sent) when
   * the file is gone: `FileNotFoundError`.
   */
  open(range?: ByteRange): Promise<Readable>
  /**
   * Frees what the file holds open (an upstream response nobody read) once the response is done.
   * Views call it after every request, whatever the outcome; it must be safe to call twice.
   */
  release?(): void
}
