/** @module SHA-256 of a stream, computed while the bytes pass. */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'

/** Reads `stream` to its end and returns the hex SHA-256 of its bytes. */
export async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of stream) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
