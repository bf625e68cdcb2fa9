/** Bucket hand-offs on views and on @FileColumn(): wiring, startup checks, request-time failures. */
import express from 'express'
import request from 'supertest'
import { Entity, PrimaryGeneratedColumn } from 'typeorm'
import { FileColumn, getFileColumn } from '../../../src/columns/file-column'
import type { StoredFile } from '../../../src/columns/stored-file'
import { ConfigurationError } from '../../../src/errors'
import { toHandler } from '../../../src/express'
import { redirectToBucket } from '../../../src/handoff/bucket-redirect'
import type { Handoff } from '../../../src/handoff/handoff'
import { nginxFromBucket } from '../../../src/handoff/nginx-bucket'
import type { Logger } from '../../../src/logger'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { storages } from '../../../src/storage/registry'
import type { DownloadView } from '../../../src/views/download-view'
import { StorageDownloadView, type StorageDownloadViewOptions } from '../../../src/views/storage-view'
import { VirtualDownloadView } from '../../../src/views/virtual-view'
import { NUMS } from '../http/fixtures'
import { PresigningStorage } from './fixtures'

const PDF_HANDOFF = redirectToBucket({ expiresIn: 120 })

@Entity()
class Report {
  @PrimaryGeneratedColumn() id!: number
  @FileColumn({ handoff: PDF_HANDOFF }) pdf!: StoredFile | null
  @FileColumn() scan!: StoredFile | null
}

/** A logger that records what it is given. */
function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = []
  return { errors, error: (message) => errors.push(message), warn: () => undefined }
}

function appFor(view: DownloadView) {
  const app = express()
  app.all('/media/*path', toHandler(view))
  return app
}

let bucket: PresigningStorage

beforeEach(async () => {
  bucket = new PresigningStorage({ name: 'bucket' })
  await bucket.save('nums.txt', NUMS)
})

afterEach(() => storages.clear())

const storageView = (options: Partial<StorageDownloadViewOptions>) =>
  new StorageDownloadView({ storage: bucket, ...options })

