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
