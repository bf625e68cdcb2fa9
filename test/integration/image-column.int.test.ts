/** @ImageColumn on real Postgres: the real columns, the save hook, attachFile(), and refused non-images. */
import { createHash } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import type { DataSource, Repository } from 'typeorm'
import { attachFile } from '../../src/columns/attach-file'
import { StoredFile } from '../../src/columns/stored-file'
import { StoredImage } from '../../src/columns/stored-image'
import { FileColumnError } from '../../src/errors'
import { storages } from '../../src/storage/registry'
import { thumbHashAspectRatio } from '../../src/images/thumbhash'
import {
  createImageDataSource,
  images,
  NOT_AN_IMAGE,
  TestPhoto,
  truncatedPng,
} from '../helpers/image-entities'
import { CountingStorage, temporaryStorage } from '../helpers/storage'

let dataSource: DataSource
let photos: Repository<TestPhoto>
let storage: CountingStorage
let root: string
let removeMedia: () => Promise<void>

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const withPath = (path: string) => Object.assign(new StoredImage(), { path })

/** The image columns of the row `slug`, as Postgres holds them. */
async function imageColumns(slug: string): Promise<Record<string, unknown> | undefined> {
  const rows: Record<string, unknown>[] = await dataSource.query(
    `SELECT image_path, image_name, image_size, image_content_type, image_sha256, image_width, image_height,
            image_format, image_has_alpha
       FROM test_image_photo WHERE slug = $1`,
    [slug],
  )
  return rows[0]
}

/** Every file under the storage root, relative to it. */
async function storedFiles(): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true })
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name)
}

beforeAll(async () => {
  const media = await temporaryStorage()
  root = media.root
  removeMedia = media.remove
  storage = new CountingStorage(media.storage)
  storages.register('default', storage)
  dataSource = await createImageDataSource()
  photos = dataSource.getRepository(TestPhoto)
})

beforeEach(async () => {
  await dataSource.query('TRUNCATE test_image_photo RESTART IDENTITY')
  storage.reset()
})

