/**
 * Test-only image entities and their own table (created by the migration below, never by the demo's
 * migrations), a DataSource on a fresh database for them, and test images drawn with sharp.
 */
import { deflateSync } from 'node:zlib'
import sharp from 'sharp'
import {
  Column,
  type DataSource,
  Entity,
  type MigrationInterface,
  PrimaryGeneratedColumn,
  type QueryRunner,
} from 'typeorm'
import { FileColumn } from '../../src/columns/file-column'
import type { StoredFile } from '../../src/columns/stored-file'
import type { StoredImage } from '../../src/columns/stored-image'
import { ImageColumn } from '../../src/images/image-column'
import { createTestDataSource } from './database'

/** A row with an image column in the default storage and a plain file column beside it. */
@Entity({ name: 'test_image_photo' })
export class TestPhoto {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text', unique: true })
  slug!: string

  @ImageColumn()
  image!: StoredImage | null

  @FileColumn()
  document!: StoredFile | null
}

/** Creates `test_image_photo`: the columns that @ImageColumn() and @FileColumn() promise. */
export class CreateTestPhoto1700000000000 implements MigrationInterface {
  name = 'CreateTestPhoto1700000000000'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "test_image_photo" (
        "id" SERIAL NOT NULL,
        "slug" text NOT NULL,
        "image_path" text,
        "image_name" text,
        "image_size" bigint,
        "image_content_type" text,
        "image_modified_at" TIMESTAMP WITH TIME ZONE,
        "image_sha256" character(64),
        "image_crc32" bigint,
        "image_width" integer,
        "image_height" integer,
        "image_format" text,
        "image_has_alpha" boolean,
        "image_thumbhash" text,
        "document_path" text,
        "document_name" text,
        "document_size" bigint,
        "document_content_type" text,
        "document_modified_at" TIMESTAMP WITH TIME ZONE,
        "document_sha256" character(64),
        "document_crc32" bigint,
        CONSTRAINT "UQ_test_image_photo_slug" UNIQUE ("slug"),
        CONSTRAINT "PK_test_image_photo_id" PRIMARY KEY ("id")
      )`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "test_image_photo"`)
  }
}

/**
 * A migrated DataSource for TestPhoto on a fresh database of the server at DATABASE_URL, with the
 * file column hook; `destroy()` drops the database.
 */
export function createImageDataSource(): Promise<DataSource> {
  return createTestDataSource({ entities: [TestPhoto], migrations: [CreateTestPhoto1700000000000] })
}

/** An opaque image of `width` × `height` in one colour. */
function canvas(width: number, height: number, alpha = 1): sharp.Sharp {
  return sharp({
    create: { width, height, channels: alpha < 1 ? 4 : 3, background: { r: 200, g: 80, b: 40, alpha } },
  })
}

/** Test images, drawn with sharp: nothing is read from disk or downloaded. */
export const images = {
  /** 600 × 400 stored pixels with EXIF orientation 6: displayed 400 × 600. */
  rotatedJpeg: () => canvas(600, 400).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
  /** A plain 300 × 200 JPEG. */
  jpeg: (width = 300, height = 200) => canvas(width, height).jpeg().toBuffer(),
  /** A 64 × 32 PNG with a half-transparent alpha channel. */
  alphaPng: () => canvas(64, 32, 0.5).png().toBuffer(),
  /** A 120 × 80 WebP. */
  webp: () => canvas(120, 80).webp().toBuffer(),
  /** A 40 × 30 AVIF. */
  avif: () => canvas(40, 30).avif().toBuffer(),
}

/**
 * A PNG whose header claims 20000 × 20000 pixels (400 megapixels, over sharp's limit) around a few
 * bytes of pixel data: what a decompression bomb looks like to the header reader.
 */
export function oversizedPng(): Buffer {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(20000, 0)
  header.writeUInt32BE(20000, 4)
  header[8] = 8 // bit depth
  header[9] = 2 // truecolour
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(Buffer.alloc(100))),
    pngChunk('IEND', Buffer.alloc(0)),
  ])
}

/**
 * A PNG whose header claims 16383 × 16383 pixels (sharp's pixel limit, so it is let through) cut
 * short inside its pixel data, as an upload that broke off: the header reads well (attachFile()
 * takes it), but decoding fails once the bytes run out, after inflating the `rows` rows there are.
 * Built by hand: sharp would take seconds to encode the whole image first.
 */
export function truncatedPng(rows = 256): Buffer {
  const side = 16383
  const header = Buffer.alloc(13)
  header.writeUInt32BE(side, 0)
  header.writeUInt32BE(side, 4)
  header[8] = 8 // bit depth
  header[9] = 2 // truecolour
  // Each row: filter type 0, then a grey pixel after another.
  const row = Buffer.alloc(1 + side * 3, 0x80)
  row[0] = 0
  const whole = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(Buffer.concat(Array.from({ length: rows }, () => row)), { level: 1 })),
  ])
  // Cut inside the IDAT chunk: no CRC, no IEND.
  return whole.subarray(0, whole.length - 8)
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/** CRC-32 as PNG computes it (node:zlib has crc32 only from Node 22). */
function crc32(bytes: Buffer): number {
  let crc = 0xffffffff
  for (const byte of bytes) {
    crc ^= byte
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

/** Text that no image decoder accepts. */
export const NOT_AN_IMAGE = Buffer.from('just some text, not an image\n')
