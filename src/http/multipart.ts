/** @module multipart/byteranges bodies (RFC 9110 §14.6), streamed range by range, never buffered. */
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import type { DownloadFile } from '../files/download-file'
import type { ByteRange } from '../storage/storage'

/** A multipart/byteranges body whose length is known before the first byte is read. */
export interface MultipartBody {
  contentType: string
  length: number
  open(): Promise<Readable>
}

/** Plans a multipart/byteranges body of `ranges` of `file` (whose size is `size`). */
export function multipartBody(
  file: DownloadFile,
  ranges: ByteRange[],
  size: number,
  contentType: string,
): MultipartBody {
  const boundary = randomBytes(12).toString('hex')
  const heads = ranges.map(
    (range, index) =>
      `${index === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`,
  )
  const tail = `\r\n--${boundary}--\r\n`
  let length = Buffer.byteLength(tail)
  ranges.forEach((range, index) => {
    length += Buffer.byteLength(heads[index] ?? '') + range.end - range.start + 1
  })

  async function* parts(first: Readable): AsyncGenerator<Buffer> {
    for (const [index, range] of ranges.entries()) {
      yield Buffer.from(heads[index] ?? '')
      // Leaving this loop early (client gone) destroys the part's stream: no descriptor is kept.
      const stream = index === 0 ? first : await file.open(range)
      for await (const chunk of stream) yield chunk as Buffer
    }
    yield Buffer.from(tail)
  }

  return {
    contentType: `multipart/byteranges; boundary=${boundary}`,
    length,
    // The first range is opened before resolving, so a missing file fails before the headers.
    async open() {
      const first = await file.open(ranges[0] as ByteRange)
      const body = Readable.from(parts(first), { objectMode: false })
      // Also when the body is destroyed before the generator ever reached the first stream.
      body.once('close', () => first.destroy())
      return body
    },
  }
}
