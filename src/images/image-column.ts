/**
 * @module @ImageColumn: a file column whose file must be an image, with the image's width, height,
 * format and alpha channel in real columns beside the file's. No I/O, no DataSource: sharp is loaded
 * the first time a row's image is read.
 */
import type { ContentProbe } from '../columns/content-probe'
import { declareFileColumn, type FileColumnOptions } from '../columns/file-column'
import { ImageProbe, imageFields, notAnImageError } from './metadata'

/** The probe of image columns: sharp reads the header of the bytes as they pass. */
const imageProbe: ContentProbe = {
  start() {
    const probe = new ImageProbe()
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
 * columns (`image_path`, `image_size`, …) it maps four nullable columns: `<prefix>width` and
 * `<prefix>height` (`int`, as displayed, EXIF orientation applied), `<prefix>format` (`text`) and
 * `<prefix>has_alpha` (`boolean`). `FileColumnSubscriber` and `attachFile()` read them with sharp,
 * take the content type from the bytes, and refuse a file that sharp cannot read as an image.
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