describe('StorageDownloadView option "handoff" to the bucket', () => {
  it('streams by default', async () => {
    const response = await request(appFor(storageView({}))).get('/media/nums.txt')
    expect(response.status).toBe(200)
    expect(response.text).toBe('123456789')
    expect(bucket.signed).toEqual([])
  })

  it('redirects with redirectToBucket()', async () => {
    const response = await request(appFor(storageView({ handoff: redirectToBucket() }))).get(
      '/media/nums.txt',
    )
    expect(response.status).toBe(302)
    expect(response.headers.location).toMatch(/^https:\/\/s3\.example\.com\/media\/nums\.txt\?/)
    expect(response.headers['cache-control']).toBe('private, max-age=60')
    expect(response.text).toBe('')
  })

  it('answers a revalidation with 304, before any redirect', async () => {
    const app = appFor(storageView({ handoff: redirectToBucket() }))
    const { modifiedAt } = await bucket.stat('nums.txt')
    const response = await request(app)
      .get('/media/nums.txt')
      .set('If-Modified-Since', modifiedAt.toUTCString())
    expect(response.status).toBe(304)
    expect(response.headers.location).toBeUndefined()
    expect(bucket.signed).toEqual([])
  })

  it('answers a missing key with 404, before any redirect', async () => {
    const response = await request(appFor(storageView({ handoff: redirectToBucket() }))).get(
      '/media/none.txt',
    )
    expect(response.status).toBe(404)
    expect(bucket.signed).toEqual([])
  })

  it('sends X-Accel-Redirect with nginxFromBucket()', async () => {
    const view = storageView({ handoff: nginxFromBucket({ location: '/_bucket/' }) })
    const response = await request(appFor(view)).get('/media/nums.txt').set('Range', 'bytes=2-5')
    expect(response.status).toBe(200)
    expect(response.headers['x-accel-redirect']).toMatch(/^\/_bucket\/media\/nums\.txt\?X-Amz-Expires=60&/)
    expect(response.headers['x-bucket-range']).toBe('bytes=2-5')
    expect(response.headers['content-length']).toBe('0')
  })

  it('tries no hand-off after the redirect took the file', async () => {
    const marking: Handoff = (plan) => ({ ...plan, headers: { ...plan.headers, 'X-Offloaded': '1' } })
    const response = await request(appFor(storageView({ handoff: [redirectToBucket(), marking] }))).get(
      '/media/nums.txt',
    )
    expect(response.status).toBe(302)
    expect(response.headers['x-offloaded']).toBeUndefined()
  })

  it('goes on to the next hand-off for what nginxFromBucket() leaves (several ranges)', async () => {
    const marking: Handoff = (plan) => ({
      ...plan,
      headers: { ...plan.headers, 'X-Offloaded': '1', 'Content-Length': '0' },
      body: undefined,
    })
    const view = storageView({ handoff: [nginxFromBucket({ location: '/_bucket/' }), marking] })
    const response = await request(appFor(view)).get('/media/nums.txt').set('Range', 'bytes=0-1,4-5')
    expect(response.headers['x-offloaded']).toBe('1')
    expect(response.headers['x-accel-redirect']).toBeUndefined()
  })

  describe('at startup', () => {
    it('refuses what is no hand-off, naming the option', () => {
      expect(() => storageView({ handoff: 'redirect' as unknown as Handoff })).toThrow(
        new ConfigurationError(
          'StorageDownloadView: option "handoff" must be a hand-off (xAccelRedirect(), xSendfile(), redirectToBucket()...), a list of them, or false',
        ),
      )
    })

    it('refuses redirect on a storage that cannot presign URLs', () => {
      expect(() =>
        storageView({ storage: new MemoryStorage({ name: 'plain' }), handoff: redirectToBucket() }),
      ).toThrow(
        new ConfigurationError(
          'StorageDownloadView: option "handoff" hands off to the bucket, which needs a storage that presigns URLs (signedUrl(), as S3Storage has); plain has none',
        ),
      )
    })

    it('refuses x-accel on a registered storage that cannot presign URLs', () => {
      storages.register('plain', new MemoryStorage({ name: 'plain' }))
      expect(() =>
        storageView({ storage: 'plain', handoff: nginxFromBucket({ location: '/_bucket/' }) }),
      ).toThrow(/option "handoff" hands off to the bucket, which needs a storage that presigns URLs/)
    })

    it('accepts no hand-off, or a list with one that does not presign, on a storage that cannot presign URLs', () => {
      expect(() => storageView({ storage: new MemoryStorage(), handoff: false })).not.toThrow()
      const proxy: Handoff = () => undefined
      expect(() =>
        storageView({ storage: new MemoryStorage(), handoff: [proxy, redirectToBucket()] }),
      ).not.toThrow()
    })
  })

  describe('when the storage is known only at request time', () => {
    it('answers 500 and logs the reason once, without crashing', async () => {
      const logger = recordingLogger()
      const app = appFor(new StorageDownloadView({ storage: 'later', handoff: redirectToBucket(), logger }))
      const plain = new MemoryStorage({ name: 'plain' })
      await plain.save('nums.txt', NUMS)
      storages.register('later', plain)
      const first = await request(app).get('/media/nums.txt')
      const second = await request(app).head('/media/nums.txt')
      expect([first.status, second.status]).toEqual([500, 500])
      expect(first.text).toBe('Internal Server Error\n')
      expect(first.headers['cache-control']).toBe('no-store')
      expect(logger.errors).toEqual([
        'StorageDownloadView: redirectToBucket() needs a storage that presigns URLs (signedUrl(), as S3Storage has); plain has none',
      ])
    })
  })
})

describe('a bucket hand-off on a view of generated content', () => {
  it('answers 500 and logs once: there is no object to redirect to', async () => {
    const logger = recordingLogger()
    const view = new VirtualDownloadView({ name: 'a.txt', content: 'a', handoff: redirectToBucket(), logger })
    const app = express().all('/a', toHandler(view))
    expect((await request(app).get('/a')).status).toBe(500)
    expect((await request(app).get('/a')).status).toBe(500)
    expect(logger.errors).toEqual([
      'VirtualDownloadView: redirectToBucket() needs files that are in a storage; this view served a generated file',
    ])
  })
})

describe('@FileColumn option "handoff"', () => {
  it('records the hand-off as the column’s default', () => {
    expect(getFileColumn(Report, 'pdf').handoffs).toEqual([PDF_HANDOFF])
  })

  it('records none when the column sets none', () => {
    expect(getFileColumn(Report, 'scan').handoffs).toBeUndefined()
  })

  it.each([[{ mode: 'redirect' }], ['redirect'], [[]], [false]])(
    'refuses %j at once, naming the option',
    (value) => {
      expect(() => FileColumn({ handoff: value as unknown as Handoff })).toThrow(
        new ConfigurationError(
          '@FileColumn: option "handoff" must be a hand-off (redirectToBucket(), xAccelRedirect()...) or a list of them',
        ),
      )
    },
  )
})
