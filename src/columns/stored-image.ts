/** @module StoredImage: the value of an image column, a StoredFile plus what the image itself says. */
import { StoredFile } from './stored-file'

/**
 * What an `@ImageColumn()` property holds: a StoredFile plus the image's dimensions, format and
 * alpha channel, read with sharp when the row is saved. Each field is its own database column
 * (`image_width`, `image_height`, `image_format`, `image_has_alpha`).
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
}

/** The fields an image column adds to a file column. */
export type ImageField = Exclude<keyof StoredImage, keyof StoredFile>
