/**
 * ImageVariantView with `format=auto` over HTTP on real Postgres and real sharp: the format chosen
 * from each client's Accept, `Vary: Accept`, an ETag per format, 304 per format, and hand-offs.
 */
import { createHash } from 'node:crypto'
import { readdir, rm } from 'node:fs/promises'
import express from 'express'
import sharp from 'sharp'
import request from 'supertest'
import type { DataSource, Repository } from 'typeorm'
import { attachFile } from '../../src/columns/attach-file'
import { StoredImage } from '../../src/columns/stored-image'
import { downloadErrorHandler, toHandler } from '../../src/express/to-handler'
import { redirectToBucket } from '../../src/handoff/bucket-redirect'
import { xAccelRedirect } from '../../src/handoff/nginx'
import { ImageVariantView, type ImageVariantViewOptions } from '../../src/images/image-variant-view'
import { imageFormat } from '../../src/images/metadata'
import { storages } from '../../src/storage/registry'
import type { SignedUrlOptions } from '../../src/storage/storage'
import { assertDownload, binaryParser } from '../../src/testing'
import { createImageDataSource, images, TestPhoto } from '../helpers/image-entities'
import { CountingStorage, temporaryStorage } from '../helpers/storage'

/** The Accept headers clients send for an image. */
const ACCEPT = {
  chrome: 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8',
  safari17:
    'image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5',
  safari15: 'image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5',
  curl: '*/*',
}
const AUTO = '/photos/rotated/variant?width=256&format=auto'

let dataSource: DataSource
let photos: Repository<TestPhoto>
let storage: CountingStorage
let root: string
let removeMedia: () => Promise<void>
let rotatedSha: string

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

const get = (app: express.Express, url: string, accept?: string) => {
  const test = request(app).get(url).buffer(true).parse(binaryParser)
  return accept === undefined ? test : test.set('Accept', accept)
}

/** The format sharp reads from `body`, with AVIF told apart from other HEIF. */
async function formatOf(
  body: Buffer,
): Promise<{ format: string; width: number | undefined; hasAlpha: boolean }> {
  const meta = await sharp(body).metadata()
  return { format: imageFormat(meta), width: meta.width, hasAlpha: meta.hasAlpha }
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
  // A JPEG, saved with the hook.
  const rotated = await images.rotatedJpeg()
  rotatedSha = createHash('sha256').update(rotated).digest('hex')
  await storage.save('photos/rotated.jpg', rotated)
  await photos.save(
    photos.create({
      slug: 'rotated',
      image: Object.assign(new StoredImage(), { path: 'photos/rotated.jpg' }),
    }),
  )
  // A PNG with alpha, saved with attachFile().
  const badge = photos.create({ slug: 'badge' })
  await attachFile(badge, 'image', await images.alphaPng(), { name: 'badge.png' })
  await photos.save(badge)
  storage.reset()
})

