/**
 * @module Opening a local file for streaming: one open, a check of what was really opened, and a
 * stream that owns the descriptor.
 */
import { close, closeSync, constants, fstatSync, open, read, readlinkSync, realpath } from 'node:fs'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { bufferedReadable, markRecycling } from './source'
import type { ByteRange } from './storage'

const openFile = promisify(open)
const readFile = promisify(read)
const realpathOf = promisify(realpath.native)

// O_NONBLOCK: a FIFO planted under a root cannot hang a libuv thread in open() (it has no effect
// on regular files). O_NOCTTY: a terminal device is never made the controlling terminal.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0)

/**
 * Opens `file` (an absolute path) and streams it, or the inclusive `range` of it. The file is
 * opened before the promise resolves, so a missing file rejects here, with Node's own error
 * (`ENOENT`), for the caller to translate. Something that is not a regular file rejects with an
 * `EISDIR`-coded error. The stream closes the descriptor on end, error and destroy.
 *
 * `confine`, when given, is called with the real path of the file that was opened (symlinks
 * followed) and throws to refuse it. On Linux that path is read from the open descriptor
 * (`/proc/self/fd`), so it is the file that will be read: no symlink swapped in after a check can
 * change it. Elsewhere it falls back to `realpath()` of `file`.
 *
 * What fits in one chunk (`chunkSize`) is read before the promise resolves and the descriptor is
 * closed at once; the sender writes those bytes with the headers (`bufferedBytes()`). Larger reads
 * stream, `chunkSize` at a time.
 *
 * Cost, measured on the 1 KiB download (bench/README.md): every trip through libuv's thread pool
 * wakes a thread and, on a busy machine, costs a context switch. Only `open` and `read`, which may
 * wait for the disk, go there; `fstat`, `close` and the descriptor's path are answered from the
 * kernel's memory for the descriptor just opened, and run inline.
 */
export async function openLocalFile(
  file: string,
  range: ByteRange | undefined,
  chunkSize: number,
  confine?: (realPath: string) => void,
): Promise<Readable> {
  const fd = await openFile(file, OPEN_FLAGS)
  let size: number
  try {
    if (confine) confine(descriptorPath(fd) ?? (await realpathOf(file)))
    const stats = fstatSync(fd)
    if (!stats.isFile()) throw Object.assign(new Error(`Not a regular file: ${file}`), { code: 'EISDIR' })
    size = stats.size
  } catch (error) {
    closeSync(fd)
    throw error
  }
  const start = range?.start ?? 0
  const end = range === undefined ? size - 1 : Math.min(range.end, size - 1)
  const length = Math.max(0, end - start + 1)
  if (length > chunkSize)
    return new FileRangeStream(fd, start, range === undefined ? Infinity : range.end, chunkSize)
  try {
    const bytes = takeBuffer(length)
    let filled = 0
    while (filled < length) {
      const { bytesRead } = await readFile(fd, bytes, filled, length - filled, start + filled)
      if (bytesRead === 0) break // truncated since fstat: the sender sees a short body and cuts it
      filled += bytesRead
    }
    const stream = bufferedReadable(filled === length ? bytes : bytes.subarray(0, filled))
    markRecycling(stream, giveBack)
    return stream
  } finally {
    closeSync(fd)
  }
}

/** Whether `/proc/self/fd` answers; `false` once it did not (not Linux, or no /proc mounted). */
let procAvailable = process.platform === 'linux'

/** The path of the file open at `fd`, from `/proc/self/fd`, or `undefined` where that is not available. */
function descriptorPath(fd: number): string | undefined {
  if (!procAvailable) return undefined
  try {
    return readlinkSync(`/proc/self/fd/${fd}`)
  } catch (error) {
    // No /proc here (a container without it): fall back for good. Any other failure falls back
    // for this file only.
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') procAvailable = false
    return undefined
  }
}

/** The default most bytes read at a time (LocalStorage's `readChunkSize`, PathFile's). */
export const DEFAULT_READ_CHUNK = 1024 * 1024

/**
 * Read buffers of all the file streams of this process share this budget: each read takes
 * `budget / streams open`, no more than what the budget has left, at least {@link MIN_CHUNK} and
 * at most the storage's chunk size. A few downloads read 1 MiB at a time, which is what moves a
 * large file at the speed of nginx; two hundred slow clients read a fraction of that each, so
 * memory stays near the budget whatever the number of clients.
 */
