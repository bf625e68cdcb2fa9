/**
 * The demo on S3 by configuration: `mediaStorage()` (ormconfig.ts) with STORAGE=s3 and the S3_*
 * variables, the real seeds written into an s3rver bucket, and downloads served from it; plus the
 * startup errors for wrong variables.
 */
import { spawn } from 'node:child_process'
import type { Server } from 'node:http'
import path from 'node:path'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import request from 'supertest'
import type { DataSource } from 'typeorm'
import { buildApp } from '../../demo/app'
import { MEDIA_FILES, random1m, SEEDS, seed } from '../../demo/seed'
import { Document } from '../../entities/Document'
import { mediaRoot, mediaStorage } from '../../ormconfig'
import { ConfigurationError, LocalStorage, storages } from '../../src'
import { S3Storage } from '../../src/s3'
import { assertDownload, binaryParser } from '../../src/testing'
import { createTestDataSource } from '../helpers/database'
import { type S3TestServer, startS3Server } from '../helpers/s3'

let s3: S3TestServer
let bucket: string
let storage: S3Storage
let dataSource: DataSource
let app: Server
/** The AWS_* variables as they were before the test set s3rver's. */
let savedEnv: Record<string, string | undefined>

beforeAll(async () => {
  s3 = await startS3Server()
  bucket = await s3.bucket()
  const env = s3.env(bucket, 'demo-media')
  // The SDK reads credentials and checksum settings from the process's own environment.
  const aws = Object.keys(env).filter((name) => name.startsWith('AWS_'))
  savedEnv = Object.fromEntries(aws.map((name) => [name, process.env[name]]))
  for (const name of aws) process.env[name] = env[name]
  const media = mediaStorage(env)
  if (!(media instanceof S3Storage)) throw new Error(`STORAGE=s3 gave ${media.name}`)
  storage = media
  storages.register('default', storage)
  dataSource = await createTestDataSource()
  await seed(dataSource)
  app = buildApp(dataSource).listen(0, '127.0.0.1')
})

afterAll(async () => {
  app.closeAllConnections()
  await new Promise((resolve) => app.close(resolve))
  await dataSource.destroy()
  storages.clear()
  storage.destroy()
  await s3.stop()
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
})

const get = (url: string) => request(app).get(url).buffer(true).parse(binaryParser)

describe('mediaStorage() with STORAGE=s3', () => {
  it('is an S3Storage on the bucket, under S3_PREFIX', () => {
    expect(storage.name).toBe(`S3Storage(${bucket}/demo-media)`)
  })

  it('holds what the seed wrote, under the prefix', async () => {
    const keys: string[] = []
    for await (const key of storage.list()) keys.push(key)
    for (const key of Object.keys(MEDIA_FILES)) expect(keys).toContain(key)
    expect(keys).toContain('documents/hello-world/file.txt')
    expect(keys.some((key) => key.startsWith('photos/'))).toBe(true)
    const head = await s3
      .client()
      .send(new HeadObjectCommand({ Bucket: bucket, Key: 'demo-media/hello-world.txt' }))
    expect(head.ContentLength).toBe(13)
  })
})

describe('the demo seeds on S3', () => {
  it('insert every row, with the checksums of their bytes', async () => {
    const rows = await dataSource.getRepository(Document).find({ order: { id: 'ASC' } })
    expect(rows.map((row) => row.slug)).toEqual(SEEDS.map((spec) => spec.slug))
    expect(rows.find((row) => row.slug === 'random-1m')?.file?.size).toBe(random1m().length)
  })

  it('are idempotent: seeding again adds no row and changes no checksum', async () => {
    const before = await dataSource.getRepository(Document).find({ order: { id: 'ASC' } })
    await seed(dataSource)
    const after = await dataSource.getRepository(Document).find({ order: { id: 'ASC' } })
    expect(after.map((row) => [row.slug, row.file?.sha256 ?? null])).toEqual(
      before.map((row) => [row.slug, row.file?.sha256 ?? null]),
    )
  })
})

describe('the demo routes on S3', () => {
  it('serve hello-world file.txt as an attachment', async () => {
    assertDownload(await get('/object/default-file/hello-world/'), {
      content: 'Hello world!\n',
      basename: 'file.txt',
      contentType: 'text/plain',
      attachment: true,
      size: 13,
    })
  })

  it('serve random-1m byte for byte, and a range of it', async () => {
    assertDownload(await get('/object/default-file/random-1m/'), { content: random1m(), size: 1024 * 1024 })
    const response = await get('/object/default-file/random-1m/').set('Range', 'bytes=1000-1009')
    expect(response.status).toBe(206)
    expect((response.body as Buffer).equals(random1m().subarray(1000, 1010))).toBe(true)
  })

  it('serve the storage view from the bucket', async () => {
    assertDownload(await get('/storage/static-path/hello-world.txt'), { content: 'Hello world!\n' })
  })

  it('answer 404 for the row whose file was removed from the bucket', async () => {
    expect((await get('/object/default-file/missing/')).status).toBe(404)
  })
})

describe('mediaStorage() configuration', () => {
  it('is the local folder by default', () => {
    const local = mediaStorage({ MEDIA_ROOT: '/tmp/demo-media' })
    expect(local).toBeInstanceOf(LocalStorage)
    expect((local as LocalStorage).root).toBe('/tmp/demo-media')
    expect((mediaStorage({ STORAGE: 'local' }) as LocalStorage).root).toBe(mediaRoot({}))
  })

  it.each([
    ['a STORAGE that is neither local nor s3', { STORAGE: 'S3 ' }, 'STORAGE'],
    ['STORAGE=s3 without S3_BUCKET', { STORAGE: 's3' }, 'S3_BUCKET'],
    ['an S3_BUCKET that is no bucket name', { STORAGE: 's3', S3_BUCKET: 'a/b' }, 'S3_BUCKET'],
    [
      'an S3_ENDPOINT that is no URL',
      { STORAGE: 's3', S3_BUCKET: 'media', S3_ENDPOINT: '127.0.0.1:9000' },
      'S3_ENDPOINT',
    ],
    ['an S3_REGION with a space', { STORAGE: 's3', S3_BUCKET: 'media', S3_REGION: 'eu west' }, 'S3_REGION'],
    ['an S3_PREFIX that climbs out', { STORAGE: 's3', S3_BUCKET: 'media', S3_PREFIX: '../x' }, 'S3_PREFIX'],
    [
      'an S3_FORCE_PATH_STYLE of yes',
      { STORAGE: 's3', S3_BUCKET: 'media', S3_FORCE_PATH_STYLE: 'yes' },
      'S3_FORCE_PATH_STYLE',
    ],
  ])('throws a ConfigurationError for %s, naming the variable', (_label, env, variable) => {
    expect(() => mediaStorage(env)).toThrow(ConfigurationError)
    expect(() => mediaStorage(env)).toThrow(variable)
  })

  it('stops `npm start` at once with a message that names the variable', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join('demo', 'main.ts')], {
      cwd: path.resolve(__dirname, '..', '..'),
      env: {
        ...process.env,
        STORAGE: 's3',
        S3_BUCKET: '',
        DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code).not.toBe(0)
    expect(output).toContain('S3_BUCKET')
    expect(output).not.toContain('listening')
  })
})
