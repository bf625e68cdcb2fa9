/**
 * The upload checks every framework adapter passes, each on its framework's real server over
 * loopback, with real Postgres and a real LocalStorage (cf. adapter.contract.ts): a form's file
 * streamed into Document.file and downloadable back byte for byte; 50 MiB through with the bytes
 * in flight bounded; and every refusal (413, 400, 415, a client that leaves) leaving no row and no
 * file behind. An adapter's test file calls `describeUploadContract(name, start)`; `start` mounts
 * {@link UploadContext}'s routes with that adapter and listens on a free loopback port.
 */
import { createHash } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import type { DataSource } from 'typeorm'
import { Document } from '../../entities/Document'
import { ObjectDownloadView, storages } from '../../src'
import type { LocalStorage } from '../../src/storage/local-storage'
import { toReadable } from '../../src/storage/source'
import type { ByteRange, SaveSource, Storage, StorageStat } from '../../src/storage/storage'
import type { ReceiveUploadOptions } from '../../src/uploads/options'
import type { DownloadView } from '../../src/views/download-view'
import { createTestDataSource } from '../helpers/database'
import { exchange } from '../helpers/http-client'
import { dropUpload, type FormPart, postForm } from '../helpers/multipart-client'
import { settle } from '../helpers/process-stats'
import { temporaryStorage } from '../helpers/storage'
import { readAll } from '../helpers/streams'
import type { ContractServer } from './adapter.contract'

const MiB = 1024 * 1024

/** The text fields the routes collect. */
export type UploadFields = 'slug' | 'title'

/** A route that receives an upload into Document.file. */
export interface UploadRoute {
  path: string
  options: ReceiveUploadOptions<UploadFields>
}

/** The routes an adapter mounts (POST), with the options it passes to its receiveUpload. */
export const UPLOAD_ROUTES = {
  /** PDF or PNG, at most 1 MiB, with a slug and a title. */
  documents: {
    path: '/documents',
    options: { allowedTypes: ['application/pdf', 'image/png'], maxBytes: MiB, fields: ['slug', 'title'] },
  },
  /** Any type, at most 64 MiB, with a slug. */
  large: { path: '/large', options: { maxBytes: 64 * MiB, fields: ['slug'] } },
} as const satisfies Record<string, UploadRoute>

/** What an adapter's routes use. */
export interface UploadContext {
  routes: Record<keyof typeof UPLOAD_ROUTES, UploadRoute>
  /**
   * Saves `document` (its file received) with the form's fields, and returns the JSON the route
   * answers with status 201.
   */
  save(
    document: Document,
    fields: Partial<Record<UploadFields, string>>,
  ): Promise<{ id: number; slug: string }>
  /** `GET /documents/:slug`: Document.file by slug. */
  download: DownloadView
}

/**
 * A LocalStorage that counts what its saves take from their sources, as they take it, and how
 * its saves ended: what the tests see of a write in progress.
 */
class ObservedStorage implements Storage {
  readonly name: string
  /** Bytes the saves have taken from their sources so far. */
  taken = 0
  failedSaves = 0

  constructor(readonly inner: LocalStorage) {
    this.name = `Observed(${inner.name})`
  }

  async save(key: string, source: SaveSource): Promise<StorageStat> {
    const counted = async function* (this: ObservedStorage): AsyncGenerator<Buffer> {
      for await (const chunk of toReadable(source)) {
        this.taken += (chunk as Buffer).length
        yield chunk as Buffer
      }
    }.call(this)
    try {
      return await this.inner.save(key, counted)
    } catch (error) {
      this.failedSaves++
      throw error
    }
  }

  stat(key: string): Promise<StorageStat> {
    return this.inner.stat(key)
  }

  exists(key: string): Promise<boolean> {
    return this.inner.exists(key)
  }

  open(key: string, range?: ByteRange): Promise<Readable> {
    return this.inner.open(key, range)
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key)
  }
}

/** Every file under `root` (temporary `.part` files included), relative, sorted. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .sort()
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** A small PDF: what the sniffer knows by its `%PDF-` header. */
const PDF = Buffer.concat([
  Buffer.from('%PDF-1.7\n'),
  Buffer.alloc(3000, 'pdf body '),
  Buffer.from('\n%%EOF\n'),
])

/** `size` bytes of varied binary content in 64 KiB chunks, made as they are read. */
function generated(
  size: number,
  onChunk: (chunk: Buffer) => void = () => undefined,
): () => AsyncIterable<Buffer> {
  const block = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 131 + (i >> 8) + 7) & 0xff))
  return async function* () {
    for (let offset = 0; offset < size; offset += block.length) {
      const chunk = Buffer.from(block.subarray(0, Math.min(block.length, size - offset)))
      // Each chunk differs from the last: a misplaced chunk changes the hash.
      chunk[0] = (offset / block.length) & 0xff
      onChunk(chunk)
      yield chunk
    }
  }
}

