/** @module A Storage on the local file system, confined to one root directory (through symlinks too). */
import { randomBytes } from 'node:crypto'
import { createWriteStream, type Dirent, promises as fs, type Stats } from 'node:fs'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { BadPathError, ConfigurationError, FileNotFoundError, UnsafePathError } from '../errors'
import { existsByStat, normalizeKey, normalizePrefix } from './keys'
import { DEFAULT_READ_CHUNK, openLocalFile } from './local-file'
import { toReadable } from './source'
import type { ByteRange, SaveSource, Storage, StorageStat } from './storage'

/** Options of {@link LocalStorage}. */
export interface LocalStorageOptions {
  /** The directory that holds the files. Created on the first save when missing. */
  root: string
  /**
   * The most bytes read from disk at a time. A file (or range) that fits is read in one go and sent
   * with the headers; a larger one streams in chunks of this size while few downloads run, smaller
   * ones (down to 64 KiB) when many do, so that read buffers stay near 32 MiB in all (local-file.ts).
   * @default 1048576 (1 MiB: at 64 KiB, streaming a 100 MiB file ran at 0.6x nginx; bench/README.md)
   */
  readChunkSize?: number
}

/**
 * Files under one directory. Keys are normalised and confined: `..`, absolute keys and symlinks that
 * lead outside the root are refused with `UnsafePathError`.
 *
 * @example
 * const media = new LocalStorage({ root: '/srv/media' })
 * await media.save('hello.txt', 'Hello world!\n')
 */
export class LocalStorage implements Storage {
  readonly root: string
  readonly name: string
  private readonly readChunkSize: number
  private realRoot: string | undefined

  constructor(options: LocalStorageOptions) {
    if (!options || typeof options.root !== 'string' || options.root === '') {
      throw new ConfigurationError('LocalStorage: option "root" must be a non-empty path')
    }
    const chunk = options.readChunkSize ?? DEFAULT_READ_CHUNK
    if (!Number.isSafeInteger(chunk) || chunk < 1024) {
      throw new ConfigurationError('LocalStorage: option "readChunkSize" must be an integer of at least 1024')
    }
    this.root = path.resolve(options.root)
    this.name = `LocalStorage(${displayRoot(this.root)})`
    this.readChunkSize = chunk
  }

  async stat(key: string): Promise<StorageStat> {
    const file = await this.resolveExisting(key)
    const stats = await fs.stat(file).catch((error: unknown) => this.translate(error, key))
    if (!stats.isFile()) throw this.notFound(key)
    return { size: stats.size, modifiedAt: stats.mtime }
  }

  exists(key: string): Promise<boolean> {
    return existsByStat(this, key)
  }

  /**
   * Opens the key's file and checks the real path of what was opened (symlinks followed) against
   * the root: one `open`, no `realpath` first, and no window in which a swapped symlink could
   * change the file after the check.
   */
  async open(key: string, range?: ByteRange): Promise<Readable> {
    const full = path.join(this.root, normalizeKey(key))
    const root = await this.realRootPath(key)
    return openLocalFile(full, range, this.readChunkSize, (real) => this.confineTo(root, real, key)).catch(
      (error: unknown) => this.translate(error, key),
    )
  }

