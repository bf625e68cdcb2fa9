/** @module The streams S3Storage hands over and takes in: response bodies cut to a range, upload bodies. */
import { Readable } from 'node:stream'
import { toReadable } from '../storage/source'
import type { ByteRange, SaveSource } from '../storage/storage'

/** The first and last byte of a `Content-Range: bytes 2-5/9` header, or `undefined`. */
export function parseContentRange(header: string | undefined): ByteRange | undefined {
  const match = header === undefined ? null : /^bytes (\d+)-(\d+)\/(?:\d+|\*)$/.exec(header.trim())
  if (!match) return undefined
  return { start: Number(match[1]), end: Number(match[2]) }
}

/**
 * `body` holding exactly the inclusive `range` that was asked for, given the range the server says
 * it sent (`served`, from `Content-Range`; `undefined` for a 200 with the whole object).
 *
 * S3 answers `bytes=a-b` with those bytes (the end clamped to the object's last byte), and the body
 * is then handed over as it is. Some S3-compatible servers do not: s3rver answers `bytes=0-0` with
 * the whole object, and a server that ignores `Range` sends a 200. Then the extra bytes are cut off
 * here, and the response is dropped as soon as the range is complete, so the rest is never read.
 * Returns `undefined` when the body starts after the range (no cutting can fix that).
 */
export function fitToRange(
  body: Readable,
  served: ByteRange | undefined,
  range: ByteRange,
): Readable | undefined {
  const first = served?.start ?? 0
  if (first > range.start) return undefined
  const skip = range.start - first
  if (skip === 0 && served && served.end <= range.end) return body
  return sliceOf(body, skip, Math.max(0, range.end - range.start + 1))
}

/**
 * A Readable of `length` bytes of `body` after the first `skip` ones. Backpressure passes through
 * (`body` pauses while the slice is full); destroying the slice destroys `body`, which frees its
 * socket; `body` is destroyed too as soon as the slice is complete.
 */
function sliceOf(body: Readable, skip: number, length: number): Readable {
  let toSkip = skip
  let left = length
  let done = false
  const slice = new Readable({
    read() {
      if (!done) body.resume()
    },
    destroy(error, callback) {
      finish(false)
      callback(error)
    },
  })
  const finish = (end: boolean) => {
    if (done) return
    done = true
    body.removeListener('data', onData)
    body.removeListener('end', onEnd)
    body.removeListener('error', onError)
    // A destroyed response may still report the abort; nobody needs to hear it.
    body.on('error', () => undefined)
    body.destroy()
    if (end) slice.push(null)
  }
  const onData = (chunk: Buffer) => {
    if (toSkip >= chunk.length) {
      toSkip -= chunk.length
      return
    }
    let piece = toSkip > 0 ? chunk.subarray(toSkip) : chunk
    toSkip = 0
    if (piece.length > left) piece = piece.subarray(0, left)
    left -= piece.length
    const more = slice.push(piece)
    if (left === 0) finish(true)
    else if (!more) body.pause()
  }
  // A body shorter than the range (the object shrank meanwhile) ends the slice early, as a short file would.
  const onEnd = () => finish(true)
  const onError = (error: Error) => {
    finish(false)
    slice.destroy(error)
  }
  if (left === 0) {
    finish(true)
    return slice
  }
  body.on('data', onData)
  body.on('end', onEnd)
  body.on('error', onError)
  return slice
}

/** An empty Readable: what a range that starts past the end of an object reads as (as in LocalStorage). */
export function emptyReadable(): Readable {
  return Readable.from([], { objectMode: false })
}

/** What `Upload` is given for a SaveSource, with the source's own failure kept apart from the upload's. */
export interface UploadBody {
  body: Buffer | Readable
  /** The error the source itself threw, if it did: what `save()` rejects with. */
  sourceFailure(): { error: unknown } | undefined
  /** Destroys the body and the caller's stream, after a failed upload. */
  dispose(): void
}

/**
 * Buffers and strings go to `Upload` whole (it slices them into parts without copying); streams and
 * async iterables go through a generator that remembers the source's own error, so that `save()`
 * rejects with it ("source broke") rather than with whatever the aborted upload reported.
 */
export function uploadBody(source: SaveSource): UploadBody {
  if (typeof source === 'string') return whole(Buffer.from(source, 'utf8'))
  if (source instanceof Uint8Array)
    return whole(Buffer.from(source.buffer, source.byteOffset, source.byteLength))
  const input = toReadable(source)
  let failure: { error: unknown } | undefined
  async function* chunks(): AsyncGenerator<Buffer | Uint8Array> {
    const iterator = input[Symbol.asyncIterator]()
    try {
      for (;;) {
        let next: IteratorResult<unknown>
        try {
          next = await iterator.next()
        } catch (error) {
          // Only what the source itself throws: an upload that gives up throws into the yield below.
          failure = { error }
          throw error
        }
        if (next.done) return
        const chunk = next.value
        yield typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer | Uint8Array)
      }
    } finally {
      // Ended, failed, or given up on by the upload: either way the source is done with.
      input.destroy()
    }
  }
  const body = Readable.from(chunks(), { objectMode: false })
  return {
    body,
    sourceFailure: () => failure,
    dispose: () => {
      body.destroy()
      input.destroy()
    },
  }
}

function whole(bytes: Buffer): UploadBody {
  return { body: bytes, sourceFailure: () => undefined, dispose: () => undefined }
}
