/**
 * @module Image metadata read with sharp, from the bytes as they pass: dimensions as displayed,
 * format, alpha, and the media type the bytes declare. The only module of the columns' side that
 * knows sharp.
 */
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import type { Metadata } from 'sharp'
import { FileColumnError } from '../errors'
import { loadSharp } from './sharp'

/**
 * The most pixels (width × height) sharp agrees to read, for metadata and for variants: sharp's own
 * default (0x3FFF², about 268 megapixels), stated so that it cannot drift. Bigger images are refused
 * before their pixels are decoded, which bounds the memory a hostile upload can claim.
 */
export const LIMIT_INPUT_PIXELS = 0x3fff * 0x3fff

/**
 * The most bytes of encoded image that sharp is given, for metadata and for variants (256 MiB).
 * sharp keeps stream input in memory until it ends, and joins it into one Buffer: without this bound
 * an upload would claim as much memory as it is long (and past 4 GiB the join throws inside an event
 * listener, which ends the process). A larger file is refused as soon as it passes the bound.
 */
export const LIMIT_INPUT_BYTES = 256 * 1024 * 1024

/** More bytes than sharp is allowed to read: the file was refused before it was read whole. */
export class InputTooLargeError extends Error {
  override name = 'InputTooLargeError'

  constructor(readonly limit: number) {
    super(`Input image exceeds the limit of ${limit} bytes`)
  }
}

/** The error for a file that passed `limit` bytes. */
export function inputTooLargeError(limit: number): Error {
  return new InputTooLargeError(limit)
}

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
export function imageFormat(metadata: Pick<Metadata, 'format' | 'compression'>): string {
  const format = String(metadata.format)
  return format === 'heif' && metadata.compression === 'av1' ? 'avif' : format
}

/** ImageMetadata from sharp's metadata; width and height are those after EXIF orientation. */
export function describeImage(metadata: Metadata): ImageMetadata {
  // EXIF orientations 5–8 rotate by 90° or 270°: the displayed image is the stored one turned.
  const turned = (metadata.orientation ?? 1) >= 5
  const width = metadata.autoOrient?.width ?? (turned ? metadata.height : metadata.width)
  const height = metadata.autoOrient?.height ?? (turned ? metadata.width : metadata.height)
  const format = imageFormat(metadata)
  return { width, height, format, hasAlpha: metadata.hasAlpha, contentType: imageContentType(format) }
}

/** The fields an image column stores, from the metadata: what StoredImage adds to StoredFile. */
export function imageFields(
  image: ImageMetadata,
): Pick<ImageMetadata, 'width' | 'height' | 'format' | 'hasAlpha'> {
  return { width: image.width, height: image.height, format: image.format, hasAlpha: image.hasAlpha }
}

/**
 * A sink for the bytes of a file as they pass (while they are hashed or written): `write()` each
 * chunk, then `end()` to get the metadata. sharp keeps the bytes it is given until `end()`, as it
 * does for any stream input, and reads only the header: no pixel is decoded. Past `limitBytes` the
 * probe passes sharp no more bytes, so it never holds more than that, and `end()` rejects.
 *
 * So a file cut short after its header (an upload that broke off) gets through: sharp's `failOn`
 * governs pixel decoding, which metadata never does, and only decoding every pixel tells (as
 * long as a variant takes: about 0.1 to 0.3 s of CPU for a 16383 × 16383 PNG, each upload). Such
 * files fail when a variant is made (a 422, remembered) and `typeorm-downloadview check
 * --decode-images` finds them.
 *
 * @example
 * const probe = new ImageProbe()
 * for await (const chunk of stream) await probe.write(chunk)
 * const { width, height } = await probe.end()
 */
export class ImageProbe {
  private readonly sink = loadSharp()({ limitInputPixels: LIMIT_INPUT_PIXELS })
  private readonly result: Promise<Metadata>
  private bytes = 0
  /** Why the probe stopped listening (too many bytes, or abort()); end() rejects with it. */
  private failure: Error | undefined

  constructor(private readonly limitBytes = LIMIT_INPUT_BYTES) {
    this.result = this.sink.metadata()
    // Settled only after end(); a probe abandoned halfway must not report an unhandled rejection.
    this.result.catch(() => undefined)
  }

  /** Passes one chunk to sharp, waiting when sharp asks the writer to slow down. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) return
    this.bytes += chunk.length
    if (this.bytes > this.limitBytes) return this.stop(inputTooLargeError(this.limitBytes))
    if (!this.sink.write(chunk)) await once(this.sink, 'drain')
  }

  /** Ends the input; resolves with the metadata, or rejects with sharp's error for bytes it cannot read. */
  async end(): Promise<ImageMetadata> {
    if (this.failure) throw this.failure
    this.sink.end()
    return describeImage(await this.result)
  }

  /** Drops what was written, when the bytes will not be kept (the write failed). */
  abort(): void {
    this.stop(new Error('The image probe was aborted'))
  }

  private stop(failure: Error): void {
    this.failure ??= failure
    // sharp would never settle the metadata of a destroyed input: end() answers with the failure.
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
    cause instanceof InputTooLargeError
      ? `is larger than the ${cause.limit} bytes sharp is allowed to read`
      : cause instanceof Error && /pixel limit/i.test(cause.message)
        ? `is larger than the ${LIMIT_INPUT_PIXELS} pixels sharp is allowed to read`
        : 'is not an image sharp can read'
  return new FileColumnError(`Cannot save ${where}: "${name}" ${reason}`, { cause })
}
