/** @module The checksums of a stream (SHA-256, and the CRC-32 that ZIP archives need), computed while the bytes pass. */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import { crc32 } from '../zip/crc32'

/** What {@link checksumsOf} computes. */
export interface Checksums {
  /** Hex SHA-256. */
  sha256: string
  /** CRC-32, an unsigned 32-bit integer. */
  crc32: number
}

/**
 * Reads `stream` to its end and returns the hex SHA-256 of its bytes. `tap` sees each chunk too
 * (an image probe reads the same bytes), so the file is read once.
 */
export async function sha256Of(
  stream: Readable,
  tap?: (chunk: Buffer) => Promise<void> | void,
): Promise<string> {
  return (await checksumsOf(stream, tap, { crc32: false })).sha256
}

/**
 * Reads `stream` to its end and returns the SHA-256 and the CRC-32 of its bytes, in one pass;
 * `tap` sees each chunk too. `{ crc32: false }` skips the CRC (it is then 0).
 */
export async function checksumsOf(
  stream: Readable,
  tap?: (chunk: Buffer) => Promise<void> | void,
  options: { crc32?: boolean } = {},
): Promise<Checksums> {
  const hash = createHash('sha256')
  const withCrc = options.crc32 ?? true
  let crc = 0
  for await (const chunk of stream) {
    hash.update(chunk as Buffer)
    if (withCrc) crc = crc32(chunk as Buffer, crc)
    if (tap) await tap(chunk as Buffer)
  }
  return { sha256: hash.digest('hex'), crc32: crc }
}
