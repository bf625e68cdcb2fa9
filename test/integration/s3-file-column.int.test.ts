/**
 * @FileColumn on S3Storage (s3rver), with real Postgres: metadata filled at save time with the
 * SHA-256 computed while uploading (no GetObject), the save hook reading an object for a row saved
 * with only a path, and ObjectDownloadView serving rows from the bucket with Range and 304.
 */
import { createHash } from 'node:crypto'
import type { Server } from 'node:http'
import { Readable } from 'node:stream'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import express from 'express'
import request from 'supertest'
import {
  Column,
  type DataSource,
  Entity,
  type MigrationInterface,
  PrimaryGeneratedColumn,
  type QueryRunner,
  type Repository,
} from 'typeorm'
import { attachFile, FileColumn, FileColumnError, ObjectDownloadView, StoredFile, storages } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'
import type { S3Storage } from '../../src/s3/s3-storage'
import { assertDownload, binaryParser } from '../../src/testing'
import { binaryPayload, chunksOf } from '../contract/storage.contract'
import { createTestDataSource } from '../helpers/database'
import { type CommandCounts, countCommands, type S3TestServer, startS3Server } from '../helpers/s3'
import { readAll } from '../helpers/streams'

/** The name the test registers its S3Storage under. */
const STORAGE = 's3-reports'

/** A row whose file lives in the S3 storage. */
@Entity({ name: 'test_s3_report' })
class S3Report {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text', unique: true })
  slug!: string

  @FileColumn({ storage: STORAGE })
  file!: StoredFile | null
}

/** Creates `test_s3_report`: the columns that @FileColumn() promises. */
class CreateS3Report1700000000002 implements MigrationInterface {
  name = 'CreateS3Report1700000000002'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "test_s3_report" (
        "id" SERIAL NOT NULL,
        "slug" text NOT NULL,
        "file_path" text,
        "file_name" text,
        "file_size" bigint,
        "file_content_type" text,
        "file_modified_at" TIMESTAMP WITH TIME ZONE,
        "file_sha256" character(64),
        "file_crc32" bigint,
        CONSTRAINT "UQ_test_s3_report_slug" UNIQUE ("slug"),
        CONSTRAINT "PK_test_s3_report_id" PRIMARY KEY ("id")
      )`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "test_s3_report"`)
  }
}

let s3: S3TestServer
let bucket: string
let storage: S3Storage
let counts: CommandCounts
let dataSource: DataSource
let reports: Repository<S3Report>
let app: Server

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex')
const withPath = (key: string) => Object.assign(new StoredFile(), { path: key })

beforeAll(async () => {
  s3 = await startS3Server()
  bucket = await s3.bucket()
  storage = s3.storage({ bucket, prefix: 'media' })
  counts = countCommands(storage.client)
  storages.register(STORAGE, storage)
  dataSource = await createTestDataSource({ entities: [S3Report], migrations: [CreateS3Report1700000000002] })
  reports = dataSource.getRepository(S3Report)
  const server = express()
  server.all(
    '/reports/:slug/',
    toHandler(new ObjectDownloadView({ dataSource, entity: S3Report, lookup: 'slug', file: 'file' })),
  )
  server.use(downloadErrorHandler())
  app = server.listen(0, '127.0.0.1')
})

beforeEach(async () => {
  await dataSource.query('TRUNCATE "test_s3_report" RESTART IDENTITY')
  counts.reset()
})

afterAll(async () => {
  app.closeAllConnections()
  await new Promise((resolve) => app.close(resolve))
  await dataSource.destroy()
  storages.clear(STORAGE)
  await s3.stop()
})

const get = (url: string) => request(app).get(url).buffer(true).parse(binaryParser)

