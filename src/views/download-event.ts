/**
 * @module Download events: what a view's `onDownload` hook learns about each answer it gave for a
 * file, once that answer is over (for an audit log, metrics, quotas). `serve()` and the adapters
 * measure it (src/node/download-report.ts); this is its shape, and the file as an event may show it.
 */
import type { IncomingMessage } from 'node:http'
import type { DownloadFile } from '../files/download-file'
import type { ByteRange } from '../storage/storage'
import type { RouteParams } from './download-view'

/**
 * Where the file of an event is, without an absolute path: the key in its storage, the fact that
 * it is a local file (its name is the event's `file.name`), or the remote URL without its
 * credentials, query and fragment (a presigned or tokened URL keeps its secret).
 */
export type DownloadEventLocation =
  | { kind: 'storage'; key: string }
  | { kind: 'path' }
  | { kind: 'url'; url: string }

/** The file an event is about. */
export interface DownloadEventFile {
  /** The name the client saw (Content-Disposition). */
  readonly name: string
  /** Its size in bytes, when known. */
  readonly size: number | undefined
  /** Where it is; `undefined` for generated content. */
  readonly location: DownloadEventLocation | undefined
}

/**
 * One answer a view gave about a file, reported once the response has ended (sent, or cut): GET
 * and HEAD, 200, 206, 304, 412 and 416, streamed or handed off. Requests refused before a file was
 * found (404, 403, 400, 503, 405) are not downloads: the framework's request log has them.
 */
export interface DownloadEvent {
  /** The request answered. */
  readonly req: IncomingMessage
  /** The route parameters the view read (a lookup's slug, a path). */
  readonly params: RouteParams
  /** The file. */
  readonly file: DownloadEventFile
  /**
   * The status of the answer. For a hand-off, the one the app decided (200, or 206 for a range),
   * which the reverse proxy or the bucket then serves: not the bodiless 200 or the redirect that
   * carried it.
   */
  readonly status: number
  /** The byte ranges of a 206 (several for multipart/byteranges), ascending; else `undefined`. */
  readonly ranges: readonly ByteRange[] | undefined
  /**
   * Body bytes written to the connection: 0 for HEAD, 304, 412 and 416. Of a download cut short,
   * some may not have reached the client. `undefined` when the bytes were handed off.
   */
  readonly bytes: number | undefined
  /**
   * Whether the whole answer went out: `false` when the client went away, or the connection was
   * cut (a source that failed, a client idle past `idleTimeout`). For a hand-off, whether the app's
   * answer went out: what the proxy or bucket sent next is theirs to log.
   */
  readonly complete: boolean
  /** Milliseconds from the start of the view's work (before the lookup) to the end of the response. */
  readonly durationMs: number
  /** Whether someone else sends the bytes (X-Accel-Redirect, X-Sendfile, a redirect to the bucket). */
  readonly handedOff: boolean
}

/**
 * A view's `onDownload` option: called once per answer about a file, after the response ended. It
 * cannot delay or fail the download: what it throws, or a promise it returns rejects with, is
 * logged with the view's logger (what it returns is otherwise ignored). Keep it quick, or hand the
 * event to a queue.
 */
export type DownloadHook = (event: DownloadEvent) => unknown

/** `file` as an event shows it: its name, size and location, never an absolute path. */
export function eventFile(file: DownloadFile): DownloadEventFile {
  return { name: file.name, size: file.size, location: eventLocation(file) }
}

function eventLocation(file: DownloadFile): DownloadEventLocation | undefined {
  const location = file.location
  if (!location) return undefined
  if (location.kind === 'storage') return { kind: 'storage', key: location.key }
  if (location.kind === 'path') return { kind: 'path' }
  try {
    const url = new URL(location.url)
    return { kind: 'url', url: `${url.origin}${url.pathname}` }
  } catch {
    return { kind: 'url', url: '' }
  }
}
