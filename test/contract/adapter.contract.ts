/**
 * The HTTP checks every framework adapter passes, each on its framework's real server over loopback
 * (cf. the storage contract): GET, HEAD, single and multipart Range, 304, 412, 416, 404, 405 with
 * Allow, a unicode name, signed URLs, a storage that fails mid-stream, and 100 aborted downloads
 * with the process's descriptors back to their level; Repr-Digest (RFC 9530), and the download
 * events that `onDownload` hears. An adapter's test file calls
 * `describeAdapterContract(name, start)`; `start` mounts the given views on the routes of
 * {@link ContractViews} with that adapter and listens on a free loopback port.
 */
import { createHash } from 'node:crypto'
import type { DataSource } from 'typeorm'
import { Document } from '../../entities/Document'
import { ObjectDownloadView, StorageDownloadView, StoredFile, signUrl, storages } from '../../src'
import type { DownloadEvent } from '../../src/views/download-event'
import type { DownloadView } from '../../src/views/download-view'
import { createTestDataSource } from '../helpers/database'
import { FaultyStorage } from '../helpers/fault-storage'
import { abortAfterFirstChunk, exchange, exchangeOrHangUp } from '../helpers/http-client'
import { openDescriptors, settle } from '../helpers/process-stats'
import { recordingLogger } from '../helpers/recording-logger'
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
/** The Repr-Digest of `bytes`, computed from the bytes received. */
const reprDigest = (bytes: Buffer) => `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:`
/** The header that tells the contract's requests apart in the download events. */
const TAG = 'X-Contract-Tag'

