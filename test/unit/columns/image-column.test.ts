/** @module @ImageColumn: recorded columns, and image metadata filled by the save hook and attachFile(). */
import { createHash } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import {
  type ColumnOptions,
  Entity,
  getMetadataArgsStorage,
  type InsertEvent,
  type ObjectLiteral,
  PrimaryGeneratedColumn,
} from 'typeorm'
import { attachFile } from '../../../src/columns/attach-file'
import { FileColumn, getFileColumn } from '../../../src/columns/file-column'
import { FileColumnSubscriber, fillFileColumns } from '../../../src/columns/file-column-subscriber'
import { StoredFile } from '../../../src/columns/stored-file'
import { StoredImage } from '../../../src/columns/stored-image'
import { ConfigurationError, FileColumnError, FileNotFoundError } from '../../../src/errors'
import { ImageColumn } from '../../../src/images/image-column'
import { thumbHashAspectRatio } from '../../../src/images/thumbhash'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { storages } from '../../../src/storage/registry'
import type { SaveSource, StorageStat } from '../../../src/storage/storage'
import { images, NOT_AN_IMAGE, oversizedPng } from '../../helpers/image-entities'
import { CountingStorage } from '../../helpers/storage'
import { rejectionOf } from '../../helpers/streams'

@Entity()
class Photo {
  @PrimaryGeneratedColumn() id!: number
  @ImageColumn() image!: StoredImage | null
  @ImageColumn({ prefix: 'cover_', uploadTo: 'covers', nullable: false }) coverImage!: StoredImage
  @FileColumn() file!: StoredFile | null
}

/** A counting storage that also remembers which keys were saved and deleted. */
class RecordingStorage extends CountingStorage {
  readonly saved: string[] = []
  readonly deleted: string[] = []

  override save(key: string, source: SaveSource): Promise<StorageStat> {
    this.saved.push(key)
    return super.save(key, source)
  }

