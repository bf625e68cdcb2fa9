/**
 * redirectToBucket() over HTTP: the demo app on S3Storage (s3rver on loopback), a real client
 * (Node's fetch) that follows the redirect to the bucket. s3rver honours `response-content-*` and
 * checks the expiry of V4 presigned URLs (X-Amz-Date + X-Amz-Expires), not their signature. Also
 * what the app answers with nginxFromBucket(); test/servers/ puts a real nginx in front of it.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import {
  Column,
  type DataSource,
  Entity,
  type MigrationInterface,
  PrimaryGeneratedColumn,
  type QueryRunner,
} from 'typeorm'
import { buildApp } from '../../demo/app'
import { random1m, seed } from '../../demo/seed'
import { Document } from '../../entities/Document'
import { entities, migrations } from '../../ormconfig'
import {
  attachFile,
  ConfigurationError,
  FileColumn,
  LocalStorage,
  nginxFromBucket,
  ObjectDownloadView,
  redirectToBucket,
  StorageDownloadView,
  type StoredFile,
  storages,
} from '../../src'
import { toHandler } from '../../src/express'
import { contentDisposition } from '../../src/http/disposition'
import type { S3Storage } from '../../src/s3/s3-storage'
import { createTestDataSource } from '../helpers/database'
import { type CommandCounts, countCommands, type S3TestServer, startS3Server } from '../helpers/s3'
import { temporaryStorage } from '../helpers/storage'

/** A row whose file column delivers by redirect (307) unless the view says otherwise. */
@Entity({ name: 'test_delivery_report' })
class Report {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text', unique: true })
  slug!: string

  @FileColumn({ handoff: redirectToBucket({ status: 307, expiresIn: 120 }) })
  pdf!: StoredFile | null
}

/** Creates `test_delivery_report`: the columns @FileColumn() promises. */
class CreateReport1700000000001 implements MigrationInterface {
  name = 'CreateReport1700000000001'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "test_delivery_report" (
        "id" SERIAL NOT NULL,
        "slug" text NOT NULL,
        "pdf_path" text,
        "pdf_name" text,
        "pdf_size" bigint,
        "pdf_content_type" text,
        "pdf_modified_at" TIMESTAMP WITH TIME ZONE,
        "pdf_sha256" character(64),
        "pdf_crc32" bigint,
        CONSTRAINT "UQ_test_delivery_report_slug" UNIQUE ("slug"),
        CONSTRAINT "PK_test_delivery_report_id" PRIMARY KEY ("id")
      )`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "test_delivery_report"`)
  }
}

let s3: S3TestServer
let storage: S3Storage
/** The requests the app sent the bucket: a presigned URL is never one. */
let reads: CommandCounts
let dataSource: DataSource
let server: Server
let appUrl: string

beforeAll(async () => {
  s3 = await startS3Server()
  storage = s3.storage()
  reads = countCommands(storage.client, 'deserialize')
  storages.register('default', storage)
  dataSource = await createTestDataSource({
    entities: [...entities, Report],
    migrations: [...migrations, CreateReport1700000000001],
  })
  await seed(dataSource)
  const report = dataSource.getRepository(Report).create({ slug: 'q3' })
  await attachFile(report, 'pdf', Buffer.from('%PDF-1.7 report\n'), { name: 'Q3 report.pdf' })
  await dataSource.getRepository(Report).save(report)

  const outer = express()
  outer.disable('x-powered-by')
  const reportView = { dataSource, entity: Report, lookup: 'slug', file: 'pdf' } as const
  // The column's hand-off (307), and a view that overrides it.
  outer.all('/reports/:slug/', toHandler(new ObjectDownloadView(reportView)))
  outer.all('/reports/:slug/stream/', toHandler(new ObjectDownloadView({ ...reportView, handoff: false })))
  // The shortest lifetime a presigned URL can have.
  outer.all(
    '/short/:slug/',
    toHandler(
      new ObjectDownloadView({
        dataSource,
        entity: Document,
        lookup: 'slug',
        file: 'file',
        handoff: redirectToBucket({ expiresIn: 1 }),
      }),
    ),
  )
  // nginxFromBucket() (bucket location of docs/scale-out.md), answered with no nginx in front.
  outer.all(
    '/x-accel/:slug/',
    toHandler(
      new ObjectDownloadView({
        dataSource,
        entity: Document,
        lookup: 'slug',
        file: 'file',
        handoff: nginxFromBucket({ location: '/_bucket/' }),
      }),
    ),
  )
  outer.use(buildApp(dataSource, { handoff: redirectToBucket() }))
  server = outer.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server?.closeAllConnections()
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
  await dataSource?.destroy()
  storages.clear()
  await s3?.stop()
})

