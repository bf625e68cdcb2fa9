/**
 * @module @ImageColumn: a file column whose file must be an image, with the image's width, height,
 * format, alpha channel and ThumbHash in real columns beside the file's. No I/O, no DataSource:
 * sharp is loaded the first time a row's image is read.
 */
import type { ContentProbe } from '../columns/content-probe'
import { declareFileColumn, type FileColumnOptions } from '../columns/file-column'
import { ImageProbe, imageFields, notAnImageError } from './metadata'

/**
 * The probe of image columns: sharp reads the header of the bytes as they pass, then decodes them
 * once, shrunk, for the ThumbHash.
 */
const imageProbe: ContentProbe = {
  start() {
    const probe = new ImageProbe(undefined, { thumbhash: true })
    return {
      write: (chunk) => probe.write(chunk),
      abort: () => probe.abort(),
      async end() {
        const image = await probe.end()
        return { fields: imageFields(image), contentType: image.contentType }
      },
    }
  },
  refuse: notAnImageError,
}

/**
 * Declares an image column: a `@FileColumn()` whose value is a StoredImage. Besides the file
 * columns (`image_path`, `image_size`, …) it maps five nullable columns: `<prefix>width` and
 * `<prefix>height` (`int`, as displayed, EXIF orientation applied), `<prefix>format` (`text`),
 * `<prefix>has_alpha` (`boolean`) and `<prefix>thumbhash` (`text`: the image's ThumbHash in base64,
 * a placeholder to show while it loads; see `thumbHashToDataURL()`). `FileColumnSubscriber` and
 * `attachFile()` read them with sharp in one pass over the bytes, take the content type from the
 * bytes, and refuse a file that sharp cannot read as an image. An image whose pixels do not decode
 * (cut short after its header, a HEIF codec sharp lacks) is saved with an empty thumbhash (`''`).
 *
 * @example
 * @Entity()
 * class Photo {
 *   @PrimaryGeneratedColumn() id!: number
 *   @ImageColumn() image!: StoredImage | null
 * }
 */
export function ImageColumn(options: FileColumnOptions = {}): PropertyDecorator {
  return declareFileColumn(options, imageProbe)
}