export function describeAdapterContract(
  name: string,
  start: (views: ContractViews) => Promise<ContractServer>,
): void {
  describe(`the ${name} adapter (contract)`, () => {
    let dataSource: DataSource
    let removeMedia: () => Promise<void>
    let server: ContractServer
    let faulty: FaultyStorage
    /** What the views' onDownload heard, in order. */
    const events: DownloadEvent[] = []
    const record = (event: DownloadEvent) => {
      events.push(event)
    }
    /** Logs the failures of the signed view's hook, which throws or rejects. */
    const hookLogger = recordingLogger()
    let tags = 0

    const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
      exchange({ port: server.port, path, method, headers })
    /** A fresh tag for a request's TAG header. */
    const tag = () => `t${++tags}`
    /** The event of the request tagged `value`, once reported (within 5 s). */
    const eventOf = async (value: string): Promise<DownloadEvent> => {
      const found = await settle(
        () => events.find((event) => event.req.headers[TAG.toLowerCase()] === value),
        (event) => event !== undefined,
      )
      if (!found) throw new Error(`No download event for the request tagged ${value}`)
      return found
    }

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
      let calls = 0
      server = await start({
        documents: new ObjectDownloadView({ ...bySlug, onDownload: record }),
        signed: new ObjectDownloadView({
          ...bySlug,
          signature: { keys: [KEY] },
          logger: hookLogger,
          // A hook that fails, by turns with a throw and a rejected promise.
          onDownload: (event) => {
            record(event)
            if (++calls % 2) throw new Error('the audit table is gone')
            return Promise.reject(new Error('the audit queue is gone'))
          },
        }),
        failing: new StorageDownloadView({
          storage: faulty,
          param: 'name',
          logger: { error: () => undefined },
          onDownload: record,
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

    describe('Repr-Digest (RFC 9530)', () => {
      it('sends the SHA-256 of the bytes a full GET received', async () => {
        const response = await get('/documents/big')
        expect(response.headers['repr-digest']).toBe(reprDigest(BIG))
        expect(response.headers['repr-digest']).toBe(reprDigest(response.body))
      })

      it("sends the whole file's digest on a 206 and on HEAD", async () => {
        const digest = reprDigest(BIG)
        const partial = await get('/documents/big', { Range: 'bytes=10-19' })
        expect(partial.status).toBe(206)
        expect(partial.headers['repr-digest']).toBe(digest)
        const head = await get('/documents/big', {}, 'HEAD')
        expect(head.headers['repr-digest']).toBe(digest)
      })

      it('sends none on 304, 412 and 416', async () => {
        const etag = (await get('/documents/nums', {}, 'HEAD')).headers.etag as string
        const answers = [
          await get('/documents/nums', { 'If-None-Match': etag }),
          await get('/documents/nums', { 'If-Match': '"other"' }),
          await get('/documents/nums', { Range: 'bytes=100-200' }),
        ]
        expect(answers.map((answer) => [answer.status, answer.headers['repr-digest']])).toEqual([
          [304, undefined],
          [412, undefined],
          [416, undefined],
        ])
      })

      it('sends none when Want-Repr-Digest finds sha-256 not acceptable, and sends it when ranked', async () => {
        const refused = await get('/documents/nums', { 'Want-Repr-Digest': 'sha-256=0, sha-512=3' })
        expect(refused.status).toBe(200)
        expect(refused.headers['repr-digest']).toBeUndefined()
        const ranked = await get('/documents/nums', { 'Want-Repr-Digest': 'sha-256=3, sha-512=0' })
        expect(ranked.headers['repr-digest']).toBe(reprDigest(Buffer.from('123456789')))
      })
    })

    describe('download events (onDownload)', () => {
      it('reports a complete GET once it is over: the file, the status, the bytes, the time', async () => {
        const id = tag()
        const response = await get('/documents/nums', { [TAG]: id })
        expect(response.status).toBe(200)
        const event = await eventOf(id)
        expect(event).toMatchObject({
          params: { slug: 'nums' },
          file: { name: 'nums.txt', size: 9, location: { kind: 'storage', key: 'docs/nums.txt' } },
          status: 200,
          ranges: undefined,
          bytes: 9,
          complete: true,
          handedOff: false,
        })
        expect(event.req.method).toBe('GET')
        expect(event.durationMs).toBeGreaterThanOrEqual(0)
        expect(event.durationMs).toBeLessThan(10_000)
        expect(events.filter((each) => each.req.headers[TAG.toLowerCase()] === id)).toHaveLength(1)
      })

      it('reports a streamed GET with every byte', async () => {
        const id = tag()
        expect((await get('/documents/big', { [TAG]: id })).body.length).toBe(BIG.length)
        expect(await eventOf(id)).toMatchObject({ status: 200, bytes: BIG.length, complete: true })
      })

      it('reports a 206 with its range and the bytes of the range', async () => {
        const id = tag()
        await get('/documents/nums', { [TAG]: id, Range: 'bytes=2-5' })
        expect(await eventOf(id)).toMatchObject({
          status: 206,
          ranges: [{ start: 2, end: 5 }],
          bytes: 4,
          complete: true,
        })
      })

      it('reports a multipart 206 with its ranges and the bytes of the whole body', async () => {
        const id = tag()
        const response = await get('/documents/nums', { [TAG]: id, Range: 'bytes=0-0,4-5' })
        expect(await eventOf(id)).toMatchObject({
          status: 206,
          ranges: [
            { start: 0, end: 0 },
            { start: 4, end: 5 },
          ],
          bytes: response.body.length,
          complete: true,
        })
      })

      it('reports HEAD with 0 bytes', async () => {
        const id = tag()
        await get('/documents/nums', { [TAG]: id }, 'HEAD')
        const event = await eventOf(id)
        expect(event).toMatchObject({ status: 200, bytes: 0, complete: true, handedOff: false })
        expect(event.req.method).toBe('HEAD')
      })

      it('reports a 304 with 0 bytes', async () => {
        const etag = (await get('/documents/nums', {}, 'HEAD')).headers.etag as string
        const id = tag()
        expect((await get('/documents/nums', { [TAG]: id, 'If-None-Match': etag })).status).toBe(304)
        expect(await eventOf(id)).toMatchObject({ status: 304, bytes: 0, complete: true })
      })

      it('reports an aborted download as incomplete, with fewer bytes than the file', async () => {
        // A source that stalls after 64 KiB: the bytes written are those, whatever the socket buffers.
        faulty.failAfter = undefined
        faulty.stallAfter = 64 * 1024
        const id = tag()
        try {
          await abortAfterFirstChunk({ port: server.port, path: '/failing/big.bin', headers: { [TAG]: id } })
        } finally {
          faulty.stallAfter = undefined
          faulty.failAfter = 64 * 1024
        }
        const event = await eventOf(id)
        expect(event).toMatchObject({ status: 200, complete: false, handedOff: false })
        expect(event.bytes).toBeGreaterThan(0)
        expect(event.bytes).toBeLessThanOrEqual(64 * 1024)
      })

      it('reports a download the client left, streamed as fast as the socket takes it, as incomplete', async () => {
        const id = tag()
        await abortAfterFirstChunk({ port: server.port, path: '/documents/big', headers: { [TAG]: id } })
        const event = await eventOf(id)
        expect(event).toMatchObject({ status: 200, complete: false })
        // Bytes written to the connection: on loopback the kernel may have taken the whole file.
        expect(event.bytes).toBeGreaterThan(0)
        expect(event.bytes).toBeLessThanOrEqual(BIG.length)
      })

      it('reports a download whose storage failed mid-stream as incomplete', async () => {
        const id = tag()
        await exchangeOrHangUp({ port: server.port, path: '/failing/big.bin', headers: { [TAG]: id } })
        const event = await eventOf(id)
        expect(event).toMatchObject({
          file: { name: 'big.bin', size: BIG.length, location: { kind: 'storage', key: 'big.bin' } },
          complete: false,
        })
        expect(event.bytes).toBeLessThan(BIG.length)
      })

      it('reports nothing for a request refused before a file was found (404)', async () => {
        const id = tag()
        expect((await get('/documents/missing', { [TAG]: id })).status).toBe(404)
        // A download reported after it: the 404, had it been reported, would have come first.
        const after = tag()
        await get('/documents/nums', { [TAG]: after })
        await eventOf(after)
        expect(events.some((event) => event.req.headers[TAG.toLowerCase()] === id)).toBe(false)
      })

      it('logs a hook that throws or rejects, and the downloads go on', async () => {
        for (let i = 0; i < 2; i++) {
          const id = tag()
          const signed = await get(signUrl('/signed/nums', { key: KEY, expiresIn: 60 }), { [TAG]: id })
          expect(signed.status).toBe(200)
          expect(signed.body.toString()).toBe('123456789')
          await eventOf(id)
        }
        // One line per event of the signed view (an earlier test's included), whichever way it failed.
        const signedEvents = () => events.filter((event) => event.req.url?.startsWith('/signed/')).length
        const logged = await settle(
          () => hookLogger.errors.length,
          (count) => count === signedEvents(),
        )
        expect(logged).toBe(signedEvents())
        expect(logged).toBeGreaterThanOrEqual(2)
        expect(new Set(hookLogger.errors)).toEqual(new Set(['onDownload failed for "nums.txt"']))
      })
    })
  })
}