beforeEach(() => reads.reset())

/** The app's own answer, the redirect not followed. */
const manual = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  fetch(appUrl + path, { redirect: 'manual', headers, method })
/** The answer at the end of the redirect, as a browser would get it. */
const follow = (path: string, headers: Record<string, string> = {}) =>
  fetch(appUrl + path, { redirect: 'follow', headers })
const bytesOf = async (response: Response) => Buffer.from(await response.arrayBuffer())

/** The row's file column, for its validators. */
async function fileOf(slug: string): Promise<StoredFile> {
  const document = await dataSource.getRepository(Document).findOneByOrFail({ slug })
  if (!document.file) throw new Error(`${slug} has no file`)
  return document.file
}

describe('the redirect', () => {
  it('is a 302 to a presigned URL of the object in the bucket', async () => {
    const response = await manual('/object/default-file/hello-world/')
    expect(response.status).toBe(302)
    const location = new URL(response.headers.get('location') ?? '')
    expect(location.origin + location.pathname).toBe(
      `${s3.endpoint}/${s3.defaultBucket}/documents/hello-world/file.txt`,
    )
    expect(location.searchParams.get('X-Amz-Expires')).toBe('300')
    expect(location.searchParams.get('response-content-disposition')).toBe('attachment; filename=file.txt')
    expect(location.searchParams.get('response-content-type')).toBe('text/plain; charset=utf-8')
    expect(await response.text()).toBe('')
  })

  it('may be cached privately, for less time than the URL lives, and carries no validator', async () => {
    const response = await manual('/object/default-file/hello-world/')
    expect(response.headers.get('cache-control')).toBe('private, max-age=60')
    expect(response.headers.get('etag')).toBeNull()
    expect(response.headers.get('last-modified')).toBeNull()
  })

  it('answers HEAD with the same redirect', async () => {
    const response = await manual('/object/default-file/hello-world/', {}, 'HEAD')
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toMatch(new RegExp(`^${s3.endpoint}/`))
  })
})

