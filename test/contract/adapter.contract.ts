/**
 * The HTTP checks every framework adapter passes, each on its framework's real server over loopback
 * (cf. the storage contract): GET, HEAD, single and multipart Range, 304, 412, 416, 404, 405 with
 * Allow, a unicode name, signed URLs, a storage that fails mid-stream, and 100 aborted downloads
 * with the process's descriptors back to their level. An adapter's test file calls
 * `describeAdapterContract(name, start)`; `start` mounts the given views on the routes of
 * {@link ContractViews} with that adapter and listens on a free loopback port.
 */
import { createHash } from 'node:crypto'
import type { DataSource } from 'typeorm'
import { Document } from '../../entities/Document'
import { ObjectDownloadView, StorageDownloadView, StoredFile, signUrl, storages } from '../../src'
import type { DownloadView } from '../../src/views/download-view'
import { createTestDataSource } from '../helpers/database'
import { FaultyStorage } from '../helpers/fault-storage'
import { abortAfterFirstChunk, exchange, exchangeOrHangUp } from '../helpers/http-client'
import { openDescriptors, settle } from '../helpers/process-stats'
import { temporaryStorage } from '../helpers/storage'

/** The views an adapter mounts, by route. `:slug` and `:name` are route parameters of those names. */
export interface ContractViews {
  /** `GET /documents/:slug`: Document.file by slug. */
  documents: DownloadView
  /** `GET /signed/:slug`: the same behind a signature. */
  signed: DownloadView
  /** `GET /failing/:name`: a storage whose streams fail after 64 KiB. */
  failing: DownloadView
}

/** A started app: its port, and how to stop it. */
export interface ContractServer {
  port: number
  close(): Promise<void>
}

const KEY = { id: 'contract', secret: 'a-secret-for-the-adapter-contract-suite-0123456789' }
/** 4 MiB of varied bytes: large enough to stream in several chunks. */
const BIG = Buffer.from(Array.from({ length: 4 * 1024 * 1024 }, (_, i) => (i * 31 + (i >> 9)) & 0xff))
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