export function describeUploadContract(
  name: string,
  start: (context: UploadContext) => Promise<ContractServer>,
): void {
  describe(`uploads with the ${name} adapter (contract)`, () => {
    let dataSource: DataSource
    let root: string
    let removeMedia: () => Promise<void>
    let storage: ObservedStorage
    let server: ContractServer

    const post = (route: string, parts: FormPart[], headers?: Record<string, string>) =>
      postForm({ port: server.port, path: route, parts, headers })
    const rows = () => dataSource.getRepository(Document).count()

    /** What is there before a refused upload: the rows and the files. */
    async function snapshot(): Promise<{ rows: number; files: string[] }> {
      return { rows: await rows(), files: await filesUnder(root) }
    }

    /** No new row, no new file (a partial one included), once the server is done with the request. */
    async function expectNothingNew(before: { rows: number; files: string[] }): Promise<void> {
      const files = await settle(
        () => filesUnder(root),
        (now) => now.length === before.files.length,
      )
      expect(files).toEqual(before.files)
      expect(await rows()).toBe(before.rows)
    }

    beforeAll(async () => {
      const media = await temporaryStorage()
      root = media.root
      removeMedia = media.remove
      storage = new ObservedStorage(media.storage)
      storages.register('default', storage)
      dataSource = await createTestDataSource()
      const documents = dataSource.getRepository(Document)
      server = await start({
        routes: UPLOAD_ROUTES,
        async save(document, fields) {
          document.slug = fields.slug ?? ''
          document.title = fields.title ?? ''
          const saved = await documents.save(document)
          return { id: saved.id, slug: saved.slug }
        },
        download: new ObjectDownloadView({ dataSource, entity: Document, lookup: 'slug', file: 'file' }),
      })
    })

    afterAll(async () => {
      await server?.close()
      await dataSource?.destroy()
      await removeMedia?.()
      storages.clear()
    })

    describe('a good upload', () => {
      let answer: Awaited<ReturnType<typeof post>>

      beforeAll(async () => {
        answer = await post(UPLOAD_ROUTES.documents.path, [
          { name: 'slug', value: 'annual-report' },
          { name: 'file', filename: 'rapport annuel é.pdf', contentType: 'application/pdf', content: PDF },
          // A field after the file is collected too.
          { name: 'title', value: 'Annual report' },
        ])
      })

      it('answers 201 with the new row', () => {
        expect(answer.status).toBe(201)
        expect(JSON.parse(answer.body.toString())).toEqual({ id: expect.any(Number), slug: 'annual-report' })
      })

      it('saves the row with its fields and the file’s metadata', async () => {
        const row = await dataSource.getRepository(Document).findOneByOrFail({ slug: 'annual-report' })
        expect(row.title).toBe('Annual report')
        expect(row.file).toMatchObject({
          name: 'rapport annuel é.pdf',
          size: PDF.length,
          contentType: 'application/pdf',
          sha256: sha256(PDF),
        })
        expect(row.file?.path).toMatch(/^document\/file\/[0-9a-f-]{36}\/rapport_annuel_e\.pdf$/)
      })

      it('serves the file back with the same bytes and SHA-256', async () => {
        const download = await exchange({ port: server.port, path: '/documents/annual-report' })
        expect(download.status).toBe(200)
        expect(download.headers['content-type']).toBe('application/pdf')
        expect(sha256(download.body)).toBe(sha256(PDF))
        expect(download.body.equals(PDF)).toBe(true)
      })
    })

    describe('a 50 MiB upload', () => {
      const size = 50 * MiB
      const hash = createHash('sha256')
      let sent = 0
      let mostInFlight = 0
      let takenBeforeTheEnd = 0
      let answer: Awaited<ReturnType<typeof post>>

      beforeAll(async () => {
        storage.taken = 0
        const content = generated(size, (chunk) => {
          // In flight: sent by the client, not yet taken by the storage (sockets, stream buffers).
          mostInFlight = Math.max(mostInFlight, sent - storage.taken)
          if (sent + chunk.length === size) takenBeforeTheEnd = storage.taken
          sent += chunk.length
          hash.update(chunk)
        })
        answer = await post(UPLOAD_ROUTES.large.path, [
          { name: 'slug', value: 'large' },
          { name: 'file', filename: 'large.bin', content },
        ])
      }, 60_000)

      it('is stored whole: 201, its size and SHA-256', async () => {
        expect(answer.status).toBe(201)
        const row = await dataSource.getRepository(Document).findOneByOrFail({ slug: 'large' })
        const digest = hash.digest('hex')
        expect(row.file).toMatchObject({ size, sha256: digest, contentType: 'application/octet-stream' })
        const stored = await readAll(await storage.open(row.file?.path as string))
        expect(sha256(stored)).toBe(digest)
      })

      it('is written while it arrives: the storage took most of it before the client sent its last chunk', () => {
        // Buffered whole first, the storage would have taken nothing by then.
        expect(takenBeforeTheEnd).toBeGreaterThan(size - 16 * MiB)
      })

      it('never has more than 16 MiB between the client and the storage', () => {
        expect(mostInFlight).toBeGreaterThan(0)
        expect(mostInFlight).toBeLessThan(16 * MiB)
      })
    })

    describe('limits and refusals', () => {
      it('answers 413 to a file over maxBytes, and keeps nothing', async () => {
        const before = await snapshot()
        const answer = await post(UPLOAD_ROUTES.documents.path, [
          { name: 'slug', value: 'too-large' },
          {
            name: 'file',
            filename: 'big.pdf',
            contentType: 'application/pdf',
            content: Buffer.concat([PDF, Buffer.alloc(MiB)]),
          },
        ])
        expect(answer.status).toBe(413)
        await expectNothingNew(before)
      })

      it('takes a file of exactly maxBytes', async () => {
        const exact = Buffer.concat([PDF, Buffer.alloc(MiB - PDF.length, 0x20)])
        const answer = await post(UPLOAD_ROUTES.documents.path, [
          { name: 'slug', value: 'exactly-1-mib' },
          { name: 'file', filename: 'exact.pdf', content: exact },
        ])
        expect(answer.status).toBe(201)
        const row = await dataSource.getRepository(Document).findOneByOrFail({ slug: 'exactly-1-mib' })
        expect(row.file?.size).toBe(MiB)
      })

      it('answers 400 to a form with no file part, and keeps nothing', async () => {
        const before = await snapshot()
        const answer = await post(UPLOAD_ROUTES.documents.path, [
          { name: 'slug', value: 'no-file' },
          { name: 'title', value: 'No file' },
        ])
        expect(answer.status).toBe(400)
        await expectNothingNew(before)
      })

      it('answers 400 to a file in another field, and keeps nothing', async () => {
        const before = await snapshot()
        const answer = await post(UPLOAD_ROUTES.documents.path, [
          { name: 'slug', value: 'wrong-field' },
          { name: 'document', filename: 'report.pdf', contentType: 'application/pdf', content: PDF },
        ])
        expect(answer.status).toBe(400)
        await expectNothingNew(before)
      })

      it('answers 400 to a text/plain body, not multipart/form-data, and keeps nothing', async () => {
        const before = await snapshot()
        const answer = await post(UPLOAD_ROUTES.documents.path, [{ name: 'slug', value: 'json' }], {
          // Not JSON: Fastify would refuse a body that does not parse before the route sees it.
          'Content-Type': 'text/plain',
        })
        expect(answer.status).toBe(400)
        await expectNothingNew(before)
      })

      it('answers 415 to an HTML file where only PDF and PNG are allowed, and keeps nothing', async () => {
        const before = await snapshot()
        const answer = await post(UPLOAD_ROUTES.documents.path, [
          { name: 'slug', value: 'html' },
          {
            name: 'file',
            filename: 'page.html',
            contentType: 'text/html',
            content: Buffer.from('<!doctype html><script>alert(1)</script>\n'),
          },
        ])
        expect(answer.status).toBe(415)
        await expectNothingNew(before)
      })

      it('answers 415 to text named .png and declared image/png: the bytes decide', async () => {
        const before = await snapshot()
        const answer = await post(UPLOAD_ROUTES.documents.path, [
          { name: 'slug', value: 'fake-png' },
          {
            name: 'file',
            filename: 'photo.png',
            contentType: 'image/png',
            content: Buffer.from('not a png at all\n'),
          },
        ])
        expect(answer.status).toBe(415)
        await expectNothingNew(before)
      })

      it('keeps no row and no partial file of a client that leaves halfway', async () => {
        const before = await snapshot()
        const failed = storage.failedSaves
        storage.taken = 0
        await dropUpload(
          {
            port: server.port,
            path: UPLOAD_ROUTES.large.path,
            parts: [
              { name: 'slug', value: 'dropped' },
              { name: 'file', filename: 'dropped.bin', content: generated(8 * MiB) },
            ],
          },
          4 * MiB,
          // Left while the storage is writing: a partial file exists to be cleaned up.
          async () => {
            const partial = await settle(
              async () => (await filesUnder(root)).filter((file) => file.endsWith('.part')),
              (files) => files.length > 0 && storage.taken > 0,
            )
            expect(partial).toHaveLength(1)
          },
        )
        expect(
          await settle(
            () => storage.failedSaves,
            (count) => count > failed,
          ),
        ).toBe(failed + 1)
        await expectNothingNew(before)
      })

      it('still takes a good upload afterwards', async () => {
        const answer = await post(UPLOAD_ROUTES.documents.path, [
          { name: 'slug', value: 'after' },
          { name: 'file', filename: 'after.pdf', content: PDF },
        ])
        expect(answer.status).toBe(201)
      })
    })
  })
}
