/** @module Opening a local file for streaming: one open, one check, a stream that owns the descriptor. */
import { promises as fs } from 'node:fs'
import type { Readable } from 'node:stream'
import type { ByteRange } from './storage'

/**
 * Opens `file` (an absolute path) and streams it, or the inclusive `range` of it. The file is
 * opened before the promise resolves, so a missing file rejects here, with Node's own error
 * (`ENOENT`), for the caller to translate. Something that is not a regular file rejects with an
 * `EISDIR`-coded error. The stream closes the descriptor on end, error and destroy.
 */
export async function openLocalFile(
  file: string,
  range: ByteRange | undefined,
  chunkSize: number,
): Promise<Readable> {
  const handle = await fs.open(file, 'r')
  try {
    const stats = await handle.stat()
    if (!stats.isFile()) throw Object.assign(new Error(`Not a regular file: ${file}`), { code: 'EISDIR' })
  } catch (error) {
    await handle.close()
    throw error
  }
  return handle.createReadStream({
    start: range?.start,
    end: range?.end,
    highWaterMark: chunkSize,
    autoClose: true,
  })
}
