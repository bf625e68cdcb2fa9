/** @module Turning any SaveSource into a Node Readable. */
import { Readable } from 'node:stream'
import type { SaveSource } from './storage'

/** A Readable over `source`: Buffers and strings as one chunk, streams as they are, iterables lazily. */
export function toReadable(source: SaveSource): Readable {
  if (source instanceof Readable) return source
  if (typeof source === 'string') return Readable.from([Buffer.from(source, 'utf8')])
  if (source instanceof Uint8Array)
    return Readable.from([Buffer.from(source.buffer, source.byteOffset, source.byteLength)])
  return Readable.from(source)
}

const BUFFERED = Symbol.for('typeorm-downloadview.buffered')

/**
 * A Readable that already holds all of its bytes (a small file read in one go, in-memory content).
 * It streams like any other, and `bufferedBytes()` hands the bytes over whole, so a sender can
 * write them with the headers in one go instead of piping.
 */
export function bufferedReadable(bytes: Buffer): Readable {
  const stream = Readable.from(bytes.length > 0 ? [bytes] : [], { objectMode: false })
  ;(stream as Readable & { [BUFFERED]?: Buffer })[BUFFERED] = bytes
  return stream
}

/** The bytes of a stream made by `bufferedReadable()` that nothing has read yet, else `undefined`. */
export function bufferedBytes(stream: Readable): Buffer | undefined {
  const bytes = (stream as Readable & { [BUFFERED]?: Buffer })[BUFFERED]
  return bytes && stream.readableDidRead === false && !stream.destroyed ? bytes : undefined
}

const RECYCLE = Symbol.for('typeorm-downloadview.recycle')

/**
 * Marks `stream` as one that can reuse the memory of the chunks it gave out: `recycle(chunk)` gives
 * a chunk back once its consumer is certain nothing references it any more (the socket wrote it).
 * Allocating a fresh 1 MiB buffer per read made V8 collect garbage so often that a 100 MiB download
 * ran at half speed in an app with a sizeable heap (bench/README.md).
 */
export function markRecycling(stream: Readable, recycle: (chunk: Buffer) => void): void {
  ;(stream as Readable & { [RECYCLE]?: (chunk: Buffer) => void })[RECYCLE] = recycle
}

/** The function that takes back `stream`'s chunks (`markRecycling()`), if it has one. */
export function recyclerOf(stream: Readable): ((chunk: Buffer) => void) | undefined {
  return (stream as Readable & { [RECYCLE]?: (chunk: Buffer) => void })[RECYCLE]
}
