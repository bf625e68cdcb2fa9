/** ImageVariantView over HTTP on real Postgres: generation, caching, conditional and range answers, refusals. */
import { createHash } from 'node:crypto'
import { readdir, rm } from 'node:fs/promises'
import express from 'express'
import sharp from 'sharp'
import request from 'supertest'
import type { DataSource, Repository } from 'typeorm'
import { attachFile } from '../../src/columns/attach-file'
import { StoredImage } from '../../src/columns/stored-image'
import { downloadErrorHandler, toHandler } from '../../src/express/to-handler'
import type { Logger } from '../../src/responder/send'
import { storages } from '../../src/storage/registry'
import { assertDownload, binaryParser } from '../../src/testing'
import { ImageVariantView, type ImageVariantViewOptions } from '../../src/images/image-variant-view'
import { createImageDataSource, images, NOT_AN_IMAGE, TestPhoto } from '../helpers/image-entities'
import { CountingStorage, temporaryStorage } from '../helpers/storage'

let dataSource: DataSource
let photos: Repository<TestPhoto>
let storage: CountingStorage
let root: string
let removeMedia: () => Promise<void>
let rotatedSha: string
/** Spies on both ways a query reaches Postgres: DataSource.query(), and the pg pool the lookup uses. */
let querySpies: jest.SpyInstance[]
const queryCount = () => querySpies.reduce((sum, spy) => sum + spy.mock.calls.length, 0)

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** A logger that keeps what it is given. */
function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = []
  return { errors, error: (message) => errors.push(message) }
}

function appFor(options: Partial<ImageVariantViewOptions<TestPhoto>> = {}) {
  const view = new ImageVariantView({
    dataSource,
    entity: TestPhoto,
    lookup: 'slug',
    file: 'image',
    ...options,
  })
  const app = express()
  app.all('/photos/:slug/variant', toHandler(view))
  app.use(downloadErrorHandler())
  return app
}

const get = (app: express.Express, url: string) => request(app).get(url).buffer(true).parse(binaryParser)

/** Every file under `folder` of the storage root, relative to the root, sorted. */
async function storedUnder(folder: string): Promise<string[]> {
  const entries = await readdir(`${root}/${folder}`, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => `${entry.parentPath.slice(root.length + 1)}/${entry.name}`)
    .sort()
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
  await rm(root, { recursive: true, force: true })
  // Saved with the hook: a path, described on save.
  const rotated = await images.rotatedJpeg()
  rotatedSha = sha256(rotated)
  await storage.save('photos/rotated.jpg', rotated)
  await photos.save(
    photos.create({
      slug: 'rotated',
      image: Object.assign(new StoredImage(), { path: 'photos/rotated.jpg' }),
    }),
  )
  // Saved with attachFile().
  const badge = photos.create({ slug: 'badge' })
  await attachFile(badge, 'image', await images.alphaPng(), { name: 'badge.png' })
  await photos.save(badge)
  // Rows the hook would not let through, written directly.
  await storage.save('photos/notes.txt', NOT_AN_IMAGE)
  await dataSource.query(
    `INSERT INTO test_image_photo (slug, image_path, image_name, image_sha256) VALUES
       ('corrupt', 'photos/notes.txt', 'notes.txt', $1),
       ('unhashed', 'photos/rotated.jpg', 'rotated.jpg', NULL),
       ('missing', 'photos/gone.jpg', 'gone.jpg', $2),
       ('empty', NULL, NULL, NULL)`,
    [sha256(NOT_AN_IMAGE), sha256(Buffer.from('gone'))],
  )
  storage.reset()
  const pool = (dataSource.driver as unknown as { master: { query: () => unknown } }).master
  querySpies = [jest.spyOn(dataSource, 'query'), jest.spyOn(pool, 'query')]
})

afterEach(() => {
  for (const spy of querySpies) spy.mockRestore()
})

