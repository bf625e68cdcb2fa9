/** @module S3Storage passes the Storage contract on s3rver, and keeps its S3-specific promises. */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import {
  ConfigurationError,
  DownloadError,
  FileNotFoundError,
  ServiceUnavailableError,
  UnsafePathError,
} from '../../src/errors'
import { S3Storage, type S3StorageOptions } from '../../src/s3/s3-storage'
import { settle } from '../helpers/process-stats'
import { countCommands, S3_CREDENTIALS, S3_REGION, type S3TestServer, startS3Server } from '../helpers/s3'
import { readAll, rejectionOf } from '../helpers/streams'
import { binaryPayload, chunksOf, describeStorageContract } from './storage.contract'

let s3: S3TestServer

beforeAll(async () => {
  s3 = await startS3Server()
})

afterAll(async () => {
  await s3.stop()
})

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

describeStorageContract('S3Storage', async () => {
  const storage = s3.storage({ bucket: await s3.bucket() })
  return { storage, cleanup: async () => storage.destroy() }
})

/** Objects beside the prefix, in the same bucket: a prefixed storage must neither see nor touch them. */
const NEIGHBOURS = ['outside.txt', 'tenant/ab.txt', 'tenant/a.txt', 'tenant/b/x.txt']

describeStorageContract('S3Storage with a prefix', async () => {
  const bucket = await s3.bucket()
  const client = s3.client()
  for (const Key of NEIGHBOURS) await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }))
  const storage = s3.storage({ bucket, prefix: './tenant//a' })
  return {
    storage,
    cleanup: async () => {
      storage.destroy()
      for (const Key of NEIGHBOURS) await client.send(new HeadObjectCommand({ Bucket: bucket, Key }))
      client.destroy()
    },
  }
})

/** A Readable of `payload` in chunks of an odd size, made only as they are read. */
function oddChunks(payload: Buffer, size = 100_003): Readable {
  return Readable.from(chunksOf(payload, size))
}

/** An async iterable that yields `bytes`, then throws "source broke". */
async function* failingAfter(bytes: number): AsyncGenerator<Uint8Array> {
  const chunk = Buffer.alloc(1024 * 1024, 0x78)
  for (let sent = 0; sent < bytes; sent += chunk.length) yield chunk
  throw new Error('source broke')
}

/** The connections `server` has open once they have fallen to `target`, or after about 2 s of waiting. */
async function settledConnections(server: S3TestServer, target: number): Promise<number> {
  let count = await server.connections()
  for (let attempt = 0; attempt < 100 && count > target; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    count = await server.connections()
  }
  return count
}

