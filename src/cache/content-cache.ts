/**
 * @module ContentCache: the bytes of small stored files in memory, by their SHA-256, so that a
 * repeated download of a small file makes no file-system (or S3) call. Addressed by content, it
 * needs no invalidation: a row that points at other bytes names another checksum, and bytes are
 * cached only once they hash to the checksum the row states.
 */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import { ConfigurationError } from '../errors'
import type { DownloadFile, FileLocation } from '../files/download-file'
import { rejectUnknownOptions } from '../options'
import { bufferedBytes, bufferedReadable } from '../storage/source'
import type { ByteRange } from '../storage/storage'

/** How a ContentCache is bounded. */
export interface ContentCacheOptions {
  /**
   * The most bytes held, all files together; the least recently used file goes first.
   * @default 8388608 (8 MiB)
   */
  maxBytes?: number
  /**
   * The largest file kept. Larger ones stream from the storage as usual (their reads are already
   * large and few per byte).
   * @default 65536 (64 KiB)
   */
  maxFileSize?: number
}

/** What a ContentCache has done (for tests and the bench). */
export interface ContentCacheStats {
  hits: number
  misses: number
  stores: number
  evictions: number
  /** Files held now, and their bytes. */
  files: number
  bytes: number
}

const SHA256 = /^[0-9a-f]{64}$/

/**
 * Small files' bytes by SHA-256, LRU-bounded in bytes. Give it to an ObjectDownloadView
 * (`contentCache`): the first full read of a file of at most `maxFileSize` bytes whose row has a
 * checksum keeps its bytes, once they hash to that checksum; later downloads (ranges included) are
 * answered from memory. Needs no listener: content-addressed entries cannot go stale.
 *
 * @example
 * const smallFiles = new ContentCache({ maxBytes: 32 * 1024 * 1024 })
 * new ObjectDownloadView({ dataSource, entity: Document, file: 'file', cache: rows, contentCache: smallFiles })
 */
export class ContentCache {
  readonly maxBytes: number
  readonly maxFileSize: number
  private readonly files = new Map<string, Buffer>()
  private totalBytes = 0
  private readonly counters = { hits: 0, misses: 0, stores: 0, evictions: 0 }

  constructor(options: ContentCacheOptions = {}) {
    const owner = 'ContentCache'
    rejectUnknownOptions(options, ['maxBytes', 'maxFileSize'], owner)
    this.maxBytes = size(options.maxBytes, 8 * 1024 * 1024, 'maxBytes')
    this.maxFileSize = size(options.maxFileSize, 64 * 1024, 'maxFileSize')
    if (this.maxFileSize > this.maxBytes)
      throw new ConfigurationError(`${owner}: option "maxFileSize" must not be larger than "maxBytes"`)
  }

  /** The counters, and what the cache holds now. */
  get stats(): ContentCacheStats {
    return { ...this.counters, files: this.files.size, bytes: this.totalBytes }
  }

  /** The bytes whose SHA-256 is `sha256`, if held (and now the most recently used). */
  get(sha256: string): Buffer | undefined {
    const bytes = this.files.get(sha256)
    if (!bytes) {
      this.counters.misses++
      return undefined
    }
    this.files.delete(sha256)
    this.files.set(sha256, bytes)
    this.counters.hits++
    return bytes
  }

  /**
   * Keeps a copy of `bytes` under `sha256` if they are small enough and hash to it; the least
   * recently used files go to make room. Whether they were kept.
   */
  set(sha256: string, bytes: Buffer): boolean {
    if (bytes.length > this.maxFileSize || !SHA256.test(sha256) || this.files.has(sha256)) return false
    if (createHash('sha256').update(bytes).digest('hex') !== sha256) return false
    // A copy: the storage may reuse the buffer it read into (recycled read buffers).
    const copy = Buffer.from(bytes)
    this.files.set(sha256, copy)
    this.totalBytes += copy.length
    this.counters.stores++
    for (const [key, held] of this.files) {
      if (this.totalBytes <= this.maxBytes) break
      this.files.delete(key)
      this.totalBytes -= held.length
      this.counters.evictions++
    }
    return true
  }

  /**
   * `file` answered from this cache when its bytes are held, and filling it on its first full read
   * (when the storage read it whole, as LocalStorage does with small files); `file` itself when it
   * states no checksum or is larger than `maxFileSize`. Its name, metadata and location (for a
   * hand-off) stay `file`'s.
   */
  wrap(file: DownloadFile): DownloadFile {
    const { sha256, size: length } = file
    if (!sha256 || length === undefined || length > this.maxFileSize) return file
    return new CachedContentFile(file, sha256, this)
  }
}

/** A DownloadFile whose bytes come from a ContentCache when it has them. */
class CachedContentFile implements DownloadFile {
  readonly name: string
  readonly size?: number
  readonly contentType?: string
  readonly modifiedAt?: Date
  readonly sha256: string
  readonly etag?: string
  readonly location?: FileLocation

  constructor(
    private readonly file: DownloadFile,
    sha256: string,
    private readonly cache: ContentCache,
  ) {
    this.name = file.name
    this.sha256 = sha256
    if (file.size !== undefined) this.size = file.size
    if (file.contentType !== undefined) this.contentType = file.contentType
    if (file.modifiedAt !== undefined) this.modifiedAt = file.modifiedAt
    if (file.etag !== undefined) this.etag = file.etag
    if (file.location !== undefined) this.location = file.location
  }

  async open(range?: ByteRange): Promise<Readable> {
    const held = this.cache.get(this.sha256)
    if (held) return bufferedReadable(range ? held.subarray(range.start, range.end + 1) : held)
    const stream = await this.file.open(range)
    // A full read that the storage made in one go: its bytes are right here (streamed reads, of
    // S3 say, are not copied aside; they stay as fast as without the cache).
    const all = range === undefined || (range.start === 0 && range.end + 1 === this.size)
    const whole = all ? bufferedBytes(stream) : undefined
    if (whole && whole.length === this.size) this.cache.set(this.sha256, whole)
    return stream
  }

  release(): void {
    this.file.release?.()
  }
}

function size(value: unknown, fallback: number, name: string): number {
  const chosen = value ?? fallback
  if (typeof chosen !== 'number' || !Number.isSafeInteger(chosen) || chosen < 1)
    throw new ConfigurationError(`ContentCache: option "${name}" must be a whole number of bytes from 1`)
  return chosen
}