afterAll(async () => {
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

describe('GET a variant for the first time', () => {
  it('generates it with EXIF orientation applied, and serves it', async () => {
    const res = await get(appFor(), '/photos/rotated/variant?width=256&format=webp')
    assertDownload(res, {
      status: 200,
      contentType: 'image/webp',
      basename: 'rotated-256.webp',
      attachment: true,
    })
    const meta = await sharp(res.body as Buffer).metadata()
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 256, 384])
  })

  it('stores it under variants/<sha256>/<width>.<format>', async () => {
    await get(appFor(), '/photos/rotated/variant?width=256&format=webp')
    expect(await storedUnder('variants')).toEqual([`variants/${rotatedSha}/256.webp`])
  })

  it.each([
    ['avif', 'heif', 'rotated-128.avif', 'image/avif'],
    ['jpeg', 'jpeg', 'rotated-128.jpg', 'image/jpeg'],
    ['png', 'png', 'rotated-128.png', 'image/png'],
  ])('encodes %s', async (format, sharpFormat, basename, contentType) => {
    const res = await get(appFor(), `/photos/rotated/variant?width=128&format=${format}`)
    assertDownload(res, { status: 200, contentType, basename })
    const meta = await sharp(res.body as Buffer).metadata()
    expect([meta.format, meta.width]).toEqual([sharpFormat, 128])
  })

  it('serves a variant of an image saved with attachFile(), keeping its alpha in PNG', async () => {
    const res = await get(appFor(), '/photos/badge/variant?width=64&format=png')
    assertDownload(res, { status: 200, contentType: 'image/png', basename: 'badge-64.png' })
    expect(await sharp(res.body as Buffer).metadata()).toMatchObject({ width: 64, hasAlpha: true })
  })

  it('never enlarges a smaller source', async () => {
    const res = await get(appFor(), '/photos/badge/variant?width=2048&format=webp')
    expect((await sharp(res.body as Buffer).metadata()).width).toBe(64)
  })

  it('queries the database once', async () => {
    await get(appFor(), '/photos/rotated/variant?width=64&format=webp')
    expect(queryCount()).toBe(1)
  })
})

describe('GET a variant that was generated before', () => {
  it('finds it with one stat and generates nothing', async () => {
    const app = appFor()
    const first = await get(app, '/photos/rotated/variant?width=256&format=webp')
    storage.reset()
    const second = await get(app, '/photos/rotated/variant?width=256&format=webp')
    expect(storage.calls).toMatchObject({ stat: 1, save: 0, open: 1 })
    expect((second.body as Buffer).equals(first.body as Buffer)).toBe(true)
  })

  it('answers 304 to its ETag without opening it', async () => {
    const app = appFor()
    const first = await get(app, '/photos/rotated/variant?width=256&format=webp')
    storage.reset()
    const res = await get(app, '/photos/rotated/variant?width=256&format=webp').set(
      'If-None-Match',
      first.headers.etag as string,
    )
    expect(res.status).toBe(304)
    expect(storage.calls).toMatchObject({ stat: 1, open: 0, save: 0 })
  })

  it('answers a Range request with 206 and those bytes', async () => {
    const app = appFor()
    const whole = (await get(app, '/photos/rotated/variant?width=256&format=webp')).body as Buffer
    const res = await get(app, '/photos/rotated/variant?width=256&format=webp').set('Range', 'bytes=0-9')
    expect(res.status).toBe(206)
    expect(res.headers['content-range']).toBe(`bytes 0-9/${whole.length}`)
    expect((res.body as Buffer).equals(whole.subarray(0, 10))).toBe(true)
  })

  it('answers HEAD with the headers of GET and no body', async () => {
    const app = appFor()
    const whole = (await get(app, '/photos/rotated/variant?width=256&format=webp')).body as Buffer
    storage.reset()
    const res = await request(app).head('/photos/rotated/variant?width=256&format=webp')
    expect(res.status).toBe(200)
    expect(res.headers['content-length']).toBe(String(whole.length))
    expect(res.headers['content-type']).toBe('image/webp')
    expect(storage.calls).toMatchObject({ stat: 1, open: 0 })
  })
})

describe('HEAD a variant for the first time', () => {
  it('generates it, for its length', async () => {
    const res = await request(appFor()).head('/photos/rotated/variant?width=64&format=png')
    expect(res.status).toBe(200)
    expect(Number(res.headers['content-length'])).toBeGreaterThan(0)
    expect(storage.calls.save).toBe(1)
  })
})

describe('concurrent first requests for one variant', () => {
  it('generate it once and all get it', async () => {
    const app = appFor()
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => get(app, '/photos/rotated/variant?width=512&format=avif')),
    )
    expect(responses.map((res) => res.status)).toEqual(Array(8).fill(200))
    expect(storage.calls.save).toBe(1)
    expect(new Set(responses.map((res) => (res.body as Buffer).toString('base64'))).size).toBe(1)
  })
})