export function describeAdapterContract(
  name: string,
  start: (views: ContractViews) => Promise<ContractServer>,
): void {
  describe(`the ${name} adapter (contract)`, () => {
    let dataSource: DataSource
    let removeMedia: () => Promise<void>
    let server: ContractServer
    let faulty: FaultyStorage

    const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
      exchange({ port: server.port, path, method, headers })

    beforeAll(async () => {
      const media = await temporaryStorage()
      removeMedia = media.remove
      storages.register('default', media.storage)
      await media.storage.save('docs/nums.txt', '123456789')
      await media.storage.save('docs/big.bin', BIG)
      await media.storage.save('big.bin', BIG)
      faulty = new FaultyStorage(media.storage)
      faulty.failAfter = 64 * 1024
      dataSource = await createTestDataSource()
      const documents = dataSource.getRepository(Document)
      await documents.save([
        documents.create({ slug: 'nums', file: Object.assign(new StoredFile(), { path: 'docs/nums.txt' }) }),
        documents.create({
          slug: 'unicode',
          file: Object.assign(new StoredFile(), { path: 'docs/nums.txt', name: 'résumé "final", v2.txt' }),
        }),
        documents.create({ slug: 'big', file: Object.assign(new StoredFile(), { path: 'docs/big.bin' }) }),
      ])
      const bySlug = { dataSource, entity: Document, lookup: 'slug', file: 'file' } as const
      server = await start({
        documents: new ObjectDownloadView(bySlug),
        signed: new ObjectDownloadView({
          ...bySlug,
          signature: { keys: [KEY] },
          logger: { error: () => undefined },
        }),
        failing: new StorageDownloadView({
          storage: faulty,
          param: 'name',
          logger: { error: () => undefined },
        }),
      })
    })

    afterAll(async () => {
      await server?.close()
      await dataSource?.destroy()
      await removeMedia?.()
      storages.clear()
    })

    it('answers GET with the bytes, their length, type, validators and name', async () => {
      const response = await get('/documents/nums')
      expect(response.status).toBe(200)
      expect(response.body.toString()).toBe('123456789')
      expect(response.headers).toMatchObject({
        'content-length': '9',
        'content-type': 'text/plain; charset=utf-8',
        'accept-ranges': 'bytes',
        'content-disposition': 'attachment; filename=nums.txt',
      })
      expect(response.headers.etag).toMatch(/^"[0-9a-f]{64}"$/)
      expect(response.headers['last-modified']).toBeDefined()
    })

    it('answers HEAD with the same headers and no body', async () => {
      const response = await get('/documents/nums', {}, 'HEAD')
      expect(response.status).toBe(200)
      expect(response.headers['content-length']).toBe('9')
      expect(response.body.length).toBe(0)
    })

    it('answers a single Range with 206', async () => {
      const response = await get('/documents/nums', { Range: 'bytes=2-5' })
      expect(response.status).toBe(206)
      expect(response.headers['content-range']).toBe('bytes 2-5/9')
      expect(response.body.toString()).toBe('3456')
    })

    it('answers several ranges with a multipart/byteranges 206', async () => {
      const response = await get('/documents/nums', { Range: 'bytes=0-0,4-5' })
      expect(response.status).toBe(206)
      const type = response.headers['content-type'] ?? ''
      const boundary = /^multipart\/byteranges; boundary=(.+)$/.exec(type)?.[1]
      expect(boundary).toBeDefined()
      const body = response.body.toString()
      expect(body).toContain('Content-Range: bytes 0-0/9\r\n\r\n1\r\n')
      expect(body).toContain('Content-Range: bytes 4-5/9\r\n\r\n56\r\n')
      expect(body.endsWith(`--${boundary}--\r\n`)).toBe(true)
      expect(Number(response.headers['content-length'])).toBe(response.body.length)
    })

    it('answers If-None-Match with 304, If-Match with 412, a range past the end with 416', async () => {
      const etag = (await get('/documents/nums', {}, 'HEAD')).headers.etag as string
      const notModified = await get('/documents/nums', { 'If-None-Match': etag })
      expect(notModified.status).toBe(304)
      expect(notModified.body.length).toBe(0)
      expect((await get('/documents/nums', { 'If-Match': '"other"' })).status).toBe(412)
      const unsatisfiable = await get('/documents/nums', { Range: 'bytes=100-200' })
      expect(unsatisfiable.status).toBe(416)
      expect(unsatisfiable.headers['content-range']).toBe('bytes */9')
    })

    it('answers a missing row with 404, and another method with 405 and Allow', async () => {
      expect((await get('/documents/missing')).status).toBe(404)
      const post = await get('/documents/nums', {}, 'POST')
      expect(post.status).toBe(405)
      expect(post.headers.allow).toBe('GET, HEAD')
    })

    it('names a unicode file with filename* and an ASCII fallback', async () => {
      const response = await get('/documents/unicode')
      expect(response.status).toBe(200)
      expect(response.headers['content-disposition']).toBe(
        `attachment; filename="resume _final_, v2.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%2C%20v2.txt`,
      )
    })

    it('refuses an unsigned URL with 403 and serves a signed one', async () => {
      expect((await get('/signed/nums')).status).toBe(403)
      const signed = await get(signUrl('/signed/nums', { key: KEY, expiresIn: 60 }))
      expect(signed.status).toBe(200)
      expect(signed.body.toString()).toBe('123456789')
    })

    it('cuts the connection when the storage fails mid-stream, never a short body as complete', async () => {
      const before = faulty.injected
      const response = await exchangeOrHangUp({ port: server.port, path: '/failing/big.bin' })
      if ('hungUp' in response) expect(response.hungUp).toBe(true)
      else {
        expect(response.complete).toBe(false)
        expect(response.body.length).toBeLessThan(BIG.length)
      }
      expect(faulty.injected).toBe(before + 1)
    })

    it('streams a large file whole, byte for byte', async () => {
      const response = await get('/documents/big')
      expect(response.status).toBe(200)
      expect(sha256(response.body)).toBe(sha256(BIG))
    })

    it('closes every file of 100 aborted downloads: descriptors back to their level', async () => {
      await get('/documents/big')
      const level = openDescriptors()
      for (let i = 0; i < 100; i++) await abortAfterFirstChunk({ port: server.port, path: '/documents/big' })
      const after = await settle(
        () => openDescriptors(),
        (count) => count <= level,
      )
      expect(after).toBeLessThanOrEqual(level)
      // And the next download is whole.
      const next = await get('/documents/big')
      expect(sha256(next.body)).toBe(sha256(BIG))
    })
  })
}