describe('following the redirect', () => {
  it('downloads the bytes from the bucket with the name and type the app chose', async () => {
    const response = await follow('/object/default-file/hello-world/')
    expect(response.status).toBe(200)
    expect(response.redirected).toBe(true)
    expect(response.url.startsWith(`${s3.endpoint}/`)).toBe(true)
    expect(response.headers.get('content-disposition')).toBe('attachment; filename=file.txt')
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect((await bytesOf(response)).toString()).toBe('Hello world!\n')
    // The app presigned; it never read the object.
    expect(reads.count('GetObjectCommand')).toBe(0)
  })

  it('keeps a name that is not ASCII (RFC 8187)', async () => {
    const response = await follow('/object/default-file/unicode/')
    // The value the app sends when it streams the file itself.
    expect(response.headers.get('content-disposition')).toBe(
      contentDisposition('résumé "final", v2.txt', { attachment: true }),
    )
    expect(response.headers.get('content-disposition')).toContain(
      "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22",
    )
    expect((await bytesOf(response)).toString()).toBe('Unicode name\n')
  })

  it('keeps the name of the basename property', async () => {
    const response = await follow('/object/deserialized-basename/hello-world/')
    expect(response.headers.get('content-disposition')).toBe('attachment; filename=hello-world.txt')
  })

  it('keeps inline for an inline view', async () => {
    const response = await follow('/object/inline-file/hello-world/')
    expect(response.headers.get('content-disposition')).toBe('inline; filename=file.txt')
  })

  it('makes active content an attachment: the bucket cannot send the sandbox policy', async () => {
    const response = await follow('/object/inline-file/page/')
    expect(response.headers.get('content-disposition')).toBe('attachment; filename=page.html')
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
  })

  it('downloads 1 MiB byte for byte', async () => {
    const response = await follow('/object/default-file/random-1m/')
    expect(response.headers.get('content-length')).toBe('1048576')
    expect((await bytesOf(response)).equals(random1m())).toBe(true)
    expect(reads.count('GetObjectCommand')).toBe(0)
  })

  it('serves a storage key (StorageDownloadView)', async () => {
    const response = await follow('/storage/static-path/hello-world.txt')
    expect(response.redirected).toBe(true)
    expect(response.headers.get('content-disposition')).toBe('attachment; filename=hello-world.txt')
    expect((await bytesOf(response)).toString()).toBe('Hello world!\n')
  })

  it('serves an image variant, made on first request, from the bucket', async () => {
    const response = await follow('/photos/sunset/variant/?width=64&format=webp')
    expect(response.redirected).toBe(true)
    expect(response.headers.get('content-type')).toBe('image/webp')
    expect((await bytesOf(response)).subarray(8, 12).toString()).toBe('WEBP')
  })

  it('reaches a 404 from the bucket when the row names an object it does not have', async () => {
    const response = await follow('/object/default-file/missing/')
    expect(response.redirected).toBe(true)
    expect(response.status).toBe(404)
  })
})

describe('Range through the redirect', () => {
  it('gets 206 from the bucket: the client sends its Range again', async () => {
    const redirect = await manual('/object/default-file/random-1m/', { Range: 'bytes=1000-1999' })
    expect(redirect.status).toBe(302)
    const response = await follow('/object/default-file/random-1m/', { Range: 'bytes=1000-1999' })
    expect(response.status).toBe(206)
    expect(response.headers.get('content-range')).toBe('bytes 1000-1999/1048576')
    expect((await bytesOf(response)).equals(random1m().subarray(1000, 2000))).toBe(true)
  })

  it('answers an unsatisfiable range with 416 itself', async () => {
    const response = await manual('/object/default-file/hello-world/', { Range: 'bytes=100-' })
    expect(response.status).toBe(416)
    expect(response.headers.get('content-range')).toBe('bytes */13')
    expect(response.headers.get('location')).toBeNull()
  })
})

describe('conditional requests the row can answer', () => {
  it('answers If-None-Match with 304 itself, without a redirect', async () => {
    const { sha256 } = await fileOf('hello-world')
    const response = await manual('/object/default-file/hello-world/', { 'If-None-Match': `"${sha256}"` })
    expect(response.status).toBe(304)
    expect(response.headers.get('etag')).toBe(`"${sha256}"`)
    expect(response.headers.get('location')).toBeNull()
  })

  it('answers If-Modified-Since with 304 itself', async () => {
    const { modifiedAt } = await fileOf('hello-world')
    const response = await manual('/object/default-file/hello-world/', {
      'If-Modified-Since': (modifiedAt as Date).toUTCString(),
    })
    expect(response.status).toBe(304)
    expect(response.headers.get('location')).toBeNull()
  })

  it('answers a failed If-Match with 412 itself', async () => {
    const response = await manual('/object/default-file/hello-world/', { 'If-Match': '"other"' })
    expect(response.status).toBe(412)
    expect(response.headers.get('location')).toBeNull()
  })

  it('redirects when the client’s copy is stale', async () => {
    const response = await manual('/object/default-file/hello-world/', { 'If-None-Match': '"stale"' })
    expect(response.status).toBe(302)
  })
})