afterAll(async () => {
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

describe('the migration', () => {
  it('creates exactly the schema the entity describes', async () => {
    const pending = await dataSource.driver.createSchemaBuilder().log()
    expect(pending.upQueries.map((query) => query.query)).toEqual([])
  })

  it('stores each image field in its own typed column', async () => {
    const columns: { column_name: string; data_type: string; is_nullable: string }[] = await dataSource.query(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_name = 'test_image_photo' AND column_name IN ('image_width', 'image_height', 'image_format', 'image_has_alpha')
        ORDER BY column_name`,
    )
    expect(columns).toEqual([
      { column_name: 'image_format', data_type: 'text', is_nullable: 'YES' },
      { column_name: 'image_has_alpha', data_type: 'boolean', is_nullable: 'YES' },
      { column_name: 'image_height', data_type: 'integer', is_nullable: 'YES' },
      { column_name: 'image_width', data_type: 'integer', is_nullable: 'YES' },
    ])
  })
})

describe('saving a row with an image path (the save hook)', () => {
  it('fills the image columns, with EXIF orientation 6 swapping width and height', async () => {
    const bytes = await images.rotatedJpeg()
    await storage.save('photos/rotated.jpg', bytes)
    await photos.save(photos.create({ slug: 'r', image: withPath('photos/rotated.jpg') }))
    expect(await imageColumns('r')).toEqual({
      image_path: 'photos/rotated.jpg',
      image_name: 'rotated.jpg',
      image_size: String(bytes.length),
      image_content_type: 'image/jpeg',
      image_sha256: sha256(bytes),
      image_width: 400,
      image_height: 600,
      image_format: 'jpeg',
      image_has_alpha: false,
    })
  })

  it('records the alpha channel of a PNG', async () => {
    await storage.save('photos/alpha.png', await images.alphaPng())
    await photos.save(photos.create({ slug: 'a', image: withPath('photos/alpha.png') }))
    expect(await imageColumns('a')).toMatchObject({
      image_width: 64,
      image_height: 32,
      image_has_alpha: true,
    })
  })

  it('takes the content type of a WebP from its bytes, not its name', async () => {
    await storage.save('photos/tiles.png', await images.webp())
    await photos.save(photos.create({ slug: 'w', image: withPath('photos/tiles.png') }))
    expect(await imageColumns('w')).toMatchObject({ image_format: 'webp', image_content_type: 'image/webp' })
  })

  it('records an AVIF as avif, image/avif', async () => {
    await storage.save('photos/small.avif', await images.avif())
    await photos.save(photos.create({ slug: 'v', image: withPath('photos/small.avif') }))
    expect(await imageColumns('v')).toMatchObject({ image_format: 'avif', image_content_type: 'image/avif' })
  })

  it('reads the row back as a StoredImage with typed fields', async () => {
    await storage.save('photos/alpha.png', await images.alphaPng())
    await photos.save(photos.create({ slug: 'a', image: withPath('photos/alpha.png') }))
    const row = await photos.findOneByOrFail({ slug: 'a' })
    expect(row.image).toBeInstanceOf(StoredImage)
    expect(row.image).toMatchObject({
      width: 64,
      height: 32,
      format: 'png',
      hasAlpha: true,
      size: expect.any(Number),
    })
  })

  it('refuses a text file, and writes no row', async () => {
    await storage.save('photos/x.txt', NOT_AN_IMAGE)
    const saving = photos.save(photos.create({ slug: 't', image: withPath('photos/x.txt') }))
    await expect(saving).rejects.toThrow(FileColumnError)
    await expect(photos.save(photos.create({ slug: 't', image: withPath('photos/x.txt') }))).rejects.toThrow(
      'Cannot save TestPhoto.image: "photos/x.txt" is not an image sharp can read',
    )
    expect(await photos.countBy({ slug: 't' })).toBe(0)
  })

  it('leaves the file column beside it a plain file column', async () => {
    await storage.save('docs/x.txt', NOT_AN_IMAGE)
    await photos.save(
      photos.create({
        slug: 'd',
        image: null,
        document: Object.assign(new StoredFile(), { path: 'docs/x.txt' }),
      }),
    )
    const [row] = await dataSource.query(
      `SELECT document_content_type FROM test_image_photo WHERE slug = 'd'`,
    )
    expect(row).toEqual({ document_content_type: 'text/plain' })
  })
})

describe('updating the path of an image', () => {
  it('describes the new image', async () => {
    await storage.save('photos/alpha.png', await images.alphaPng())
    await storage.save('photos/rotated.jpg', await images.rotatedJpeg())
    await photos.save(photos.create({ slug: 'u', image: withPath('photos/alpha.png') }))
    const loaded = await photos.findOneByOrFail({ slug: 'u' })
    if (loaded.image) loaded.image.path = 'photos/rotated.jpg'
    await photos.save(loaded)
    expect(await imageColumns('u')).toMatchObject({
      image_name: 'rotated.jpg',
      image_content_type: 'image/jpeg',
      image_width: 400,
      image_height: 600,
      image_format: 'jpeg',
      image_has_alpha: false,
    })
  })

  it('refuses a text file and keeps the row as it was', async () => {
    await storage.save('photos/alpha.png', await images.alphaPng())
    await storage.save('photos/x.txt', NOT_AN_IMAGE)
    await photos.save(photos.create({ slug: 'u', image: withPath('photos/alpha.png') }))
    const loaded = await photos.findOneByOrFail({ slug: 'u' })
    if (loaded.image) loaded.image.path = 'photos/x.txt'
    await expect(photos.save(loaded)).rejects.toThrow(FileColumnError)
    expect(await imageColumns('u')).toMatchObject({ image_path: 'photos/alpha.png', image_format: 'png' })
  })
})

describe('attachFile() on an image column', () => {
  it('writes once, and the save stores its metadata without reading the file', async () => {
    const bytes = await images.rotatedJpeg()
    const photo = photos.create({ slug: 'at' })
    await attachFile(photo, 'image', bytes, { name: 'holiday.jpg' })
    await photos.save(photo)
    expect(storage.calls).toMatchObject({ save: 1, open: 0, stat: 0 })
    expect(await imageColumns('at')).toMatchObject({
      image_path: expect.stringMatching(/^test_photo\/image\/[0-9a-f-]{36}\/holiday\.jpg$/),
      image_name: 'holiday.jpg',
      image_content_type: 'image/jpeg',
      image_sha256: sha256(bytes),
      image_width: 400,
      image_height: 600,
      image_format: 'jpeg',
      image_has_alpha: false,
    })
  })

  it('takes the content type from the bytes', async () => {
    const photo = photos.create({ slug: 'ct' })
    await attachFile(photo, 'image', await images.alphaPng(), { name: 'badge.gif', contentType: 'image/gif' })
    await photos.save(photo)
    expect(await imageColumns('ct')).toMatchObject({ image_content_type: 'image/png', image_has_alpha: true })
  })

  it('refuses a text file, deletes what it wrote, and leaves no row', async () => {
    const before = await storedFiles()
    const photo = photos.create({ slug: 'tx' })
    await expect(attachFile(photo, 'image', NOT_AN_IMAGE, { name: 'x.txt' })).rejects.toThrow(
      'Cannot save TestPhoto.image: "x.txt" is not an image sharp can read',
    )
    expect(storage.calls).toMatchObject({ save: 1, delete: 1 })
    expect(await storedFiles()).toEqual(before)
    expect(await photos.countBy({ slug: 'tx' })).toBe(0)
  })
})

describe('the thumbhash column', () => {
  const thumbhashOf = async (slug: string) =>
    (
      (await dataSource.query(`SELECT image_thumbhash FROM test_image_photo WHERE slug = $1`, [slug])) as {
        image_thumbhash: string | null
      }[]
    )[0]?.image_thumbhash

  it('is nullable text', async () => {
    const columns = await dataSource.query(
      `SELECT data_type, is_nullable FROM information_schema.columns
        WHERE table_name = 'test_image_photo' AND column_name = 'image_thumbhash'`,
    )
    expect(columns).toEqual([{ data_type: 'text', is_nullable: 'YES' }])
  })

  it('holds the base64 ThumbHash of an image saved with the hook', async () => {
    await storage.save('photos/rotated.jpg', await images.rotatedJpeg())
    await photos.save(photos.create({ slug: 'h', image: withPath('photos/rotated.jpg') }))
    const hash = await thumbhashOf('h')
    expect(hash).toMatch(/^[A-Za-z0-9+/]{20,}=*$/)
    // As displayed: portrait.
    expect(thumbHashAspectRatio(Buffer.from(hash as string, 'base64'))).toBeLessThan(1)
  })

  it('holds the same ThumbHash for the same bytes attached with attachFile()', async () => {
    await storage.save('photos/rotated.jpg', await images.rotatedJpeg())
    await photos.save(photos.create({ slug: 'h', image: withPath('photos/rotated.jpg') }))
    const photo = photos.create({ slug: 'at' })
    await attachFile(photo, 'image', await images.rotatedJpeg(), { name: 'holiday.jpg' })
    await photos.save(photo)
    expect(await thumbhashOf('at')).toBe(await thumbhashOf('h'))
  })

  it("is '' for an image whose pixels do not decode (a PNG cut short), which is saved all the same", async () => {
    const photo = photos.create({ slug: 'cut' })
    await attachFile(photo, 'image', truncatedPng(), { name: 'cut.png' })
    await photos.save(photo)
    expect(await thumbhashOf('cut')).toBe('')
    expect(await imageColumns('cut')).toMatchObject({ image_width: 16383, image_format: 'png' })
  })

  it('is filled by the next save of a row that predates it (NULL), from one read of the file', async () => {
    await storage.save('photos/alpha.png', await images.alphaPng())
    await photos.save(photos.create({ slug: 'old', image: withPath('photos/alpha.png') }))
    const made = await thumbhashOf('old')
    await dataSource.query(`UPDATE test_image_photo SET image_thumbhash = NULL WHERE slug = 'old'`)
    const loaded = await photos.findOneByOrFail({ slug: 'old' })
    storage.reset()
    loaded.slug = 'old-renamed'
    await photos.save(loaded)
    expect(storage.calls.open).toBe(1)
    expect(await thumbhashOf('old-renamed')).toBe(made)
  })
})
