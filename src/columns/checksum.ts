/** @module SHA-256 of a stream, computed while the bytes pass. */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'

/**
 * Reads `stream` to its end and returns the hex SHA-256 of its bytes. `tap` sees each chunk too
 * (an image probe reads the same bytes), so the file is read once.
 */
export async function sha256Of(
  stream: Readable,
  tap?: (chunk: Buffer) => Promise<void> | void,
): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of stream) {
    hash.update(chunk as Buffer)
    if (tap) await tap(chunk as Buffer)
  }
  return hash.digest('hex')
}