describe('S3Storage on s3rver', () => {
  let bucket: string
  let storage: S3Storage

  beforeEach(async () => {
    bucket = await s3.bucket()
    storage = s3.storage({ bucket })
  })

  afterEach(() => {
    storage.destroy()
  })

  describe('name', () => {
    it('names the bucket', () => {
      expect(storage.name).toBe(`S3Storage(${bucket})`)
    })

    it('names the bucket and the normalised prefix', () => {
      const prefixed = s3.storage({ bucket, prefix: './tenant//a/' })
      expect(prefixed.name).toBe(`S3Storage(${bucket}/tenant/a)`)
      expect(prefixed.prefix).toBe('tenant/a/')
      prefixed.destroy()
    })

    it('never names the endpoint', () => {
      expect(storage.name).not.toContain(String(s3.port))
    })
  })

  describe('save() of a multipart upload streamed in odd-sized chunks', () => {
    // 11 MiB and a bit: three parts of 5 MiB, the last one short.
    const payload = binaryPayload(11 * 1024 * 1024 + 12_345)

    it('stores the bytes as they were, with no checksum trailer inside the object', async () => {
      const counts = countCommands(storage.client)
      const saved = await storage.save('big.bin', oddChunks(payload))
      expect(counts.count('CreateMultipartUploadCommand')).toBe(1)
      expect(counts.count('UploadPartCommand')).toBe(3)
      expect(counts.count('CompleteMultipartUploadCommand')).toBe(1)
      expect(counts.count('PutObjectCommand')).toBe(0)
      expect(saved.size).toBe(payload.length)
      // Read back behind the storage's back too: the object itself is the payload, byte for byte.
      const object = await s3.client().send(new GetObjectCommand({ Bucket: bucket, Key: 'big.bin' }))
      expect(object.ContentLength).toBe(payload.length)
      const raw = Buffer.from(
        await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      )
      expect(sha256(raw)).toBe(sha256(payload))
      expect(sha256(await readAll(await storage.open('big.bin')))).toBe(sha256(payload))
    })

    it('reads a range across the boundary between two parts', async () => {
      await storage.save('big.bin', oddChunks(payload))
      const start = 5 * 1024 * 1024 - 10
      const end = 5 * 1024 * 1024 + 10
      expect(
        (await readAll(await storage.open('big.bin', { start, end }))).equals(
          payload.subarray(start, end + 1),
        ),
      ).toBe(true)
    })

    it('uses parts of partSize bytes when it is set', async () => {
      const sized = s3.storage({ bucket, partSize: 6 * 1024 * 1024 })
      const counts = countCommands(sized.client)
      await sized.save('big.bin', oddChunks(payload))
      expect(counts.count('UploadPartCommand')).toBe(2)
      expect(sha256(await readAll(await sized.open('big.bin')))).toBe(sha256(payload))
      sized.destroy()
    })

    it('uploads several parts at once by default', async () => {
      const counts = countCommands(storage.client)
      await storage.save('big.bin', oddChunks(payload))
      expect(counts.concurrent.get('UploadPartCommand')).toBeGreaterThan(1)
    })

    it('uploads one part at a time with queueSize 1', async () => {
      const serial = s3.storage({ bucket, queueSize: 1 })
      const counts = countCommands(serial.client)
      await serial.save('big.bin', oddChunks(payload))
      expect(counts.count('UploadPartCommand')).toBe(3)
      expect(counts.concurrent.get('UploadPartCommand')).toBe(1)
      serial.destroy()
    })
  })

  describe('save() of a small file', () => {
    it('sends one PutObject, no multipart upload', async () => {
      const counts = countCommands(storage.client)
      await storage.save('small.txt', Readable.from(['one ', 'two']))
      expect(counts.count('PutObjectCommand')).toBe(1)
      expect(counts.count('CreateMultipartUploadCommand')).toBe(0)
      expect((await readAll(await storage.open('small.txt'))).toString()).toBe('one two')
    })
  })

  describe('save() from a source that fails after the first part', () => {
    it('rejects with the source’s error and aborts the multipart upload', async () => {
      const counts = countCommands(storage.client)
      const error = await rejectionOf(storage.save('new.bin', failingAfter(7 * 1024 * 1024)))
      expect((error as Error).message).toBe('source broke')
      expect(counts.count('UploadPartCommand')).toBeGreaterThanOrEqual(1)
      expect(counts.count('AbortMultipartUploadCommand')).toBe(1)
      expect(counts.count('CompleteMultipartUploadCommand')).toBe(0)
      expect(await storage.exists('new.bin')).toBe(false)
    })

    it('leaves the object already at that key untouched', async () => {
      await storage.save('doc.txt', 'original')
      await rejectionOf(storage.save('doc.txt', failingAfter(7 * 1024 * 1024)))
      expect((await readAll(await storage.open('doc.txt'))).toString()).toBe('original')
      expect((await storage.stat('doc.txt')).size).toBe(8)
    })
  })

  describe('open() with a range', () => {
    beforeEach(async () => {
      await storage.save('nums.txt', '123456789')
    })

    const read = async (start: number, end: number) =>
      (await readAll(await storage.open('nums.txt', { start, end }))).toString()

    it('reads bytes=0-0 as one byte, although s3rver answers it with the whole object', async () => {
      expect(await read(0, 0)).toBe('1')
    })

    it('reads a range that runs past the end up to the last byte', async () => {
      expect(await read(6, 100)).toBe('789')
    })

    it('reads a range that starts past the end as empty, as LocalStorage does', async () => {
      expect(await read(9, 20)).toBe('')
    })

    it('streams the response body itself when the server sent exactly the range', async () => {
      const stream = await storage.open('nums.txt', { start: 2, end: 5 })
      // The SDK's body is the HTTP response: nothing was copied into a buffer or another stream.
      expect(stream.constructor.name).toBe('IncomingMessage')
      expect((await readAll(stream)).toString()).toBe('3456')
    })
  })

  describe('signedUrl()', () => {
    beforeEach(async () => {
      await storage.save('docs/naïve café.txt', 'Hello world!\n')
    })

    it('gives a URL that serves the bytes with the type and disposition asked for', async () => {
      const url = await storage.signedUrl('docs/naïve café.txt', {
        expiresIn: 60,
        contentDisposition: `attachment; filename="naive cafe.txt"; filename*=UTF-8''na%C3%AFve%20caf%C3%A9.txt`,
        contentType: 'text/plain; charset=utf-8',
      })
      const response = await fetch(url)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8')
      expect(response.headers.get('content-disposition')).toBe(
        `attachment; filename="naive cafe.txt"; filename*=UTF-8''na%C3%AFve%20caf%C3%A9.txt`,
      )
      expect(await response.text()).toBe('Hello world!\n')
    })

    it('leaves the object’s own headers when no overrides are asked for', async () => {
      const response = await fetch(await storage.signedUrl('docs/naïve café.txt', { expiresIn: 60 }))
      expect(response.status).toBe(200)
      expect(response.headers.get('content-disposition')).toBeNull()
      expect(response.headers.get('content-type')).toBe('application/octet-stream')
      expect(await response.text()).toBe('Hello world!\n')
    })

    it('serves a Range from the URL', async () => {
      const url = await storage.signedUrl('docs/naïve café.txt', { expiresIn: 60 })
      const response = await fetch(url, { headers: { Range: 'bytes=0-4' } })
      expect(response.status).toBe(206)
      expect(await response.text()).toBe('Hello')
    })

    it('signs the key under the prefix, and carries the expiry', async () => {
      const prefixed = s3.storage({ bucket, prefix: 'tenant' })
      await prefixed.save('a.txt', 'in the prefix')
      const url = await prefixed.signedUrl('a.txt', { expiresIn: 300 })
      expect(new URL(url).pathname).toBe(`/${bucket}/tenant/a.txt`)
      expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('300')
      expect(await (await fetch(url)).text()).toBe('in the prefix')
      prefixed.destroy()
    })

    it('never puts the secret key in the URL', async () => {
      const secretive = s3.storage({
        bucket,
        clientConfig: {
          credentials: { accessKeyId: S3_CREDENTIALS.accessKeyId, secretAccessKey: 'hush-hush-42' },
        },
      })
      const url = await secretive.signedUrl('docs/naïve café.txt', { expiresIn: 60 })
      expect(url).not.toContain('hush-hush-42')
      expect(await (await fetch(url)).text()).toBe('Hello world!\n')
      secretive.destroy()
    })

    it.each([
      ['zero', 0],
      ['a fraction', 1.5],
      ['more than seven days', 7 * 24 * 3600 + 1],
      ['a string', '60'],
    ])('refuses an expiresIn of %s with a ConfigurationError naming it', async (_label, expiresIn) => {
      const error = await rejectionOf(
        storage.signedUrl('docs/naïve café.txt', { expiresIn: expiresIn as number }),
      )
      expect(error).toBeInstanceOf(ConfigurationError)
      expect((error as Error).message).toContain('"expiresIn"')
    })

    it.each([
      ['contentDisposition', 'attachment\r\nSet-Cookie: a=b'],
      ['contentType', 'text/plain\n'],
      ['contentType', 'text/plain; name="é"'],
    ])('refuses a %s that is no printable header value', async (option, value) => {
      const error = await rejectionOf(
        storage.signedUrl('docs/naïve café.txt', { expiresIn: 60, [option]: value }),
      )
      expect(error).toBeInstanceOf(ConfigurationError)
      expect((error as Error).message).toContain(`"${option}"`)
    })

    it('refuses an unsafe key like every other method', async () => {
      expect(await rejectionOf(storage.signedUrl('../x', { expiresIn: 60 }))).toBeInstanceOf(UnsafePathError)
    })
  })

  describe('list()', () => {
    const listed = async (target: S3Storage, prefix?: string) => {
      const keys: string[] = []
      for await (const key of target.list(prefix)) keys.push(key)
      return keys
    }

    it('pages through ListObjectsV2, listPageSize keys at a time', async () => {
      const paged = s3.storage({ bucket, listPageSize: 2 })
      for (const key of ['a.txt', 'b.txt', 'c/d.txt', 'e.txt', 'f.txt']) await paged.save(key, key)
      const counts = countCommands(paged.client)
      expect((await listed(paged)).sort()).toEqual(['a.txt', 'b.txt', 'c/d.txt', 'e.txt', 'f.txt'])
      expect(counts.count('ListObjectsV2Command')).toBe(3)
      paged.destroy()
    })

    it('asks for up to 1000 keys a page by default', async () => {
      for (const key of ['a.txt', 'b.txt', 'c/d.txt', 'e.txt', 'f.txt']) await storage.save(key, key)
      const counts = countCommands(storage.client)
      expect(await listed(storage)).toHaveLength(5)
      expect(counts.count('ListObjectsV2Command')).toBe(1)
    })

    it('skips objects whose names are not keys as they are', async () => {
      const client = s3.client()
      // (s3rver cannot store `a//b.txt`: its router refuses the empty segment.)
      for (const Key of ['folder/', 'back\\slash.txt', 'new\nline.txt', 'ok.txt'])
        await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'x' }))
      expect(await listed(storage)).toEqual(['ok.txt'])
    })

    it('yields the keys of a prefixed storage without its prefix, and nothing beside it', async () => {
      const client = s3.client()
      for (const Key of ['tenant/a/x.txt', 'tenant/ab.txt', 'tenant/a.txt', 'other.txt'])
        await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'x' }))
      const prefixed = s3.storage({ bucket, prefix: 'tenant/a' })
      expect(await listed(prefixed)).toEqual(['x.txt'])
      expect(await listed(prefixed, 'x')).toEqual(['x.txt'])
      expect(await listed(prefixed, 'ab')).toEqual([])
      prefixed.destroy()
    })

    it('rejects for a bucket that does not exist, with an error that is not a 404', async () => {
      const missing = s3.storage({ bucket: 'no-such-bucket-here' })
      const error = await rejectionOf(listed(missing))
      expect(error).toBeInstanceOf(Error)
      expect(error).not.toBeInstanceOf(DownloadError)
      expect((error as Error).message).toContain('S3Storage(no-such-bucket-here)')
      expect((error as Error).message).toContain('NoSuchBucket')
      missing.destroy()
    })
  })

  describe('a prefix', () => {
    it('puts every object under it', async () => {
      const prefixed = s3.storage({ bucket, prefix: 'tenant/a' })
      await prefixed.save('docs/x.txt', 'inside')
      const head = await s3
        .client()
        .send(new HeadObjectCommand({ Bucket: bucket, Key: 'tenant/a/docs/x.txt' }))
      expect(head.ContentLength).toBe(6)
      expect(await storage.exists('docs/x.txt')).toBe(false)
      expect(await storage.exists('tenant/a/docs/x.txt')).toBe(true)
      prefixed.destroy()
    })

    it('is not needed: without one, keys are object names', async () => {
      await storage.save('docs/x.txt', 'root')
      const head = await s3.client().send(new HeadObjectCommand({ Bucket: bucket, Key: 'docs/x.txt' }))
      expect(head.ContentLength).toBe(4)
    })
  })

  describe('a ready client', () => {
    it('is used as it is, and destroy() leaves it open', async () => {
      const client = s3.client()
      const counts = countCommands(client)
      const given = new S3Storage({ bucket, client })
      expect(given.client).toBe(client)
      await given.save('a.txt', 'through the given client')
      expect(counts.count('PutObjectCommand')).toBe(1)
      given.destroy()
      expect((await readAll(await new S3Storage({ bucket, client }).open('a.txt'))).toString()).toBe(
        'through the given client',
      )
    })
  })
})