export const READ_BUDGET = 32 * 1024 * 1024
/** The smallest read of a file stream. */
export const MIN_CHUNK = 64 * 1024

let openStreams = 0
/**
 * Bytes that file streams read and their consumers may not have finished with: a stream's last two
 * chunks (the one its consumer is writing, and the one read ahead), until a newer read replaces
 * them or the stream is destroyed. What slow clients hold; chunks read while few streams were open
 * count too.
 */
let heldBytes = 0

/**
 * Bytes `start` to `end` (inclusive; `Infinity` for "to the end") of the open descriptor `fd`.
 * One chunk is read ahead, so the disk read of the next chunk overlaps the socket write of this
 * one (reading strictly on demand cost about a fifth of the 100 MiB throughput); a client that
 * stops reading holds at most two chunks and what its socket holds. The descriptor is closed on
 * end, error and destroy.
 */
class FileRangeStream extends Readable {
  private position: number
  /** A read is on the thread pool: the descriptor must not be closed under it (its number could be reused). */
  private reading = false
  /** Set by _destroy() during a read: close when the read comes back. */
  private pendingClose: (() => void) | undefined
  private released = false
  /** This stream's part of `heldBytes`: the sizes of its last two chunks. */
  private held: number[] = []

  constructor(
    private readonly fd: number,
    start: number,
    private readonly end: number,
    private readonly maxChunk: number,
  ) {
    // One byte: a pushed chunk fills the buffer, so exactly one chunk waits ahead of the consumer.
    super({ highWaterMark: 1 })
    this.position = start
    openStreams++
    markRecycling(this, giveBack)
  }

  override _read(): void {
    // Asked for more: the consumer took the last chunk, so the one before is done with.
    if (this.held.length === 2) heldBytes -= this.held.shift() as number
    const share = Math.floor(READ_BUDGET / openStreams)
    const chunk = Math.min(this.maxChunk, Math.max(MIN_CHUNK, Math.min(share, READ_BUDGET - heldBytes)))
    const length = Math.min(chunk, this.end - this.position + 1)
    if (length <= 0) {
      this.push(null)
      return
    }
    const buffer = takeBuffer(length)
    this.reading = true
    read(this.fd, buffer, 0, length, this.position, (error, bytesRead) => {
      this.reading = false
      if (this.pendingClose) {
        this.pendingClose()
        return
      }
      if (error) {
        this.destroy(error)
        return
      }
      if (bytesRead === 0) {
        this.push(null)
        return
      }
      this.position += bytesRead
      this.held.push(bytesRead)
      heldBytes += bytesRead
      this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead))
    })
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const release = () => {
      if (this.released) {
        callback(error)
        return
      }
      this.released = true
      openStreams--
      this.dropHeld()
      close(this.fd, (closeError) => callback(error ?? closeError))
    }
    if (this.reading) this.pendingClose = release
    else release()
  }

  private dropHeld(): void {
    for (const bytes of this.held) heldBytes -= bytes
    this.held = []
  }
}

/**
 * Read buffers that senders gave back once the socket wrote them (`markRecycling`), for the next
 * reads of any file. Allocating a fresh buffer of 64 KiB to 1 MiB per read made V8 collect garbage
 * so often that, in an app with a real heap, a 100 MiB download ran at half the speed (bench/README.md).
 * At most {@link POOL_SIZE} buffers are kept; smaller reads use Node's own slab.
 */
const pool: ArrayBuffer[] = []
const POOL_SIZE = 16
/** The smallest buffer worth keeping. */
const POOLED = 64 * 1024

/** A buffer of `length` bytes, in the memory of a given-back one when one is large enough. */
function takeBuffer(length: number): Buffer {
  if (length >= POOLED) {
    for (let index = pool.length - 1; index >= 0; index--) {
      const memory = pool[index] as ArrayBuffer
      if (memory.byteLength >= length) {
        pool.splice(index, 1)
        return Buffer.from(memory, 0, length)
      }
    }
  }
  return Buffer.allocUnsafe(length)
}

/** Takes back a chunk that nothing references any more. Never the same memory twice. */
function giveBack(chunk: Buffer): void {
  const memory = chunk.buffer as ArrayBuffer
  if (chunk.byteOffset !== 0 || memory.byteLength < POOLED || pool.length >= POOL_SIZE) return
  if (!pool.includes(memory)) pool.push(memory)
}
