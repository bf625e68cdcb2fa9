/** @module A DownloadFile backed by a key in a Storage. */
import type { Readable } from 'node:stream'
import type { ByteRange, Storage } from '../storage/storage'
import type { DownloadFile, FileLocation } from './download-file'

/** What may already be known about a stored file (from a database row, for instance). */
export interface StoredFileInfo {
  name?: string
  size?: number | null
  contentType?: string | null
  modifiedAt?: Date | null
  sha256?: string | null
}

/** A file at `key` in `storage`. Metadata given up front is trusted; nothing is read until `open()`. */
export class StorageFile implements DownloadFile {
  readonly name: string
  readonly size?: number
  readonly contentType?: string
  readonly modifiedAt?: Date
  readonly sha256?: string
  readonly location: FileLocation

  constructor(
    readonly storage: Storage,
    readonly key: string,
    info: StoredFileInfo = {},
  ) {
    this.name = info.name || basename(key)
    if (info.size != null) this.size = info.size
    if (info.contentType) this.contentType = info.contentType
    if (info.modifiedAt) this.modifiedAt = info.modifiedAt
    if (info.sha256) this.sha256 = info.sha256
    this.location = { kind: 'storage', storage, key }
  }

  /**
   * A StorageFile whose size and modification time are known: taken from `info` when it has them,
   * else from one `stat` of the storage (which also proves the file exists).
   */
  static async describe(storage: Storage, key: string, info: StoredFileInfo = {}): Promise<StorageFile> {
    if (info.size != null && info.modifiedAt) return new StorageFile(storage, key, info)
    const stat = await storage.stat(key)
    return new StorageFile(storage, key, { ...info, size: stat.size, modifiedAt: stat.modifiedAt })
  }

  open(range?: ByteRange): Promise<Readable> {
    return this.storage.open(this.key, range)
  }
}

/** The last segment of a key or path, whatever its separator. */
export function basename(key: string): string {
  const parts = key.split(/[\\/]/)
  return parts[parts.length - 1] ?? ''
}