describe('a width or format outside the lists', () => {
  it.each([
    '/photos/rotated/variant?width=300&format=webp',
    '/photos/rotated/variant?width=256&format=gif',
    '/photos/rotated/variant?width=256',
    '/photos/rotated/variant?format=webp',
    '/photos/rotated/variant?width=256&width=512&format=webp',
    '/photos/rotated/variant?width=0256&format=webp',
  ])('%s is a 400, before any query or generation', async (url) => {
    const res = await get(appFor(), url)
    expect(res.status).toBe(400)
    expect(queryCount()).toBe(0)
    expect(storage.calls).toEqual({ stat: 0, exists: 0, open: 0, save: 0, delete: 0 })
  })
})

describe('what cannot be served', () => {
  it.each([
    ['no row', 'nobody'],
    ['an empty column', 'empty'],
    ['a row without a checksum', 'unhashed'],
    ['a source missing from the storage', 'missing'],
  ])('%s is a 404', async (_, slug) => {
    const res = await get(appFor(), `/photos/${slug}/variant?width=64&format=webp`)
    expect(res.status).toBe(404)
    expect(storage.calls.save).toBe(0)
  })

  it('a source that sharp cannot decode is logged, and a 500', async () => {
    const logger = recordingLogger()
    const res = await get(appFor({ logger }), '/photos/corrupt/variant?width=64&format=webp')
    expect(res.status).toBe(500)
    expect(logger.errors).toEqual([
      expect.stringMatching(/^Cannot generate the 64px webp variant of "photos\/notes.txt"/),
    ])
    expect(await storedUnder('variants')).toEqual([])
  })
})

describe('options', () => {
  describe('widths', () => {
    it('on: serves a width from the list', async () => {
      const res = await get(appFor({ widths: [100] }), '/photos/rotated/variant?width=100&format=webp')
      expect((await sharp(res.body as Buffer).metadata()).width).toBe(100)
    })

    it('on: refuses a default width that is not in the list', async () => {
      expect(
        (await get(appFor({ widths: [100] }), '/photos/rotated/variant?width=256&format=webp')).status,
      ).toBe(400)
    })

    it('off: serves a default width', async () => {
      expect((await get(appFor(), '/photos/rotated/variant?width=1024&format=webp')).status).toBe(200)
    })
  })

  describe('formats', () => {
    it('on: refuses a format that is not in the list', async () => {
      expect(
        (await get(appFor({ formats: ['webp'] }), '/photos/rotated/variant?width=64&format=png')).status,
      ).toBe(400)
    })

    it('on: serves a format from the list', async () => {
      expect(
        (await get(appFor({ formats: ['webp'] }), '/photos/rotated/variant?width=64&format=webp')).status,
      ).toBe(200)
    })

    it('off: serves every format', async () => {
      expect((await get(appFor(), '/photos/rotated/variant?width=64&format=png')).status).toBe(200)
    })
  })

  describe('quality', () => {
    it('on: encodes with it, and keeps it in the key', async () => {
      const low = await get(appFor({ quality: 5 }), '/photos/rotated/variant?width=512&format=jpeg')
      const plain = await get(appFor(), '/photos/rotated/variant?width=512&format=jpeg')
      expect((low.body as Buffer).length).toBeLessThan((plain.body as Buffer).length)
      expect(await storedUnder('variants')).toEqual([
        `variants/${rotatedSha}/512-q5.jpeg`,
        `variants/${rotatedSha}/512.jpeg`,
      ])
    })

    it('off: keys the variant without one', async () => {
      await get(appFor(), '/photos/rotated/variant?width=64&format=webp')
      expect(await storedUnder('variants')).toEqual([`variants/${rotatedSha}/64.webp`])
    })
  })

  describe('variantPrefix', () => {
    it('on: stores variants under it', async () => {
      await get(appFor({ variantPrefix: 'cache/images' }), '/photos/rotated/variant?width=64&format=webp')
      expect(await storedUnder('cache')).toEqual([`cache/images/${rotatedSha}/64.webp`])
      expect(await storedUnder('variants')).toEqual([])
    })

    it("off: stores them under 'variants'", async () => {
      await get(appFor(), '/photos/rotated/variant?width=64&format=webp')
      expect(await storedUnder('variants')).toHaveLength(1)
    })
  })

  describe('the responder options of every view', () => {
    it('attachment: false serves the variant inline', async () => {
      const res = await get(appFor({ attachment: false }), '/photos/rotated/variant?width=64&format=webp')
      assertDownload(res, { attachment: false, basename: 'rotated-64.webp' })
    })
  })
})
