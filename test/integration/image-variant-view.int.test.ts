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
import { ImageVariantView, type ImageVariantViewOptions } from '../../src/images/image-variant-view'
import { storages } from '../../src/storage/registry'
import { assertDownload, binaryParser } from '../../src/testing'
import {
  createImageDataSource,
  images,
  NOT_AN_IMAGE,
  TestPhoto,
  truncatedPng,
} from '../helpers/image-entities'
import { recordingLogger } from '../helpers/recording-logger'
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

/** A 16383 × 16383 PNG cut short: its header reads well, its pixels do not decode. */
const TRUNCATED = truncatedPng()

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
  // attachFile() reads only the header: a PNG cut short gets through.
  const truncated = photos.create({ slug: 'truncated' })
  await attachFile(truncated, 'image', TRUNCATED, { name: 'huge.png' })
  await photos.save(truncated)
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

  it('a source that sharp cannot decode is logged as a warning, and a 422', async () => {
    const logger = recordingLogger()
    const res = await get(appFor({ logger }), '/photos/corrupt/variant?width=64&format=webp')
    expect(res.status).toBe(422)
    expect(logger.warnings).toEqual([
      expect.stringMatching(/^Cannot generate the 64px webp variant of "photos\/notes.txt"/),
    ])
    expect(logger.errors).toEqual([])
    expect(await storedUnder('variants')).toEqual([])
  })
})

describe('a source that does not decode: a 16383 × 16383 PNG cut short', () => {
  const url = '/photos/truncated/variant?width=64&format=webp'

  it('was saved by attachFile(), which reads only its header', async () => {
    const row = await photos.findOneByOrFail({ slug: 'truncated' })
    expect(row.image).toMatchObject({ width: 16383, height: 16383, format: 'png', size: TRUNCATED.length })
  })

  it('is a 422, and no variant is stored', async () => {
    const res = await get(appFor({ logger: recordingLogger() }), url)
    expect(res.status).toBe(422)
    expect((res.body as Buffer).toString()).toBe('Unprocessable Entity\n')
    expect(res.headers['cache-control']).toBe('no-store')
    expect(await storedUnder('variants')).toEqual([])
  })

  it('is decoded once: later requests are answered 422 without touching the storage', async () => {
    const app = appFor({ logger: recordingLogger() })
    await get(app, url)
    expect(storage.calls.open).toBe(1)
    storage.reset()
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await get(app, url)).status)
    expect(statuses).toEqual([422, 422, 422])
    expect(storage.calls).toEqual({ stat: 0, exists: 0, open: 0, save: 0, delete: 0 })
  })

  it('is remembered per variant: another width decodes the source once more', async () => {
    const app = appFor({ logger: recordingLogger() })
    await get(app, url)
    storage.reset()
    expect((await get(app, '/photos/truncated/variant?width=128&format=webp')).status).toBe(422)
    expect(storage.calls.open).toBe(1)
  })

  it('is logged once, on one line of standard error, with no stack trace and no storage root', async () => {
    const written: string[] = []
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk))
      return true
    })
    try {
      const app = appFor()
      for (let i = 0; i < 3; i++) await get(app, url)
    } finally {
      stderr.mockRestore()
    }
    expect(written).toEqual([
      expect.stringMatching(
        /^\[typeorm-downloadview\] Cannot generate the 64px webp variant of "[^"]+\.png" in .+: vipspng: libpng read error.*\n$/,
      ),
    ])
    expect(written[0]?.split('\n')).toHaveLength(2)
    expect(written[0]).not.toContain(root)
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

  describe('rememberFailures', () => {
    const url = '/photos/truncated/variant?width=64&format=webp'

    /** How many times the source is opened (so decoded) by `count` requests for `url`. */
    async function decodes(app: express.Express, count: number): Promise<number> {
      for (let i = 0; i < count; i++) expect((await get(app, url)).status).toBe(422)
      return storage.calls.open
    }

    it('off (false): every request decodes the source again', async () => {
      expect(await decodes(appFor({ logger: recordingLogger(), rememberFailures: false }), 3)).toBe(3)
    })

    it('on (the default): the source is decoded once', async () => {
      expect(await decodes(appFor({ logger: recordingLogger() }), 3)).toBe(1)
    })

    it('maxEntries: the oldest failure is forgotten first', async () => {
      const app = appFor({ logger: recordingLogger(), rememberFailures: { maxEntries: 1 } })
      await get(app, url)
      await get(app, '/photos/truncated/variant?width=128&format=webp')
      storage.reset()
      expect(await decodes(app, 2)).toBe(1)
    })

    it('ttl: a failure older than ttl seconds is tried again', async () => {
      const now = jest.spyOn(Date, 'now')
      try {
        const app = appFor({ logger: recordingLogger(), rememberFailures: { ttl: 60 } })
        now.mockReturnValue(1_000_000)
        await get(app, url)
        storage.reset()
        now.mockReturnValue(1_000_000 + 59_000)
        expect(await decodes(app, 1)).toBe(0)
        now.mockReturnValue(1_000_000 + 61_000)
        expect(await decodes(app, 2)).toBe(1)
      } finally {
        now.mockRestore()
      }
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
