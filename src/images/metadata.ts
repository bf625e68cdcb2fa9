/**
 * @module Image metadata read with sharp, from the bytes as they pass: dimensions as displayed,
 * format, alpha, and the media type the bytes declare. The only module of the columns' side that
 * knows sharp.
 */
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import sharp from 'sharp'
import { FileColumnError } from '../errors'

/**
 * The most pixels (width × height) sharp agrees to read, for metadata and for variants: sharp's own
 * default (0x3FFF², about 268 megapixels), stated so that it cannot drift. Bigger images are refused
 * before their pixels are decoded, which bounds the memory a hostile upload can claim.
 */
export const LIMIT_INPUT_PIXELS = 0x3fff * 0x3fff

/** What an image column stores about an image, plus its media type. */
export interface ImageMetadata {
  /** Width as displayed (EXIF orientation applied). */
  width: number
  /** Height as displayed (EXIF orientation applied). */
  height: number
  /** The format, with AVIF told apart from other HEIF: `jpeg`, `png`, `webp`, `avif`, `heif`, `svg`… */
  format: string
  hasAlpha: boolean
  /** The media type of the format, or `undefined` for a format without a registered one (`vips`, `raw`). */
  contentType: string | undefined
}

const CONTENT_TYPES: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  heif: 'image/heif',
  tiff: 'image/tiff',
  svg: 'image/svg+xml',
  jp2: 'image/jp2',
  jxl: 'image/jxl',
}

/** The media type of an image format (`imageFormat()`'s names), or `undefined`. */
export function imageContentType(format: string): string | undefined {
  return CONTENT_TYPES[format]
}

/** The format name to store: sharp's, except that HEIF compressed with AV1 is `avif`. */
export function imageFormat(metadata: Pick<sharp.Metadata, 'format' | 'compression'>): string {
  const format = String(metadata.format)
  return format === 'heif' && metadata.compression === 'av1' ? 'avif' : format
}

/** ImageMetadata from sharp's metadata; width and height are those after EXIF orientation. */
export function describeImage(metadata: sharp.Metadata): ImageMetadata {
  // EXIF orientations 5–8 rotate by 90° or 270°: the displayed image is the stored one turned.
  const turned = (metadata.orientation ?? 1) >= 5
  const width = metadata.autoOrient?.width ?? (turned ? metadata.height : metadata.width)
  const height = metadata.autoOrient?.height ?? (turned ? metadata.width : metadata.height)
  const format = imageFormat(metadata)
  return { width, height, format, hasAlpha: metadata.hasAlpha, contentType: imageContentType(format) }
}

/**
 * A sink for the bytes of a file as they pass (while they are hashed or written): `write()` each
 * chunk, then `end()` to get the metadata. sharp keeps the bytes it is given until `end()`, as it
 * does for any stream input, and reads only the header: no pixel is decoded.
 *
 * @example
 * const probe = new ImageProbe()
 * for await (const chunk of stream) await probe.write(chunk)
 * const { width, height } = await probe.end()
 */
export class ImageProbe {
  private readonly sink = sharp({ limitInputPixels: LIMIT_INPUT_PIXELS })
  private readonly result: Promise<sharp.Metadata>

  constructor() {
    this.result = this.sink.metadata()
    // Settled only after end(); a probe abandoned halfway must not report an unhandled rejection.
    this.result.catch(() => undefined)
  }

  /** Passes one chunk to sharp, waiting when sharp asks the writer to slow down. */
  async write(chunk: Buffer): Promise<void> {
    if (!this.sink.write(chunk)) await once(this.sink, 'drain')
  }

  /** Ends the input; resolves with the metadata, or rejects with sharp's error for bytes it cannot read. */
  async end(): Promise<ImageMetadata> {
    this.sink.end()
    return describeImage(await this.result)
  }

  /** Drops what was written, when the bytes will not be kept (the write failed). */
  abort(): void {
    this.sink.destroy()
  }
}

/** The metadata of a whole image, from a Buffer or a stream read to its end. */
export async function readImageMetadata(input: Buffer | Readable): Promise<ImageMetadata> {
  const probe = new ImageProbe()
  try {
    if (Buffer.isBuffer(input)) await probe.write(input)
    else for await (const chunk of input) await probe.write(Buffer.from(chunk as Uint8Array))
  } catch (error) {
    probe.abort()
    throw error
  }
  return probe.end()
}

/**
 * The FileColumnError for a file that sharp could not read as an image: `where` is the column
 * (`Photo.image`), `name` the file; sharp's own message goes in `cause`.
 */
export function notAnImageError(where: string, name: string, cause: unknown): FileColumnError {
  const reason =
    cause instanceof Error && /pixel limit/i.test(cause.message)
      ? `is larger than the ${LIMIT_INPUT_PIXELS} pixels sharp is allowed to read`
      : 'is not an image sharp can read'
  return new FileColumnError(`Cannot save ${where}: "${name}" ${reason}`, { cause })
}
