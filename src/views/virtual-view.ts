/** @module VirtualDownloadView: serve content made in memory or generated on each request. */
import { Readable } from 'node:stream'
import { ConfigurationError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { type VirtualContent, VirtualFile } from '../files/virtual-file'
import { isMediaType } from '../http/content-type'
import { isEntityTag } from '../http/etag'
import { rejectUnknownViewOptions } from '../http/options'
import { type DownloadRequest, DownloadView, type DownloadViewOptions, VIEW_OPTIONS } from './download-view'

/** Options of {@link VirtualDownloadView}. */
export interface VirtualDownloadViewOptions extends DownloadViewOptions {
  /**
   * The content: a string (UTF-8) or bytes, served with ranges; or a function called on each
   * request that returns those, a Readable or an async iterable (a generator). A stream can be read
   * only once, so it must come from a function.
   */
  content: string | Uint8Array | ((request: DownloadRequest) => VirtualContent | Promise<VirtualContent>)
  /** The name the client sees. */
  name: string
  /** The media type. @default derived from `name` */
  contentType?: string
  /**
   * The size of generated content, when known in advance (Content-Length instead of chunked).
   * @default undefined
   */
  size?: number
  /** Last-Modified (and, with a size, a weak ETag). @default undefined (no validator) */
  modifiedAt?: Date
  /** An explicit entity tag such as `"v1"`. @default undefined (no validator) */
  etag?: string
}

const OWN_OPTIONS = [...VIEW_OPTIONS, 'content', 'name', 'contentType', 'size', 'modifiedAt', 'etag']

/**
 * Serves content that is not a file: a string or bytes (Content-Length, ranges), or a stream or
 * async generator made on each request (chunked, `Accept-Ranges: none`, unless `size` is given).
 * Validators (ETag, Last-Modified) only when the options state them. Override `getFile()` to build
 * a `VirtualFile` from the request.
 *
 * @example
 * new VirtualDownloadView({ name: 'hello-world.txt', content: 'Hello world!\n' })
 * new VirtualDownloadView({ name: 'rows.csv', content: async function* () { yield 'a,b\n' } })
 */
export class VirtualDownloadView extends DownloadView {
  private readonly options: VirtualDownloadViewOptions

  constructor(options: VirtualDownloadViewOptions) {
    super(options)
    const owner = 'VirtualDownloadView'
    rejectUnknownViewOptions(options, OWN_OPTIONS, owner)
    const { content, name, contentType, size, modifiedAt, etag } = options
    if (
      content instanceof Readable ||
      (content && typeof content === 'object' && Symbol.asyncIterator in content)
    )
      throw new ConfigurationError(
        `${owner}: option "content" is a stream, which can be read only once: pass a function that returns a new one`,
      )
    if (typeof content !== 'string' && !(content instanceof Uint8Array) && typeof content !== 'function')
      throw new ConfigurationError(`${owner}: option "content" must be a string, bytes or a function`)
    if (typeof name !== 'string' || name === '')
      throw new ConfigurationError(`${owner}: option "name" must be a non-empty string`)
    if (contentType !== undefined && (typeof contentType !== 'string' || !isMediaType(contentType)))
      throw new ConfigurationError(`${owner}: option "contentType" must be a media type such as 'text/csv'`)
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0))
      throw new ConfigurationError(`${owner}: option "size" must be a non-negative integer`)
    if (size !== undefined && typeof content !== 'function')
      throw new ConfigurationError(
        `${owner}: option "size" is for generated content; in-memory content has its own`,
      )
    if (modifiedAt !== undefined && (!(modifiedAt instanceof Date) || Number.isNaN(modifiedAt.getTime())))
      throw new ConfigurationError(`${owner}: option "modifiedAt" must be a valid Date`)
    if (etag !== undefined && (typeof etag !== 'string' || !isEntityTag(etag)))
      throw new ConfigurationError(`${owner}: option "etag" must be an entity tag such as '"v1"' or 'W/"v1"'`)
    this.options = options
  }

  async getFile(request: DownloadRequest): Promise<DownloadFile> {
    const { content, name, contentType, size, modifiedAt, etag } = this.options
    return new VirtualFile({
      name,
      content: typeof content === 'function' ? await content(request) : content,
      size,
      contentType,
      modifiedAt,
      etag,
    })
  }
}
