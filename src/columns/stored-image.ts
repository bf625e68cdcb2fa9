/** @module StoredImage: the value of an image column, a StoredFile plus what the image itself says. */
import { StoredFile } from './stored-file'

/**
 * What an `@ImageColumn()` property holds: a StoredFile plus the image's dimensions, format, alpha
 * channel and ThumbHash, read with sharp when the row is saved. Each field is its own database
 * column (`image_width`, `image_height`, `image_format`, `image_has_alpha`, `image_thumbhash`).
 */
export class StoredImage extends StoredFile {
  /** Width in pixels as displayed: EXIF orientations 5–8 swap width and height. */
  width: number | null = null
  /** Height in pixels as displayed (EXIF orientation applied). */
  height: number | null = null
  /** The format sharp read from the bytes: `jpeg`, `png`, `webp`, `gif`, `avif`, `heif`, `tiff`, `svg`… */
  format: string | null = null
  /** Whether the image has an alpha channel. */
  hasAlpha: boolean | null = null
  /**
   * The image's ThumbHash (about 25 bytes, base64): a blurred placeholder to show while the image
   * loads (`thumbHashToDataURL()` of `typeorm-downloadview/images`). `''` when sharp could not
   * decode the pixels (no placeholder; its variants fail too); `null` when not read yet (a row saved
   * before the column existed: its next save, or `backfill`, fills it).
   */
  thumbhash: string | null = null
}

/** The fields an image column adds to a file column. */
export type ImageField = Exclude<keyof StoredImage, keyof StoredFile>