  async save(key: string, source: SaveSource): Promise<StorageStat> {
    const normal = normalizeKey(key)
    const target = path.join(this.root, normal)
    const directory = await this.makeDirectories(normal, key).catch((error: unknown) =>
      this.inTheWay(error, key),
    )
    // Write beside the target, then rename: readers never see half a file. list() skips these names.
    const temporary = path.join(directory, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.part`)
    try {
      await pipeline(toReadable(source), createWriteStream(temporary, { flags: 'wx' }))
      await fs.rename(temporary, target)
    } catch (error) {
      await fs.rm(temporary, { force: true }).catch(() => undefined)
      this.inTheWay(error, key)
    }
    return this.stat(normal)
  }

  async delete(key: string): Promise<void> {
    // Remove the key itself, not what it resolves to: deleting a symlink must not delete its target.
    const file = path.join(this.root, normalizeKey(key))
    let stats: Stats
    try {
      await this.resolveExisting(key)
      // The key's directory must be inside the root as well, or the link removed would be someone else's.
      await this.confine(
        await fs.realpath(path.dirname(file)).catch((error: unknown) => this.translate(error, key)),
        key,
      )
      stats = await fs.lstat(file).catch((error: unknown) => this.translate(error, key))
    } catch (error) {
      if (error instanceof FileNotFoundError) return
      throw error
    }
    // A directory is no file: its key is only a prefix of other keys, as in the other storages.
    if (stats.isDirectory()) return
    await fs.rm(file, { force: true })
  }

  localPath(key: string): string {
    return path.join(this.root, normalizeKey(key))
  }

  /**
   * Walks the root depth-first, each directory in sorted order, and yields the keys under `prefix`.
   * Symlinks are never followed while walking: a link to a file is listed when `stat()` accepts it
   * (its target is a file inside the root), a link to a directory is not entered. The `.part` files
   * of saves in progress, and names that are not valid keys, are skipped. A missing root lists nothing.
   */
  async *list(prefix?: string): AsyncIterable<string> {
    const wanted = normalizePrefix(prefix)
    // Start in the deepest directory that the prefix names in full: `a/b/c` walks `a/b`.
    const cut = wanted.lastIndexOf('/')
    const start = cut === -1 ? '' : wanted.slice(0, cut)
    let directory = this.root
    for (const segment of start === '' ? [] : start.split('/')) {
      directory = path.join(directory, segment)
      const stats = await fs.lstat(directory).catch(() => undefined)
      if (!stats?.isDirectory()) return
    }
    yield* this.walk(directory, start, wanted)
  }

  private async *walk(directory: string, base: string, wanted: string): AsyncGenerator<string> {
    let entries: Dirent[]
    try {
      entries = await fs.readdir(directory, { withFileTypes: true })
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      // Gone since the parent was read (a concurrent delete), or the root does not exist yet.
      if (code === 'ENOENT' || code === 'ENOTDIR') return
      throw error
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const entry of entries) {
      const key = base === '' ? entry.name : `${base}/${entry.name}`
      if (entry.isDirectory()) {
        if (`${key}/`.startsWith(wanted) || wanted.startsWith(`${key}/`))
          yield* this.walk(path.join(directory, entry.name), key, wanted)
        continue
      }
      if (!key.startsWith(wanted) || TEMPORARY_FILE.test(entry.name) || !isKey(key)) continue
      if (entry.isFile()) yield key
      else if (entry.isSymbolicLink() && (await this.exists(key))) yield key
    }
  }

  /**
   * Creates the directories of the normalised key one at a time, checking each before going deeper:
   * a directory on the way may be a symlink that leads out of the root, and nothing may be created there.
   */
  private async makeDirectories(normal: string, key: string): Promise<string> {
    await fs.mkdir(this.root, { recursive: true })
    let directory = this.root
    for (const segment of normal.split('/').slice(0, -1)) {
      directory = path.join(directory, segment)
      await fs.mkdir(directory).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error
      })
      await this.confine(
        await fs.realpath(directory).catch((error: unknown) => this.translate(error, key)),
        key,
      )
    }
    return directory
  }

  /** Normalises `key`, follows symlinks, and checks that the real path is still inside the root. */
  private async resolveExisting(key: string): Promise<string> {
    const full = path.join(this.root, normalizeKey(key))
    const real = await fs.realpath(full).catch((error: unknown) => this.translate(error, key))
    await this.confine(real, key)
    return real
  }

  private async confine(real: string, key: string): Promise<void> {
    this.confineTo(await this.realRootPath(key), real, key)
  }

  /** The root with its symlinks followed, resolved once (a missing root is "no file at key"). */
  private async realRootPath(key: string): Promise<string> {
    if (this.realRoot === undefined) {
      this.realRoot = await fs.realpath(this.root).catch((error: unknown) => this.translate(error, key))
    }
    return this.realRoot
  }

  private confineTo(root: string, real: string, key: string): void {
    if (real !== root && !real.startsWith(root.endsWith(path.sep) ? root : root + path.sep)) {
      throw new UnsafePathError(`Key "${key}" leads outside ${this.name}`)
    }
  }

  /**
   * Why a save failed, without the absolute path that Node's own messages carry: a file where a
   * folder should be (or the reverse), a name too long for the file system, or another native error.
   */
  private inTheWay(error: unknown, key: string): never {
    const code = (error as NodeJS.ErrnoException | undefined)?.code
    if (code === 'ENOTDIR' || code === 'EISDIR' || code === 'EEXIST') {
      throw new BadPathError(`Cannot save "${key}" in ${this.name}: a file or folder is in the way`)
    }
    if (code === 'ENAMETOOLONG') {
      throw new BadPathError(`Cannot save "${key}" in ${this.name}: a name is too long for the file system`, {
        cause: error,
      })
    }
    throw withoutPath(error, `Cannot save "${key}" in ${this.name}`)
  }

  private notFound(key: string): FileNotFoundError {
    return new FileNotFoundError(`No file at "${key}" in ${this.name}`)
  }

  /** Native errors become the library's own at this boundary. */
  private translate(error: unknown, key: string): never {
    const code = (error as NodeJS.ErrnoException | undefined)?.code
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
      throw new FileNotFoundError(`No file at "${key}" in ${this.name}`, { cause: error })
    }
    if (code === 'ELOOP') throw new UnsafePathError(`Key "${key}" loops through symlinks in ${this.name}`)
    // A well-formed request that names nothing: 404, not 400 (RFC 9110 §15.5.5; send does the same).
    if (code === 'ENAMETOOLONG') {
      throw new FileNotFoundError(
        `No file at "${key}" in ${this.name}: a name is too long for the file system`,
        {
          cause: error,
        },
      )
    }
    throw withoutPath(error, `Cannot read "${key}" in ${this.name}`)
  }
}

/**
 * How a storage root appears in names and messages: relative to the working directory when it is
 * inside it, else its last folder. Never the absolute path, which an error could carry to a log.
 */
function displayRoot(root: string): string {
  const relative = path.relative(process.cwd(), root)
  if (relative === '') return '.'
  if (!relative.startsWith('..') && !path.isAbsolute(relative)) return relative
  return `…/${path.basename(root)}`
}

/**
 * A native error whose message (Node's holds the absolute path: `EACCES: permission denied, open
 * '/srv/media/a.txt'`) is replaced by `what` and its code; the original stays as `cause`, and the
 * code as `code`, for whoever debugs it.
 */
function withoutPath(error: unknown, what: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (typeof code !== 'string') return error
  return Object.assign(new Error(`${what}: ${code}`, { cause: error }), { code })
}

/** The temporary name save() writes under: `.<name>.<12 hex digits>.part`. */
const TEMPORARY_FILE = /^\..+\.[0-9a-f]{12}\.part$/

/** Whether a file name found on disk is a key that the other methods accept as it is. */
function isKey(key: string): boolean {
  try {
    return normalizeKey(key) === key
  } catch {
    return false
  }
}