afterAll(async () => {
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

describe('GET a variant with format=auto', () => {
  describe.each([
    ["Chrome's Accept", ACCEPT.chrome, 'avif'],
    ["Safari 17's Accept", ACCEPT.safari17, 'avif'],
    ["Safari 15's Accept (WebP, no AVIF)", ACCEPT.safari15, 'webp'],
    ["curl's */*", ACCEPT.curl, 'jpeg'],
    ['no Accept', undefined, 'jpeg'],
    ['image/avif;q=0 (AVIF refused)', 'image/avif;q=0,image/webp,*/*', 'webp'],
  ])('with %s', (_what, accept, format) => {
    it(`answers ${format} bytes, with its type and name`, async () => {
      const res = await get(appFor(), AUTO, accept)
      assertDownload(res, {
        status: 200,
        contentType: `image/${format}`,
        basename: `rotated-256.${format === 'jpeg' ? 'jpg' : format}`,
      })
      expect(await formatOf(res.body as Buffer)).toMatchObject({ format, width: 256 })
    })

    it('varies on Accept, and keeps the usual Cache-Control', async () => {
      const res = await get(appFor(), AUTO, accept)
      expect([res.headers.vary, res.headers['cache-control']]).toEqual(['Accept', 'private, no-cache'])
    })

    it('stores the variant under its format', async () => {
      await get(appFor(), AUTO, accept)
      const stored = await readdir(`${root}/variants/${rotatedSha}`)
      expect(stored).toEqual([`256.${format}`])
    })
  })

  describe("with curl's */* for a PNG with alpha", () => {
    it('answers a PNG that keeps the alpha', async () => {
      const res = await get(appFor(), '/photos/badge/variant?width=64&format=auto', ACCEPT.curl)
      expect(res.headers['content-type']).toBe('image/png')
      expect(await formatOf(res.body as Buffer)).toEqual({ format: 'png', width: 64, hasAlpha: true })
    })
  })

  describe("with formats: ['webp', 'jpeg']", () => {
    it("answers Chrome with WebP, the best of the view's formats it accepts", async () => {
      const res = await get(appFor({ formats: ['webp', 'jpeg'] }), AUTO, ACCEPT.chrome)
      expect(await formatOf(res.body as Buffer)).toMatchObject({ format: 'webp' })
    })
  })

  it('gives the AVIF and the WebP answer of the same URL different ETags', async () => {
    const app = appFor()
    const avif = await get(app, AUTO, ACCEPT.chrome)
    const webp = await get(app, AUTO, ACCEPT.safari15)
    expect(avif.headers.etag).toMatch(/^W\/".+-avif"$/)
    expect(webp.headers.etag).toMatch(/^W\/".+-webp"$/)
  })

  it('answers HEAD with the same headers, Vary included, and no body', async () => {
    const app = appFor()
    const full = await get(app, AUTO, ACCEPT.chrome)
    const head = await request(app).head(AUTO).set('Accept', ACCEPT.chrome)
    expect(head.status).toBe(200)
    for (const name of ['content-type', 'content-length', 'etag', 'vary'])
      expect([name, head.headers[name]]).toEqual([name, full.headers[name]])
  })
})

describe('GET a variant with an explicit format', () => {
  it('does not vary: the URL names the format', async () => {
    const res = await get(appFor(), '/photos/rotated/variant?width=256&format=webp', ACCEPT.chrome)
    expect(res.headers['content-type']).toBe('image/webp')
    expect(res.headers.vary).toBeUndefined()
  })
})

describe('revalidating a format=auto variant', () => {
  let app: express.Express
  let avifTag: string

  beforeEach(async () => {
    app = appFor()
    avifTag = (await get(app, AUTO, ACCEPT.chrome)).headers.etag as string
    await get(app, AUTO, ACCEPT.safari15)
  })

  it('is a 304 with Vary and the ETag while Accept still yields AVIF', async () => {
    const res = await get(app, AUTO, ACCEPT.chrome).set('If-None-Match', avifTag)
    expect([res.status, res.headers.etag, res.headers.vary]).toEqual([304, avifTag, 'Accept'])
  })

  it('is a 200 with the WebP when Accept now yields WebP', async () => {
    const res = await get(app, AUTO, ACCEPT.safari15).set('If-None-Match', avifTag)
    expect(res.status).toBe(200)
    expect(res.headers.etag).not.toBe(avifTag)
    expect(await formatOf(res.body as Buffer)).toMatchObject({ format: 'webp' })
  })
})

describe('a format=auto variant handed off', () => {
  describe('to nginx (X-Accel-Redirect)', () => {
    const handoff = xAccelRedirect({ rules: [{ storage: 'default', location: '/protected/media/' }] })

    it('names the negotiated variant, and keeps Vary: Accept', async () => {
      const res = await get(appFor({ handoff }), AUTO, ACCEPT.chrome)
      expect(res.status).toBe(200)
      expect(res.headers['x-accel-redirect']).toBe(`/protected/media/variants/${rotatedSha}/256.avif`)
      expect(res.headers.vary).toBe('Accept')
    })

    it('adds no Vary for an explicit format', async () => {
      const res = await get(
        appFor({ handoff }),
        '/photos/rotated/variant?width=256&format=avif',
        ACCEPT.chrome,
      )
      expect(res.headers['x-accel-redirect']).toBe(`/protected/media/variants/${rotatedSha}/256.avif`)
      expect(res.headers.vary).toBeUndefined()
    })
  })

  describe('to the bucket (a redirect to a presigned URL)', () => {
    /** The test's storage, presigning URLs as an S3 client writes them (no bucket is called). */
    class PresigningStorage extends CountingStorage {
      async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
        return `https://bucket.example.com/${key}?X-Amz-Expires=${options.expiresIn}&X-Amz-Signature=${'f'.repeat(64)}`
      }
    }

    beforeEach(() => {
      storages.register('default', new PresigningStorage(storage.inner))
    })

    afterEach(() => {
      storages.register('default', storage)
    })

    it('redirects to the negotiated variant, and keeps Vary: Accept', async () => {
      const app = appFor({ handoff: redirectToBucket() })
      const avif = await get(app, AUTO, ACCEPT.chrome)
      const webp = await get(app, AUTO, ACCEPT.safari15)
      expect([avif.status, avif.headers.vary]).toEqual([302, 'Accept'])
      expect(avif.headers.location).toMatch(
        new RegExp(`^https://bucket\\.example\\.com/variants/${rotatedSha}/256\\.avif\\?`),
      )
      expect(webp.headers.location).toMatch(new RegExp(`/variants/${rotatedSha}/256\\.webp\\?`))
    })
  })
})

describe("a Vary set by the view's headers option", () => {
  it('gets Accept added to it', async () => {
    const res = await get(appFor({ headers: { Vary: 'Origin' } }), AUTO, ACCEPT.chrome)
    expect(res.headers.vary).toBe('Origin, Accept')
  })

  it('is kept as it is when it names Accept already', async () => {
    const res = await get(appFor({ headers: { vary: 'accept, Origin' } }), AUTO, ACCEPT.chrome)
    expect(res.headers.vary).toBe('accept, Origin')
  })
})
