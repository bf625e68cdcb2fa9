/** @module A DownloadFile at an absolute path on this machine (PathDownloadView without a root). */
import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { BadPathError, FileNotFoundError } from '../errors'
import { DEFAULT_READ_CHUNK, openLocalFile } from '../storage/local-file'
import type { ByteRange } from '../storage/storage'
import type { DownloadFile, FileLocation } from './download-file'

/** What may be said of a local file beyond what `stat` tells. */
export interface PathFileInfo {
  /** The name the client sees. @default the path's basename */
  name?: string
  /** The media type. @default derived from `name` */
  contentType?: string
}

/**
 * The file at `path`, described by one `stat`: size and modification time give Last-Modified and a
 * weak ETag. The path is trusted as given (symlinks are followed): confine paths that come from a
 * request with a root (PathDownloadView's `root` option) instead.
 */
export class PathFile implements DownloadFile {
  readonly name: string
  readonly contentType?: string
  readonly location: FileLocation

  private constructor(
    readonly path: string,
    readonly size: number,
    readonly modifiedAt: Date,
    info: PathFileInfo,
    private readonly chunkSize: number,
  ) {
    this.name = info.name || path.split(/[\\/]/).pop() || 'download'
    if (info.contentType) this.contentType = info.contentType
    this.location = { kind: 'path', path }
  }

  /**
   * Stats `file` (an absolute path) and describes it. A missing file, or one that is not a regular
   * file, is a `FileNotFoundError`; a relative path or a NUL byte is a `BadPathError`.
   *
   * @example
   * const file = await PathFile.describe('/srv/exports/report.csv')
   */
  static async describe(
    file: string,
    info: PathFileInfo = {},
    chunkSize = DEFAULT_READ_CHUNK,
  ): Promise<PathFile> {
    if (typeof file !== 'string' || file.includes('\u0000'))
      throw new BadPathError('A file path must be a string without NUL bytes')
    if (!path.isAbsolute(file)) throw new BadPathError(`Not an absolute path: "${file}"`)
    const normal = path.normalize(file)
    const stats = await fs.stat(normal).catch((error: NodeJS.ErrnoException) => {
      // A name too long for the file system names nothing: 404, as send has it (RFC 9110 §15.5.5).
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR' || error.code === 'ENAMETOOLONG')
        throw new FileNotFoundError(`No file at "${normal}"`, { cause: error })
      throw error
    })
    if (!stats.isFile()) throw new FileNotFoundError(`Not a regular file: "${normal}"`)
    return new PathFile(normal, stats.size, stats.mtime, info, chunkSize)
  }

  open(range?: ByteRange): Promise<Readable> {
    return openLocalFile(this.path, range, this.chunkSize).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR' || error.code === 'EISDIR')
        throw new FileNotFoundError(`No file at "${this.path}"`, { cause: error })
      throw error
    })
  }
}
