/**
 * @module Image metadata read with sharp, from the bytes as they pass: dimensions as displayed,
 * format, alpha, the media type the bytes declare, and (for image columns) a ThumbHash. The only
 * module of the columns' side that knows sharp.
 */
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import type { Metadata, Sharp } from 'sharp'
import { FileColumnError } from '../errors'
import { loadSharp } from './sharp'
import { rgbaToThumbHash, THUMBHASH_MAX_SIDE } from './thumbhash'

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

/**
 * How bad pixel data must be for sharp to stop decoding, for variants, decode checks and ThumbHashes:
 * `'error'`. Data cut short or corrupt fails; a decoder's warning does not (a JPEG with stray bytes
 * before a marker, which browsers show). sharp's default, `'warning'`, refuses those too, and
 * `'truncated'` would turn corrupt data into garbage pixels. No level fails sooner: a decoder sees
 * the end of the data when it gets there, so a file cut short costs the decoding of what comes
 * before the cut. That is why failed variants are remembered (`FailedVariants`).
 */
export const FAIL_ON = 'error'

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
  /**
   * The image's ThumbHash, base64, when the probe was asked for one (`new ImageProbe(limit, {
   * thumbhash: true })`, as image columns do); `''` when sharp could not decode the pixels (cut
   * short, corrupt, a HEIF codec it lacks): such an image has no placeholder, and its variants fail.
   */
  thumbhash?: string
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
): Pick<ImageMetadata, 'width' | 'height' | 'format' | 'hasAlpha'> & { thumbhash: string | null } {
  return {
    width: image.width,
    height: image.height,
    format: image.format,
    hasAlpha: image.hasAlpha,
    thumbhash: image.thumbhash ?? null,
  }
}

/** Options of {@link ImageProbe}. */
export interface ImageProbeOptions {
  /**
   * Also make the image's ThumbHash: every pixel is decoded (as a variant does, `failOn: 'error'`)
   * and shrunk to at most 100 × 100, from the bytes the probe already holds.
   * @default false (the header only: no pixel is decoded)
   */
  thumbhash?: boolean
}

/**
 * A sink for the bytes of a file as they pass (while they are hashed or written): `write()` each
 * chunk, then `end()` to get the metadata. sharp keeps the bytes it is given until `end()`, as it
 * does for any stream input, and reads only the header for the metadata. Past `limitBytes` the
 * probe passes sharp no more bytes, so it never holds more than that, and `end()` rejects.
 *
 * So a file cut short after its header (an upload that broke off) gets through: sharp's `failOn`
 * governs pixel decoding, which metadata never does. Such files fail when a variant is made (a
 * 422, remembered) and `typeorm-downloadview check --decode-images` finds them.
 *
 * With `{ thumbhash: true }` (image columns), `end()` also decodes every pixel of the same bytes,
 * shrunk to at most 100 × 100, into a ThumbHash: the CPU of one small variant (about 0.1 to 0.3 s
 * for a 16383 × 16383 PNG, little for a JPEG, which shrinks while it decodes). A file whose pixels
 * do not decode still gets its metadata, with `thumbhash: ''`.
 *
 * @example
 * const probe = new ImageProbe()
 * for await (const chunk of stream) await probe.write(chunk)
 * const { width, height } = await probe.end()
 */
export class ImageProbe {
  // failOn is for the ThumbHash's decoding: metadata never decodes a pixel.
  private readonly sink = loadSharp()({ limitInputPixels: LIMIT_INPUT_PIXELS, failOn: FAIL_ON })
  private readonly result: Promise<Metadata>
  /** The ThumbHash, made from a clone of the sink (which gets the same bytes when they end). */
  private readonly thumbhash: Promise<string> | undefined
  private bytes = 0
  /** Why the probe stopped listening (too many bytes, or abort()); end() rejects with it. */
  private failure: Error | undefined

  constructor(
    private readonly limitBytes = LIMIT_INPUT_BYTES,
    options: ImageProbeOptions = {},
  ) {
    // Cloned before any byte is written: the clone shares the input buffer, never a copy of it.
    if (options.thumbhash) this.thumbhash = thumbHashOf(this.sink.clone())
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
    const image = describeImage(await this.result)
    if (this.thumbhash) image.thumbhash = await this.thumbhash
    return image
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

/**
 * The ThumbHash of the image `pipeline` reads (oriented, shrunk to at most 100 × 100, RGBA), base64;
 * `''` when its pixels do not decode. Never rejects.
 */
async function thumbHashOf(pipeline: Sharp): Promise<string> {
  try {
    const { data, info } = await pipeline
      .rotate()
      .resize(THUMBHASH_MAX_SIDE, THUMBHASH_MAX_SIDE, { fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .ensureAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true })
    return Buffer.from(rgbaToThumbHash(info.width, info.height, data)).toString('base64')
  } catch {
    // Not NULL, which means "not read yet": the save hook and backfill would read the file again.
    return ''
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