describe('S3Storage when S3 cannot be reached', () => {
  it('rejects every call with ServiceUnavailableError (503) once the endpoint has stopped', async () => {
    const other = await startS3Server()
    const bucket = await other.bucket()
    const storage = new S3Storage({
      bucket,
      endpoint: other.endpoint,
      region: S3_REGION,
      forcePathStyle: true,
      clientConfig: {
        ...other.clientConfig,
        endpoint: undefined,
        region: undefined,
        forcePathStyle: undefined,
      },
    })
    await storage.save('a.txt', 'saved while it ran')
    await other.stop()
    let produced = 0
    const source = new Readable({
      read() {
        produced++
        this.push(Buffer.alloc(1024 * 1024, 0x61))
      },
    })
    const calls: [string, () => Promise<unknown>][] = [
      ['stat', () => storage.stat('a.txt')],
      ['exists', () => storage.exists('a.txt')],
      ['open', () => storage.open('a.txt')],
      ['open with a range', () => storage.open('a.txt', { start: 0, end: 3 })],
      ['save', () => storage.save('b.txt', 'x')],
      ['save from a stream', () => storage.save('c.bin', source)],
      ['delete', () => storage.delete('a.txt')],
      ['list', () => storage.list()[Symbol.asyncIterator]().next()],
    ]
    for (const [label, call] of calls) {
      const error = await rejectionOf(call())
      expect([label, error]).toEqual([label, expect.any(ServiceUnavailableError)])
      const message = (error as Error).message
      expect(message).toContain(storage.name)
      expect(message).not.toContain(String(other.port))
      expect(message).not.toContain('127.0.0.1')
    }
    // The endless stream that could not be uploaded was destroyed once the upload gave up: read no
    // further than the parts buffered for it (4 × 5 MiB) and what the streams hold between them.
    expect(source.destroyed).toBe(true)
    expect(produced).toBeLessThanOrEqual(30)
    storage.destroy()
  })

  describe('with a server that answers with errors', () => {
    let server: Server
    let endpoint: string
    let answer: { status: number; code: string }

    beforeAll(async () => {
      server = createServer((req, res) => {
        req.resume()
        const body =
          req.method === 'HEAD'
            ? ''
            : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${answer.code}</Code><Message>No.</Message></Error>`
        res.writeHead(answer.status, {
          'Content-Type': 'application/xml',
          'Content-Length': Buffer.byteLength(body),
        })
        res.end(body)
      })
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })

    afterAll(async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    })

    const storageOn = (options: Partial<S3StorageOptions> = {}) =>
      new S3Storage({
        bucket: 'b',
        endpoint,
        region: S3_REGION,
        forcePathStyle: true,
        clientConfig: { credentials: { ...S3_CREDENTIALS }, maxAttempts: 1 },
        ...options,
      })

    it.each([
      [503, 'SlowDown'],
      [503, 'ServiceUnavailable'],
      [500, 'InternalError'],
      [429, 'TooManyRequests'],
    ])('turns %s %s into ServiceUnavailableError', async (status, code) => {
      answer = { status, code }
      const storage = storageOn()
      expect(await rejectionOf(storage.stat('a.txt'))).toBeInstanceOf(ServiceUnavailableError)
      expect(await rejectionOf(storage.open('a.txt'))).toBeInstanceOf(ServiceUnavailableError)
      expect(await rejectionOf(storage.delete('a.txt'))).toBeInstanceOf(ServiceUnavailableError)
      storage.destroy()
    })

    it('turns 403 AccessDenied into an error that is neither a 404 nor a 503 (a 500 for the app)', async () => {
      answer = { status: 403, code: 'AccessDenied' }
      const storage = storageOn()
      const error = await rejectionOf(storage.open('a.txt'))
      expect(error).not.toBeInstanceOf(DownloadError)
      expect((error as Error).message).toBe(`${storage.name} could not open "a.txt": AccessDenied (HTTP 403)`)
      expect((error as Error).cause).toMatchObject({ name: 'AccessDenied' })
      storage.destroy()
    })

    it('turns 404 NoSuchKey into FileNotFoundError', async () => {
      answer = { status: 404, code: 'NoSuchKey' }
      const storage = storageOn()
      expect(await rejectionOf(storage.open('a.txt'))).toBeInstanceOf(FileNotFoundError)
      expect(await rejectionOf(storage.stat('a.txt'))).toBeInstanceOf(FileNotFoundError)
      expect(await storage.exists('a.txt')).toBe(false)
      await expect(storage.delete('a.txt')).resolves.toBeUndefined()
      storage.destroy()
    })
  })

  describe('with a server that never answers', () => {
    let server: Server
    let endpoint: string

    beforeAll(async () => {
      server = createServer((req) => req.resume())
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })

    afterAll(async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    })

    it('rejects with ServiceUnavailableError after requestTimeout, instead of hanging', async () => {
      const storage = new S3Storage({
        bucket: 'b',
        endpoint,
        region: S3_REGION,
        forcePathStyle: true,
        requestTimeout: 200,
        clientConfig: { credentials: { ...S3_CREDENTIALS }, maxAttempts: 1 },
      })
      const error = await rejectionOf(storage.open('a.txt'))
      expect(error).toBeInstanceOf(ServiceUnavailableError)
      expect((error as Error).message).toContain('timed out')
      expect(await rejectionOf(storage.stat('a.txt'))).toBeInstanceOf(ServiceUnavailableError)
      storage.destroy()
    })
  })
})

describe('S3Storage connections', () => {
  let server: S3TestServer
  let bucket: string
  /** The connections open before each test: the helper's own client keeps one. */
  let baseline: number
  const big = binaryPayload(1024 * 1024)

  beforeAll(async () => {
    server = await startS3Server()
    bucket = await server.bucket()
    const seeding = server.storage({ bucket })
    await seeding.save('nums.txt', '123456789')
    await seeding.save('big.bin', big)
    seeding.destroy()
    baseline = await settledConnections(server, 1)
    expect(baseline).toBeLessThanOrEqual(1)
  })

  afterAll(async () => {
    await server.stop()
  })

  it('are all freed after 200 open() + destroy() cycles, unread, midway and cut to a range', async () => {
    // A leaked socket would leave the next open() waiting for one: requestTimeout turns that into a 503.
    const storage = server.storage({ bucket, maxSockets: 2, requestTimeout: 5000 })
    for (let i = 0; i < 200; i++) {
      const kind = i % 4
      const stream =
        kind === 0
          ? await storage.open('nums.txt')
          : kind === 1
            ? await storage.open('big.bin', { start: 0, end: 0 }) // s3rver sends it all: cut here
            : await storage.open('big.bin', kind === 2 ? { start: 10, end: 900_000 } : undefined)
      if (kind >= 2) await once(stream, 'data')
      stream.destroy()
    }
    // With two sockets at most, one leaked socket per cycle would have stalled the third open().
    expect(await settledConnections(server, baseline + 2)).toBeLessThanOrEqual(baseline + 2)
    expect(sha256(await readAll(await storage.open('big.bin')))).toBe(sha256(big))
    storage.destroy()
    expect(await settledConnections(server, baseline)).toBe(baseline)
  })

  it('are capped at maxSockets', async () => {
    const storage = server.storage({ bucket, maxSockets: 2 })
    let opened = 0
    const count = () => opened++
    server.httpServer.on('connection', count)
    const bodies = await Promise.all(
      Array.from({ length: 6 }, async () => readAll(await storage.open('big.bin'))),
    )
    server.httpServer.off('connection', count)
    for (const body of bodies) expect(body.length).toBe(big.length)
    expect(opened).toBeLessThanOrEqual(2)
    storage.destroy()
  })

  it('are not capped at two by default', async () => {
    const storage = server.storage({ bucket })
    const streams = await Promise.all(Array.from({ length: 6 }, () => storage.open('big.bin')))
    // The server counts a connection once it accepted it, which a busy machine may do a little later.
    const opened = await settle(
      () => server.connections(),
      (count) => count >= baseline + 6,
    )
    expect(opened).toBeGreaterThanOrEqual(baseline + 6)
    for (const stream of streams) stream.destroy()
    storage.destroy()
  })
})

describe('S3Storage options', () => {
  const base: S3StorageOptions = { bucket: 'media', region: S3_REGION }
  const make = (options: unknown) => () => new S3Storage(options as S3StorageOptions)

  it.each([
    ['no options', undefined, 'bucket'],
    ['no bucket', { region: S3_REGION }, 'bucket'],
    ['an empty bucket', { bucket: '' }, 'bucket'],
    ['a bucket with a slash', { bucket: 'a/b' }, 'bucket'],
    ['a bucket that is not a string', { bucket: 42 }, 'bucket'],
    ['an unknown option', { ...base, buckett: 'x' }, 'buckett'],
    ['a prefix that climbs out', { ...base, prefix: '../x' }, 'prefix'],
    ['an absolute prefix', { ...base, prefix: '/media' }, 'prefix'],
    ['a prefix with a NUL byte', { ...base, prefix: 'a\u0000' }, 'prefix'],
    ['a prefix that is not a string', { ...base, prefix: 1 }, 'prefix'],
    ['a region with a space', { ...base, region: 'eu west' }, 'region'],
    ['an endpoint that is no URL', { ...base, endpoint: 'localhost:9000' }, 'endpoint'],
    ['an ftp: endpoint', { ...base, endpoint: 'ftp://127.0.0.1/' }, 'endpoint'],
    ['an endpoint with credentials', { ...base, endpoint: 'http://key:secret@127.0.0.1:9000' }, 'endpoint'],
    ['a forcePathStyle that is a string', { ...base, forcePathStyle: 'true' }, 'forcePathStyle'],
    ['a clientConfig that is not an object', { ...base, clientConfig: 'x' }, 'clientConfig'],
    ['a region given twice', { ...base, clientConfig: { region: 'eu-west-3' } }, 'clientConfig.region'],
    ['a client that is no S3Client', { bucket: 'media', client: {} }, 'client'],
    ['a maxSockets of 0', { ...base, maxSockets: 0 }, 'maxSockets'],
    ['a fractional maxSockets', { ...base, maxSockets: 2.5 }, 'maxSockets'],
    ['a negative connectionTimeout', { ...base, connectionTimeout: -1 }, 'connectionTimeout'],
    ['a requestTimeout that is a string', { ...base, requestTimeout: '30' }, 'requestTimeout'],
    ['a partSize under 5 MiB', { ...base, partSize: 5 * 1024 * 1024 - 1 }, 'partSize'],
    ['a queueSize of 0', { ...base, queueSize: 0 }, 'queueSize'],
    ['a listPageSize over 1000', { ...base, listPageSize: 1001 }, 'listPageSize'],
    ['a listPageSize of 0', { ...base, listPageSize: 0 }, 'listPageSize'],
  ])('throws a ConfigurationError for %s, naming the option', (_label, options, name) => {
    expect(make(options)).toThrow(ConfigurationError)
    expect(make(options)).toThrow(`"${name}"`)
  })

  describe('with a ready client', () => {
    let client: S3Client

    beforeAll(() => {
      client = s3.client()
    })

    it.each([
      'region',
      'endpoint',
      'forcePathStyle',
      'clientConfig',
      'maxSockets',
      'connectionTimeout',
      'requestTimeout',
    ])('refuses option "%s", which only a client it builds would use', (name) => {
      const value =
        { region: 'eu-west-3', endpoint: 'http://127.0.0.1:1', forcePathStyle: true, clientConfig: {} }[
          name
        ] ?? 10
      expect(make({ bucket: 'media', client, [name]: value })).toThrow(`"${name}"`)
    })
  })

  it.each(['maxSockets', 'connectionTimeout', 'requestTimeout'])(
    'refuses option "%s" beside a clientConfig.requestHandler',
    (name) => {
      expect(
        make({ ...base, clientConfig: { requestHandler: { connectionTimeout: 1 } }, [name]: 10 }),
      ).toThrow(`"${name}"`)
    },
  )

  it('accepts every option at once', () => {
    const storage = new S3Storage({
      bucket: 'media',
      prefix: 'uploads',
      region: 'eu-west-3',
      endpoint: 'https://s3.example.test',
      forcePathStyle: true,
      clientConfig: { maxAttempts: 2 },
      maxSockets: 100,
      connectionTimeout: 1000,
      requestTimeout: 0,
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
      listPageSize: 500,
    })
    expect(storage.name).toBe('S3Storage(media/uploads)')
    storage.destroy()
  })
})
