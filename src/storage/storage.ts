/** @module The Storage interface: where the bytes of a file column live. */
import type { Readable } from 'node:stream'

/** What a storage knows about one stored file without reading it. */
export interface StorageStat {
  /** Size in bytes. */
  size: number
  /** Last modification time. */
  modifiedAt: Date
}

/** An inclusive byte range, as HTTP writes it: `{ start: 2, end: 5 }` is four bytes. */
export interface ByteRange {
  start: number
  end: number
}

/** Options of {@link Storage.signedUrl}. */
export interface SignedUrlOptions {
  /** Seconds until the URL stops working. */
  expiresIn: number
  /** The `Content-Disposition` the storage answers with (S3: `response-content-disposition`). */
  contentDisposition?: string
  /** The `Content-Type` the storage answers with (S3: `response-content-type`). */
  contentType?: string
}

/** Bytes to save: a Buffer, a string (UTF-8), a Node stream or any async iterable of chunks. */
export type SaveSource = Buffer | Uint8Array | string | Readable | AsyncIterable<Uint8Array | string>

/**
 * A place that stores files under string keys (`reports/2026/q3.pdf`).
 *
 * Every adapter confines keys to itself: a key with `..` segments, an absolute key, a NUL byte or
 * a backslash is refused, and adapters turn their native errors into this library's own
 * (`ENOENT` → `FileNotFoundError`). The shared contract suite in `test/contract` proves it.
 */
export interface Storage {
  /** A short name for messages and logs: `LocalStorage(/srv/media)`. */
  readonly name: string
  /** Size and modification time. Throws `FileNotFoundError` when there is no file at `key`. */
  stat(key: string): Promise<StorageStat>
  /** Whether a file exists at `key`; `false` (not a throw) for a key that is not safe. */
  exists(key: string): Promise<boolean>
  /**
   * Opens the file, or one inclusive byte range of it, as a stream. The file is opened before the
   * promise resolves, so a missing file rejects here (`FileNotFoundError`), before any header is sent.
   * A range that runs past the end gives the bytes up to the end (a ZIP archive asks for one byte
   * past a member's end, to find a file that grew since its row was saved).
   */
  open(key: string, range?: ByteRange): Promise<Readable>
  /** Writes `source` at `key`, replacing any file there, and returns the new file's stat. */
  save(key: string, source: SaveSource): Promise<StorageStat>
  /** Removes the file at `key`; a missing file is not an error. */
  delete(key: string): Promise<void>
  /**
   * The absolute path of `key` on this machine, for storages that have one (reverse-proxy offload
   * maps it to an internal location). `undefined` for storages that keep no local files.
   */
  localPath?(key: string): string | undefined
  /**
   * A short-lived URL from which anyone holding it can GET the object directly (an S3 presigned
   * GET URL), for storages that have one: the `redirect` delivery mode sends clients there, and the
   * `x-accel` mode hands it to nginx. `undefined` (the method) for storages that have none.
   */
  signedUrl?(key: string, options: SignedUrlOptions): Promise<string>
  /**
   * Every key whose normalised form starts with `prefix` (a plain string prefix, as in S3:
   * `docs/re` matches `docs/report.pdf`; `docs/` matches only keys under `docs/`), or every key.
   *
   * - Keys come in no particular order; callers that need one sort them. (LocalStorage walks
   *   depth-first with each directory sorted; MemoryStorage yields sorted keys.)
   * - Each key is one that `stat()` and `open()` accept; "directories" are not keys.
   * - Deleting listed keys while iterating is allowed, and does not disturb the iteration.
   * - A prefix that is not safe (`..`, absolute, NUL) rejects on the first `next()` with
   *   `UnsafePathError` or `BadPathError`; a prefix that matches nothing yields nothing.
   *
   * Optional: tools that need it (the CLI's orphan scan) say so when a storage has none.
   *
   * @example
   * for await (const key of storage.list('reports/')) console.log(key)
   */
  list?(prefix?: string): AsyncIterable<string>
}

/** The longest a presigned URL may live, in seconds: seven days, SigV4's limit. */
export const MAX_EXPIRES_IN = 7 * 24 * 3600
