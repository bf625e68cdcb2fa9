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