describe('the presigned URL expires', () => {
  it('works until its lifetime is over, then the bucket refuses it', async () => {
    // X-Amz-Date has whole seconds, so a 1 s URL lives from 0 to 1 s: sign early in a second.
    const intoSecond = Date.now() % 1000
    if (intoSecond > 200) await new Promise((resolve) => setTimeout(resolve, 1010 - intoSecond))
    const redirect = await manual('/short/hello-world/')
    expect(redirect.headers.get('cache-control')).toBe('private, max-age=0')
    const location = new URL(redirect.headers.get('location') ?? '')
    expect(location.searchParams.get('X-Amz-Expires')).toBe('1')
    const fresh = await fetch(location)
    expect(fresh.status).toBe(200)
    expect(await fresh.text()).toBe('Hello world!\n')

    // The URL is dead once the clock passes X-Amz-Date + 1 s.
    const signedAt = Date.parse(
      (location.searchParams.get('X-Amz-Date') ?? '').replace(
        /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/,
        '$1-$2-$3T$4:$5:$6Z',
      ),
    )
    expect(Number.isNaN(signedAt)).toBe(false)
    const wait = signedAt + 1000 + 50 - Date.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    const expired = await fetch(location)
    expect(expired.status).toBe(403)
    expect(await expired.text()).toContain('Request has expired')
  })
})

describe('the column’s hand-off', () => {
  it('is the default of a view that sets none (307)', async () => {
    const response = await manual('/reports/q3/')
    expect(response.status).toBe(307)
    const location = new URL(response.headers.get('location') ?? '')
    expect(location.searchParams.get('X-Amz-Expires')).toBe('120')
    expect(response.headers.get('cache-control')).toBe('private, max-age=24')
    const followed = await follow('/reports/q3/')
    expect(followed.headers.get('content-disposition')).toBe('attachment; filename="Q3 report.pdf"')
    expect(followed.headers.get('content-type')).toBe('application/pdf')
    expect(await followed.text()).toBe('%PDF-1.7 report\n')
  })

  it('gives way to the view’s own', async () => {
    const response = await manual('/reports/q3/stream/')
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('%PDF-1.7 report\n')
    expect(reads.count('GetObjectCommand')).toBe(1)
  })
})

describe('nginxFromBucket(), without nginx', () => {
  it('answers X-Accel-Redirect to the bucket location, with the presigned path and query', async () => {
    const response = await manual('/x-accel/hello-world/')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-length')).toBe('0')
    expect(response.headers.get('x-accel-redirect')).toMatch(
      new RegExp(`^/_bucket/${s3.defaultBucket}/documents/hello-world/file\\.txt\\?X-Amz-Algorithm=`),
    )
    expect(await bytesOf(response)).toEqual(Buffer.alloc(0))
    expect(reads.count('GetObjectCommand')).toBe(0)
  })
})

describe('signed URLs and redirects', () => {
  it('checks the signature first: an unsigned request gets 403, not a redirect', async () => {
    const response = await manual('/signed/hello-world/')
    expect(response.status).toBe(403)
    expect(response.headers.get('location')).toBeNull()
  })
})

describe('at startup', () => {
  it('refuses redirect on a storage that cannot presign URLs, naming the option', async () => {
    const local = await temporaryStorage()
    storages.register('default', new LocalStorage({ root: local.root }))
    try {
      expect(() => buildApp(dataSource, { handoff: redirectToBucket() })).toThrow(ConfigurationError)
      expect(() => buildApp(dataSource, { handoff: redirectToBucket() })).toThrow(
        /option "handoff" hands off to the bucket/,
      )
      expect(
        () =>
          new StorageDownloadView({
            storage: 'default',
            handoff: nginxFromBucket({ location: '/_bucket/' }),
          }),
      ).toThrow(/option "handoff" hands off to the bucket/)
    } finally {
      storages.register('default', storage)
      await local.remove()
    }
  })
})