  override delete(key: string): Promise<void> {
    this.deleted.push(key)
    return super.delete(key)
  }
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const withPath = (path: string, fields: Partial<StoredImage> = {}) =>
  Object.assign(new StoredImage(), { path, ...fields })

/** The options of each real column behind `entity[property]`, by field. */
function columnOptions(entity: Function, property: string): Record<string, ColumnOptions> {
  const embedded = getMetadataArgsStorage().embeddeds.find(
    (args) => args.target === entity && args.propertyName === property,
  )
  if (!embedded) throw new Error(`No embedded column for ${entity.name}.${property}`)
  const target = embedded.type()
  return Object.fromEntries(
    getMetadataArgsStorage()
      .columns.filter((args) => args.target === target)
      .map((args) => [args.propertyName, args.options]),
  )
}

function photoWith(value: StoredImage | null): Photo {
  const photo = new Photo()
  photo.image = value
  return photo
}

let memory: MemoryStorage
let storage: RecordingStorage

beforeEach(async () => {
  memory = new MemoryStorage({ name: 'Media' })
  storage = new RecordingStorage(memory)
  storages.register('default', storage)
  await memory.save('photos/rotated.jpg', await images.rotatedJpeg())
  await memory.save('photos/alpha.png', await images.alphaPng())
  await memory.save('photos/tiles.webp', await images.webp())
  await memory.save('photos/small.avif', await images.avif())
  await memory.save('photos/png-named.jpg', await images.alphaPng())
  await memory.save('photos/x.txt', NOT_AN_IMAGE)
  await memory.save('photos/huge.png', oversizedPng())
})

afterEach(() => {
  storages.clear()
})

describe('@ImageColumn()', () => {
  describe('with no options', () => {
    it('maps the file columns and the five image columns, each with its type', () => {
      const columns = Object.fromEntries(
        Object.entries(columnOptions(Photo, 'image')).map(([field, options]) => [
          field,
          [options.name, options.type, options.nullable],
        ]),
      )
      expect(columns).toEqual({
        path: ['image_path', 'text', true],
        name: ['image_name', 'text', true],
        size: ['image_size', 'bigint', true],
        contentType: ['image_content_type', 'text', true],
        modifiedAt: ['image_modified_at', 'timestamptz', true],
        sha256: ['image_sha256', 'char', true],
        crc32: ['image_crc32', 'bigint', true],
        width: ['image_width', 'int', true],
        height: ['image_height', 'int', true],
        format: ['image_format', 'text', true],
        hasAlpha: ['image_has_alpha', 'boolean', true],
        thumbhash: ['image_thumbhash', 'text', true],
      })
    })

    it('records an image column with every column name', () => {
      expect(getFileColumn(Photo, 'image')).toMatchObject({
        image: true,
        storage: 'default',
        prefix: 'image_',
        uploadTo: 'photo/image',
        columns: {
          path: 'image_path',
          width: 'image_width',
          height: 'image_height',
          format: 'image_format',
          hasAlpha: 'image_has_alpha',
          thumbhash: 'image_thumbhash',
        },
      })
    })

    it('embeds a StoredImage', () => {
      const embedded = getMetadataArgsStorage().embeddeds.find(
        (args) => args.target === Photo && args.propertyName === 'image',
      )
      const type = embedded?.type() as Function
      expect(type.prototype).toBeInstanceOf(StoredImage)
      expect(type.name).toBe('PhotoImageImage')
    })
  })

  describe('with prefix, uploadTo and nullable', () => {
    it('names the image columns with the prefix', () => {
      const names = Object.values(columnOptions(Photo, 'coverImage')).map((options) => options.name)
      expect(names).toEqual(
        expect.arrayContaining([
          'cover_width',
          'cover_height',
          'cover_format',
          'cover_has_alpha',
          'cover_thumbhash',
        ]),
      )
    })

    it('keeps the image columns nullable when the path is not', () => {
      const options = columnOptions(Photo, 'coverImage')
      expect([options.path?.nullable, options.width?.nullable, options.hasAlpha?.nullable]).toEqual([
        false,
        true,
        true,
      ])
    })

    it('records the upload prefix', () => {
      expect(getFileColumn(Photo, 'coverImage').uploadTo).toBe('covers')
    })
  })

  describe('beside a @FileColumn()', () => {
    it('leaves the file column a plain one', () => {
      const file = getFileColumn(Photo, 'file')
      expect(file.image).toBe(false)
      expect(Object.keys(file.columns)).not.toContain('width')
      expect(Object.keys(columnOptions(Photo, 'file'))).not.toContain('width')
    })
  })

  describe('with bad options', () => {
    it('throws a ConfigurationError that names @ImageColumn', () => {
      expect(() => ImageColumn({ prefix: 'Bad-Prefix' })).toThrow(
        new ConfigurationError(
          '@ImageColumn: option "prefix" must be lower-case letters, digits and underscores',
        ),
      )
    })

    it('refuses unknown options', () => {
      expect(() => ImageColumn({ widths: [64] } as never)).toThrow(
        new ConfigurationError('@ImageColumn: unknown option "widths"'),
      )
    })
  })
})

describe('the save hook on an image column', () => {
  describe('with a JPEG whose EXIF orientation is 6', () => {
    it('fills width and height as displayed (swapped), format and alpha', async () => {
      const photo = photoWith(withPath('photos/rotated.jpg'))
      await fillFileColumns(photo, undefined)
      expect(photo.image).toMatchObject({
        width: 400,
        height: 600,
        format: 'jpeg',
        hasAlpha: false,
        contentType: 'image/jpeg',
        name: 'rotated.jpg',
        sha256: sha256(await images.rotatedJpeg()),
      })
    })

    it('reads the file once', async () => {
      await fillFileColumns(photoWith(withPath('photos/rotated.jpg')), undefined)
      expect(storage.calls).toMatchObject({ stat: 1, open: 1 })
    })

    it('fills the ThumbHash of the image as displayed (portrait), from the same read', async () => {
      const photo = photoWith(withPath('photos/rotated.jpg'))
      await fillFileColumns(photo, undefined)
      const hash = Buffer.from(photo.image?.thumbhash ?? '', 'base64')
      expect(hash.length).toBeGreaterThan(5)
      expect(thumbHashAspectRatio(hash)).toBeLessThan(1)
    })
  })

  describe('with a PNG with transparency', () => {
    it('records the alpha channel', async () => {
      const photo = photoWith(withPath('photos/alpha.png'))
      await fillFileColumns(photo, undefined)
      expect(photo.image).toMatchObject({ width: 64, height: 32, format: 'png', hasAlpha: true })
    })
  })

  describe('with a WebP', () => {
    it('records webp and image/webp', async () => {
      const photo = photoWith(withPath('photos/tiles.webp'))
      await fillFileColumns(photo, undefined)
      expect(photo.image).toMatchObject({ width: 120, height: 80, format: 'webp', contentType: 'image/webp' })
    })
  })

  describe('with an AVIF', () => {
    it('records avif and image/avif', async () => {
      const photo = photoWith(withPath('photos/small.avif'))
      await fillFileColumns(photo, undefined)
      expect(photo.image).toMatchObject({ width: 40, height: 30, format: 'avif', contentType: 'image/avif' })
    })
  })

  describe('with a PNG named .jpg', () => {
    it('takes the content type from the bytes', async () => {
      const photo = photoWith(withPath('photos/png-named.jpg'))
      await fillFileColumns(photo, undefined)
      expect(photo.image).toMatchObject({ format: 'png', contentType: 'image/png' })
    })
  })

  describe('with an explicit content type that the bytes contradict', () => {
    it('takes the content type from the bytes', async () => {
      const photo = photoWith(withPath('photos/alpha.png', { contentType: 'text/html' }))
      await fillFileColumns(photo, undefined)
      expect(photo.image?.contentType).toBe('image/png')
    })
  })

  describe('with a plain StoredFile value', () => {
    it('fills the image fields on it too', async () => {
      const photo = new Photo()
      photo.image = Object.assign(new StoredFile(), { path: 'photos/alpha.png' }) as StoredImage
      await fillFileColumns(photo, undefined)
      expect(photo.image).toMatchObject({ width: 64, height: 32, format: 'png', hasAlpha: true })
    })
  })

  describe('with a text file', () => {
    it('refuses the row with a FileColumnError that says why', async () => {
      const error = await rejectionOf(fillFileColumns(photoWith(withPath('photos/x.txt')), undefined))
      expect(error).toBeInstanceOf(FileColumnError)
      expect((error as Error).message).toBe(
        'Cannot save Photo.image: "photos/x.txt" is not an image sharp can read',
      )
    })

    it('refuses it from the subscriber, so the transaction rolls back', async () => {
      const entity = photoWith(withPath('photos/x.txt'))
      const event = { entity } as unknown as InsertEvent<ObjectLiteral>
      expect(await rejectionOf(new FileColumnSubscriber().beforeInsert(event))).toBeInstanceOf(
        FileColumnError,
      )
    })
  })

  describe('with an image over the pixel limit', () => {
    it('refuses the row', async () => {
      const error = await rejectionOf(fillFileColumns(photoWith(withPath('photos/huge.png')), undefined))
      expect((error as Error).message).toMatch(/"photos\/huge.png" is larger than the 268402689 pixels/)
    })
  })

  describe('with a missing file', () => {
    it('refuses the row as for any file column', async () => {
      const error = await rejectionOf(fillFileColumns(photoWith(withPath('photos/gone.jpg')), undefined))
      expect((error as Error).message).toBe(
        'Cannot save Photo.image: there is no file at "photos/gone.jpg" in Counting(Media)',
      )
      expect((error as Error).cause).toBeInstanceOf(FileNotFoundError)
    })
  })

  describe('when the path did not change', () => {
    const complete = async () => {
      const value = withPath('photos/alpha.png')
      await fillFileColumns(photoWith(value), undefined)
      storage.reset()
      return value
    }

    it('reads nothing when every field is set', async () => {
      const value = await complete()
      await fillFileColumns(photoWith(value), { image: { ...value } })
      expect(storage.calls).toMatchObject({ stat: 0, open: 0 })
    })

    it("reads nothing when thumbhash is '' (the pixels did not decode: there is none to make)", async () => {
      const value = await complete()
      value.thumbhash = ''
      await fillFileColumns(photoWith(value), { image: { ...value } })
      expect(storage.calls).toMatchObject({ stat: 0, open: 0 })
    })

    it.each(['width', 'height', 'format', 'hasAlpha', 'thumbhash'] as const)(
      'describes the image again when %s is missing (a backfill)',
      async (field) => {
        const value = await complete()
        const thumbhash = value.thumbhash
        value[field] = null
        await fillFileColumns(photoWith(value), { image: { ...value } })
        expect(storage.calls.open).toBe(1)
        expect(value).toMatchObject({ width: 64, height: 32, format: 'png', hasAlpha: true, thumbhash })
      },
    )
  })

  describe('on a plain file column', () => {
    it('reads no image metadata and accepts any file', async () => {
      const photo = new Photo()
      photo.file = Object.assign(new StoredFile(), { path: 'photos/x.txt' })
      await fillFileColumns(photo, undefined)
      expect(photo.file).toMatchObject({ contentType: 'text/plain' })
      expect(photo.file).not.toHaveProperty('width')
    })
  })
})

describe('attachFile() on an image column', () => {
  describe('with a JPEG whose EXIF orientation is 6', () => {
    let value: StoredImage

    beforeEach(async () => {
      storage.reset()
      value = (await attachFile(photoWith(null), 'image', await images.rotatedJpeg(), {
        name: 'rotated.jpg',
      })) as StoredImage
    })

    it('returns a StoredImage with the image metadata', () => {
      expect(value).toBeInstanceOf(StoredImage)
      expect(value).toMatchObject({ width: 400, height: 600, format: 'jpeg', hasAlpha: false })
    })

    it('fills the ThumbHash from the bytes it wrote', async () => {
      const hooked = photoWith(withPath('photos/rotated.jpg'))
      await fillFileColumns(hooked, undefined)
      expect(value.thumbhash).toMatch(/^[A-Za-z0-9+/]{20,}=*$/)
      // The same bytes give the same hash, whichever way they were read.
      expect(value.thumbhash).toBe(hooked.image?.thumbhash)
    })

    it('writes once and reads nothing back', () => {
      expect(storage.calls).toMatchObject({ save: 1, open: 0, stat: 0 })
    })

    it('is trusted by the save hook, which reads nothing', async () => {
      storage.reset()
      const photo = photoWith(value)
      await fillFileColumns(photo, undefined)
      expect(storage.calls).toMatchObject({ stat: 0, open: 0 })
    })
  })

  describe('with a stream in small chunks', () => {
    it('reads the metadata from the bytes as they are written', async () => {
      const bytes = await images.alphaPng()
      const chunks = Array.from({ length: Math.ceil(bytes.length / 50) }, (_, i) =>
        bytes.subarray(i * 50, (i + 1) * 50),
      )
      const value = (await attachFile(photoWith(null), 'image', Readable.from(chunks), {
        name: 'a.png',
      })) as StoredImage
      expect(value).toMatchObject({ width: 64, height: 32, hasAlpha: true, sha256: sha256(bytes) })
    })
  })

  describe('with a name and a content type that the bytes contradict', () => {
    it('takes the content type from the bytes', async () => {
      const value = await attachFile(photoWith(null), 'image', await images.webp(), {
        name: 'tiles.png',
        contentType: 'text/html',
      })
      expect(value.contentType).toBe('image/webp')
    })
  })

  describe('with an AVIF', () => {
    it('records avif and image/avif', async () => {
      const value = (await attachFile(photoWith(null), 'image', await images.avif(), {
        name: 'a.bin',
      })) as StoredImage
      expect(value).toMatchObject({ format: 'avif', contentType: 'image/avif' })
    })
  })

  describe('with a text file', () => {
    it('throws a FileColumnError that names the file', async () => {
      const error = await rejectionOf(attachFile(photoWith(null), 'image', NOT_AN_IMAGE, { name: 'x.txt' }))
      expect(error).toBeInstanceOf(FileColumnError)
      expect((error as Error).message).toBe('Cannot save Photo.image: "x.txt" is not an image sharp can read')
    })

    it('deletes what it wrote', async () => {
      await rejectionOf(attachFile(photoWith(null), 'image', NOT_AN_IMAGE, { name: 'x.txt' }))
      expect(storage.deleted).toEqual(storage.saved)
      expect(await memory.exists(storage.saved[0] as string)).toBe(false)
    })

    it('leaves the entity unchanged', async () => {
      const photo = photoWith(null)
      await rejectionOf(attachFile(photo, 'image', NOT_AN_IMAGE, { name: 'x.txt' }))
      expect(photo.image).toBeNull()
    })
  })

  describe('when the source fails while it is written', () => {
    it('rejects with its error and deletes only the new key it was writing', async () => {
      const failing = new Readable({
        read() {
          this.destroy(new Error('upload cut'))
        },
      })
      expect(await rejectionOf(attachFile(photoWith(null), 'image', failing))).toEqual(
        new Error('upload cut'),
      )
      // Whatever part of it a storage kept is taken back (attach-file-cleanup.test.ts).
      expect(storage.deleted).toEqual(storage.saved)
      expect(storage.saved).toHaveLength(1)
    })
  })

  describe('with a local file, when the storage refuses the write before reading it', () => {
    let directory: string

    beforeEach(async () => {
      directory = await mkdtemp(path.join(os.tmpdir(), 'downloadview-attach-'))
      await writeFile(path.join(directory, 'photo.jpg'), await images.jpeg())
    })

    afterEach(async () => {
      await rm(directory, { recursive: true, force: true })
    })

    it('leaves no file descriptor open', async () => {
      const refusing = Object.assign(new MemoryStorage({ name: 'Refusing' }), {
        save: async () => {
          throw new Error('cannot create the directory')
        },
      })
      storages.register('default', refusing)
      const descriptors = () => readdirSync('/proc/self/fd').length
      const before = descriptors()
      for (let i = 0; i < 20; i++) {
        const error = await rejectionOf(
          attachFile(photoWith(null), 'image', { path: path.join(directory, 'photo.jpg') }),
        )
        expect((error as Error).message).toBe('cannot create the directory')
      }
      // Files are opened on the thread pool: give any that were to open the time to do so.
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(descriptors()).toBeLessThan(before + 20)
    })
  })

  describe('on a plain file column', () => {
    it('returns a StoredFile and accepts text', async () => {
      const photo = new Photo()
      const value = await attachFile(photo, 'file', NOT_AN_IMAGE, { name: 'x.txt' })
      expect(value).not.toBeInstanceOf(StoredImage)
      expect(value.contentType).toBe('text/plain')
    })
  })
})