describe('attachFile() into an S3 file column, then save', () => {
  // Over one 5 MiB part, in odd-sized chunks: a multipart upload streamed from the source.
  const payload = binaryPayload(7 * 1024 * 1024 + 3)

  it('fills size, type, modification time and SHA-256, and reads nothing back', async () => {
    const report = reports.create({ slug: 'q3' })
    await attachFile(report, 'file', Readable.from(chunksOf(payload, 99_991)), { name: 'Q3 report.pdf' })
    await reports.save(report)

    const row = await reports.findOneByOrFail({ slug: 'q3' })
    expect(row.file).toMatchObject({
      name: 'Q3 report.pdf',
      size: payload.length,
      contentType: 'application/pdf',
      sha256: sha256(payload),
    })
    const stat = await storage.stat(row.file?.path as string)
    expect(row.file?.modifiedAt?.getTime()).toBe(stat.modifiedAt.getTime())
    // The checksum came from the bytes on their way up: no object was downloaded, at any point.
    expect(counts.count('UploadPartCommand')).toBe(2)
    expect(counts.count('GetObjectCommand')).toBe(0)
    expect(sha256(await readAll(await storage.open(row.file?.path as string)))).toBe(sha256(payload))
  })

  it('stores the object under the storage’s prefix and the column’s uploadTo', async () => {
    const report = reports.create({ slug: 'key' })
    await attachFile(report, 'file', Buffer.from('Hello world!\n'), { name: 'hello.txt' })
    await reports.save(report)
    expect(report.file?.path).toMatch(/^s3_report\/file\/[0-9a-f-]{36}\/hello\.txt$/)
    const head = await s3
      .client()
      .send(new HeadObjectCommand({ Bucket: bucket, Key: `media/${report.file?.path as string}` }))
    expect(head.ContentLength).toBe(13)
    expect(counts.count('GetObjectCommand')).toBe(0)
  })
})

describe('saving a row with only a path to an object in S3', () => {
  it('fills the metadata by reading the object, once', async () => {
    const stat = await storage.save('docs/q3.pdf', Buffer.from('%PDF-1.4 pretend'))
    counts.reset()
    await reports.save(reports.create({ slug: 'path', file: withPath('docs/q3.pdf') }))
    const row = await reports.findOneByOrFail({ slug: 'path' })
    expect(row.file).toMatchObject({
      path: 'docs/q3.pdf',
      name: 'q3.pdf',
      size: 16,
      contentType: 'application/pdf',
      sha256: sha256('%PDF-1.4 pretend'),
    })
    expect(row.file?.modifiedAt?.getTime()).toBe(stat.modifiedAt.getTime())
    expect(counts.count('GetObjectCommand')).toBe(1)
  })

  it('refuses a row whose object does not exist, and writes nothing', async () => {
    await expect(
      reports.save(reports.create({ slug: 'gone', file: withPath('docs/nowhere.pdf') })),
    ).rejects.toThrow(FileColumnError)
    expect(await reports.countBy({ slug: 'gone' })).toBe(0)
  })
})

describe('ObjectDownloadView on a row whose file is in S3', () => {
  beforeEach(async () => {
    await storage.save('docs/nums.txt', '123456789')
    await reports.save(reports.create({ slug: 'nums', file: withPath('docs/nums.txt') }))
  })

  it('serves the whole file', async () => {
    assertDownload(await get('/reports/nums/'), {
      content: '123456789',
      basename: 'nums.txt',
      contentType: 'text/plain',
      attachment: true,
      size: 9,
    })
  })

  it('serves a Range with 206 and Content-Range, reading only that range from S3', async () => {
    counts.reset()
    const response = await get('/reports/nums/').set('Range', 'bytes=2-5')
    expect(response.status).toBe(206)
    expect(response.headers['content-range']).toBe('bytes 2-5/9')
    expect((response.body as Buffer).toString()).toBe('3456')
    expect(counts.count('GetObjectCommand')).toBe(1)
  })

  it('answers If-None-Match with the ETag with 304, from the row alone', async () => {
    const first = await get('/reports/nums/')
    const etag = first.headers.etag as string
    expect(etag).toBeTruthy()
    counts.reset()
    const again = await get('/reports/nums/').set('If-None-Match', etag)
    expect(again.status).toBe(304)
    expect((again.body as Buffer).length).toBe(0)
    expect(counts.count('GetObjectCommand')).toBe(0)
    expect(counts.count('HeadObjectCommand')).toBe(0)
  })

  it('answers If-Modified-Since at the Last-Modified with 304', async () => {
    const first = await get('/reports/nums/')
    const again = await get('/reports/nums/').set(
      'If-Modified-Since',
      first.headers['last-modified'] as string,
    )
    expect(again.status).toBe(304)
  })

  it('answers 404 once the object is gone from the bucket', async () => {
    await storage.delete('docs/nums.txt')
    expect((await get('/reports/nums/')).status).toBe(404)
  })

  it('answers 503 when S3 cannot be reached, and serves again once it can', async () => {
    const stopped = s3.storage({
      bucket,
      prefix: 'media',
      endpoint: 'http://127.0.0.1:1',
      requestTimeout: 2000,
    })
    storages.register(STORAGE, stopped)
    try {
      expect((await get('/reports/nums/')).status).toBe(503)
    } finally {
      storages.register(STORAGE, storage)
    }
    expect((await get('/reports/nums/')).status).toBe(200)
  })
})
