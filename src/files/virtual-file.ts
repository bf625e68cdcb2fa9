/** @module A DownloadFile whose bytes are in memory or generated (VirtualDownloadView). */
import { Readable } from 'node:stream'
import { bufferedReadable } from '../storage/source'
import type { ByteRange } from '../storage/storage'
import type { DownloadFile } from './download-file'

/** Content of a virtual file: bytes in memory, or a stream or async iterable read once. */
export type VirtualContent = string | Uint8Array | Readable | AsyncIterable<Uint8Array | string>

/** What a virtual file is made of. Validators are only what the caller states. */
export interface VirtualFileInit {
  /** The name the client sees. */
  name: string
  /** The bytes (a string is UTF-8), or a stream / async iterable of them. */
  content: VirtualContent
  /**
   * The size of streamed content, when known: sent as Content-Length (a source that gives more or
   * fewer bytes then cuts the connection rather than completing a wrong response). In-memory
   * content knows its own size.
   * @default undefined (streams are sent chunked)
   */
  size?: number
  /** The media type. @default derived from `name` */
  contentType?: string
  /** Last-Modified (with `size`, also a weak ETag). @default undefined (no validator) */
  modifiedAt?: Date
  /** An explicit entity tag, `"v1"` or `W/"v1"`. @default undefined */
  etag?: string
  /** Hex SHA-256 of the content: a strong ETag. @default undefined */
  sha256?: string
}

/**
 * A file made in memory or on the fly. In-memory content serves ranges; a stream is read once, from
 * the start, so it gets `Accept-Ranges: none` and, without a stated size, chunked encoding.
 *
 * @example
 * new VirtualFile({ name: 'hello-world.txt', content: 'Hello world!\n' })
 */
export class VirtualFile implements DownloadFile {
  readonly name: string
  readonly size?: number
  readonly contentType?: string
  readonly modifiedAt?: Date
  readonly etag?: string
  readonly sha256?: string
  readonly acceptRanges: boolean
  private readonly bytes: Buffer | undefined
  private stream: Readable | undefined
  private opened = false

  constructor(init: VirtualFileInit) {
    if (typeof init?.name !== 'string' || init.name === '')
      throw new TypeError('VirtualFile: "name" must be a non-empty string')
    this.name = init.name
    const content = init.content
    if (typeof content === 'string') this.bytes = Buffer.from(content, 'utf8')
    else if (content instanceof Uint8Array)
      this.bytes = Buffer.from(content.buffer, content.byteOffset, content.byteLength)
    else if (content instanceof Readable) this.stream = content
    else if (content && typeof (content as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
      this.stream = Readable.from(content as AsyncIterable<Uint8Array | string>, { objectMode: false })
    else
      throw new TypeError('VirtualFile: "content" must be a string, bytes, a Readable or an async iterable')

    if (this.bytes) {
      if (init.size !== undefined && init.size !== this.bytes.length)
        throw new TypeError(
          `VirtualFile: "size" is ${init.size} but the content has ${this.bytes.length} bytes`,
        )
      this.size = this.bytes.length
    } else if (init.size !== undefined) {
      if (!Number.isSafeInteger(init.size) || init.size < 0)
        throw new TypeError('VirtualFile: "size" must be a non-negative integer')
      this.size = init.size
    }
    this.acceptRanges = this.bytes !== undefined
    if (init.contentType) this.contentType = init.contentType
    if (init.modifiedAt) this.modifiedAt = init.modifiedAt
    if (init.etag) this.etag = init.etag
    if (init.sha256) this.sha256 = init.sha256
  }

  async open(range?: ByteRange): Promise<Readable> {
    if (this.bytes) {
      const slice = range ? this.bytes.subarray(range.start, range.end + 1) : this.bytes
      return bufferedReadable(slice)
    }
    // A stream goes out once, whole: the responder asks no range of a file without acceptRanges,
    // except "all of it" for a stated size.
    const whole = !range || (range.start === 0 && this.size !== undefined && range.end === this.size - 1)
    if (!whole) throw new RangeError('VirtualFile: streamed content cannot serve a byte range')
    if (this.opened || !this.stream)
      throw new Error(`VirtualFile "${this.name}": the stream was already read`)
    this.opened = true
    return this.stream
  }

  /** Destroys a stream that was never opened (HEAD, 304): a generator's resources are freed. */
  release(): void {
    if (!this.opened) this.stream?.destroy()
  }
}
