/**
 * @module @ImageColumn: a file column whose file must be an image, with the image's width, height,
 * format and alpha channel in real columns beside the file's. No I/O, no DataSource.
 */
import { declareFileColumn, type FileColumnOptions } from './file-column'

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
  return declareFileColumn(options, true)
}
