/** ObjectDownloadView on real Postgres: lookups, metadata-only answers, hooks, node:http, faults. */
import { readdirSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import request from 'supertest'
import type { DataSource, Repository } from 'typeorm'
import { Document } from '../../entities/Document'
import { createDataSource } from '../../ormconfig'
import type { StoredFile as StoredFileType } from '../../src'
import { ConfigurationError, ObjectDownloadView, StoredFile, storages } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'
import { serve } from '../../src/node/serve'
import { assertDownload, binaryParser } from '../../src/testing'
import { createTestDataSource, resetDatabase } from '../helpers/database'
import { startFaultProxy } from '../helpers/fault-proxy'
import { CountingStorage, temporaryStorage } from '../helpers/storage'

let dataSource: DataSource
let documents: Repository<Document>
let counting: CountingStorage
let removeMedia: () => Promise<void>

beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  counting = new CountingStorage(media.storage)
  storages.register('default', counting)
  dataSource = await createTestDataSource()
  documents = dataSource.getRepository(Document)
})

beforeEach(async () => {
  await resetDatabase(dataSource)
  await counting.save('docs/nums.txt', '123456789')
  await documents.save(
    documents.create({ slug: 'nums', file: Object.assign(new StoredFile(), { path: 'docs/nums.txt' }) }),
  )
  counting.reset()
})

afterAll(async () => {
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

function appFor(view: ObjectDownloadView<Document>, route = '/d/:slug') {
  const app = express()
  app.all(route, toHandler(view))
  return app
}

const bySlug = () => new ObjectDownloadView({ dataSource, entity: Document, lookup: 'slug', file: 'file' })

describe('ObjectDownloadView with the metadata stored in the row', () => {
  it('streams GET with one open() and no stat()', async () => {
    const response = await request(appFor(bySlug())).get('/d/nums').buffer(true).parse(binaryParser)
    assertDownload(response, { content: '123456789', basename: 'nums.txt' })
    expect(counting.calls).toMatchObject({ open: 1, stat: 0 })
  })

  it('answers HEAD without touching the storage', async () => {
    const response = await request(appFor(bySlug())).head('/d/nums')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('9')
    expect(counting.calls).toMatchObject({ open: 0, stat: 0 })
  })

  it('answers 304 without touching the storage', async () => {
    const etag = (await request(appFor(bySlug())).head('/d/nums')).headers.etag as string
    const response = await request(appFor(bySlug())).get('/d/nums').set('If-None-Match', etag)
    expect(response.status).toBe(304)
    expect(counting.calls).toMatchObject({ open: 0, stat: 0 })
  })

  it('answers 412 without touching the storage', async () => {
    const response = await request(appFor(bySlug())).get('/d/nums').set('If-Match', '"something-else"')
    expect(response.status).toBe(412)
    expect(counting.calls).toMatchObject({ open: 0, stat: 0 })
  })

  it('answers 416 without touching the storage', async () => {
    const response = await request(appFor(bySlug())).get('/d/nums').set('Range', 'bytes=100-200')
    expect(response.status).toBe(416)
    expect(response.headers['content-range']).toBe('bytes */9')
    expect(counting.calls).toMatchObject({ open: 0, stat: 0 })
  })

  it('serves bytes=2-5 as "3456"', async () => {
    const response = await request(appFor(bySlug()))
      .get('/d/nums')
      .set('Range', 'bytes=2-5')
      .buffer(true)
      .parse(binaryParser)
    expect(response.status).toBe(206)
    expect(response.body.toString()).toBe('3456')
  })

  it('uses a strong ETag from the stored checksum', async () => {
    const row = await documents.findOneByOrFail({ slug: 'nums' })
    const response = await request(appFor(bySlug())).head('/d/nums')
    expect(response.headers.etag).toBe(`"${row.file?.sha256}"`)
  })
})

describe('ObjectDownloadView with incomplete metadata in the row', () => {
  it('takes size and mtime from one stat() and serves a weak ETag', async () => {
    await dataSource.query(
      `UPDATE document SET file_size = NULL, file_modified_at = NULL, file_sha256 = NULL WHERE slug = 'nums'`,
    )
    const response = await request(appFor(bySlug())).get('/d/nums').buffer(true).parse(binaryParser)
    assertDownload(response, { content: '123456789', size: 9 })
    expect(response.headers.etag).toMatch(/^W\//)
    expect(counting.calls.stat).toBe(1)
  })
})

describe('ObjectDownloadView lookups', () => {
  it('looks up by a custom parameter and column', async () => {
    const view = new ObjectDownloadView({
      dataSource,
      entity: Document,
      lookup: { param: 'key', column: 'slug' },
      file: 'file',
    })
    const response = await request(appFor(view, '/k/:key')).get('/k/nums').buffer(true).parse(binaryParser)
    assertDownload(response, { content: '123456789' })
  })

  it('answers 404 for a slug with a NUL byte', async () => {
    expect((await request(appFor(bySlug())).get('/d/a%00b')).status).toBe(404)
  })

  it('answers 404 when the file vanished after the row was saved', async () => {
    await counting.delete('docs/nums.txt')
    expect((await request(appFor(bySlug())).get('/d/nums')).status).toBe(404)
  })

  it('answers 405 with Allow for DELETE', async () => {
    const response = await request(appFor(bySlug())).delete('/d/nums')
    expect(response.status).toBe(405)
    expect(response.headers.allow).toBe('GET, HEAD')
  })
})

describe('ObjectDownloadView hooks', () => {
  it('loads only the columns it needs by default', async () => {
    const row = await bySlug().getObject({ req: {} as http.IncomingMessage, params: { slug: 'nums' } })
    expect(row.slug).toBeUndefined()
    expect(row.file?.path).toBe('docs/nums.txt')
  })

  it('lets a subclass choose the basename', async () => {
    class Named extends ObjectDownloadView<Document> {
      override getBasename(object: Document, _value: StoredFileType): string {
        return `${object.slug}-download.txt`
      }
    }
    const view = new Named({ dataSource, entity: Document, lookup: 'slug', file: 'file', select: ['slug'] })
    assertDownload(await request(appFor(view)).get('/d/nums').buffer(true).parse(binaryParser), {
      basename: 'nums-download.txt',
    })
  })
})

describe('ObjectDownloadView on plain node:http', () => {
  it('serves without Express', async () => {
    const view = bySlug()
    const server = http.createServer((req, res) => {
      serve(view, req, res, { slug: 'nums' }).catch(() => res.destroy())
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const response = await fetch(`http://127.0.0.1:${port}/`)
      expect(response.status).toBe(200)
      expect(await response.text()).toBe('123456789')
    } finally {
      server.close()
    }
  })
})

describe('ObjectDownloadView options', () => {
  const base = { dataSource: {} as DataSource, entity: Document, file: 'file' as const }

  it.each([
    [{ ...base, dataSource: undefined as unknown as DataSource }, /"dataSource"/],
    [{ ...base, file: 'title' as 'file' }, /"file" names "title"/],
    [{ ...base, lookup: { param: 'slug', column: 'nope' } }, /"lookup" names "nope"/],
    [{ ...base, basename: 'nope' as 'basename' }, /"basename" names "nope"/],
    [{ ...base, attachment: 'yes' as unknown as boolean }, /"attachment"/],
    [{ ...base, colour: 'blue' }, /unknown option "colour"/],
    [{ ...base, select: ['nope' as 'slug'] }, /"select" names "nope"/],
    [{ ...base, prepare: 'yes' as unknown as boolean }, /"prepare"/],
  ])('throws a ConfigurationError naming the bad option (%#)', (options, message) => {
    const realDataSource = options.dataSource === undefined ? undefined : dataSource
    expect(() => new ObjectDownloadView({ ...options, dataSource: realDataSource as DataSource })).toThrow(
      ConfigurationError,
    )
    expect(() => new ObjectDownloadView({ ...options, dataSource: realDataSource as DataSource })).toThrow(
      message,
    )
  })
})

describe('ObjectDownloadView lookup as a prepared statement', () => {
  /** `count` GETs of /d/nums, `parallel` at a time; their statuses. */
  async function statuses(app: express.Express, count: number, parallel = 10): Promise<number[]> {
    const server = app.listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    const { port } = server.address() as AddressInfo
    const agent = new http.Agent({ keepAlive: true, maxSockets: parallel })
    const get = () =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/d/nums', agent }, (response) => {
            response.resume()
            response.on('end', () => resolve(response.statusCode ?? 0))
          })
          .on('error', reject)
      })
    try {
      return await Promise.all(Array.from({ length: count }, get))
    } finally {
      agent.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  }

  /** A listening app that serves `view` at `route`, and a GET on it that resolves with status and body. */
  async function listening(view: ObjectDownloadView<Document>, route: string) {
    const server = appFor(view, route).listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    const { port } = server.address() as AddressInfo
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path, agent }, (response) => {
            const chunks: Buffer[] = []
            response.on('data', (chunk: Buffer) => chunks.push(chunk))
            response.on('end', () =>
              resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
            )
          })
          .on('error', reject)
      })
    const close = async () => {
      agent.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
    return { get, close }
  }

  describe('with many lookups at once', () => {
    // Slugs with the characters that a Postgres array literal escapes.
    const slugs = Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? `we"ird\\,{${i}} slug` : `doc-${i}`))
    let pool: { query: () => unknown }
    let spy: jest.SpyInstance

    beforeEach(async () => {
      for (const [i, slug] of slugs.entries()) {
        await counting.save(`docs/${i}.txt`, `content of ${i}`)
        await documents.save(
          documents.create({ slug, file: Object.assign(new StoredFile(), { path: `docs/${i}.txt` }) }),
        )
      }
      pool = (dataSource.driver as unknown as { master: { query: () => unknown } }).master
      spy = jest.spyOn(pool, 'query')
    })

    afterEach(() => spy.mockRestore())

    it('answers each request with its own row, missing ones 404, in fewer queries than requests', async () => {
      const { get, close } = await listening(bySlug(), '/d/:slug')
      try {
        const asked = [...slugs, ...slugs.slice(0, 10), 'missing-1', 'missing-2']
        const answers = await Promise.all(asked.map((slug) => get(`/d/${encodeURIComponent(slug)}`)))
        for (const [index, slug] of asked.entries()) {
          const i = slugs.indexOf(slug)
          expect(answers[index]).toEqual(
            i === -1 ? { status: 404, body: 'Not Found\n' } : { status: 200, body: `content of ${i}` },
          )
        }
      } finally {
        await close()
      }
    })

    it('sends the lookups made in the same turn of the event loop as one query', async () => {
      const view = bySlug()
      const request = (slug: string) => ({ req: {} as http.IncomingMessage, params: { slug } })
      const asked = [...slugs, 'missing']
      const found = await Promise.all(
        asked.map((slug) =>
          view.getObject(request(slug)).then(
            (row) => row.file?.path,
            () => 'none',
          ),
        ),
      )
      expect(found).toEqual([...slugs.map((_, i) => `docs/${i}.txt`), 'none'])
      expect(spy).toHaveBeenCalledTimes(1)
    })

    it('does the same for an integer primary key', async () => {
      const rows = await documents.find({ select: { id: true, slug: true } })
      // Every row: the 40 above, and the suite's own "nums".
      const bodies = new Map(
        rows.map((row) => [
          String(row.id),
          row.slug === 'nums' ? '123456789' : `content of ${slugs.indexOf(row.slug)}`,
        ]),
      )
      const view = new ObjectDownloadView({ dataSource, entity: Document, lookup: 'id', file: 'file' })
      const { get, close } = await listening(view, '/i/:id')
      try {
        const asked = [...bodies.keys(), '999999', `00${[...bodies.keys()][0]}`]
        const answers = await Promise.all(asked.map((id) => get(`/i/${id}`)))
        for (const [index, id] of asked.entries()) {
          const body = bodies.get(String(Number(id)))
          expect(answers[index]).toEqual(
            body === undefined ? { status: 404, body: 'Not Found\n' } : { status: 200, body },
          )
        }
      } finally {
        await close()
      }
    })
  })

  it('serves the same with prepare: false', async () => {
    const view = new ObjectDownloadView({
      dataSource,
      entity: Document,
      lookup: 'slug',
      file: 'file',
      prepare: false,
    })
    const response = await request(appFor(view)).get('/d/nums').buffer(true).parse(binaryParser)
    assertDownload(response, { content: '123456789', basename: 'nums.txt' })
  })

  it('keeps answering when a migration changes a selected column type under the prepared statements', async () => {
    const app = appFor(bySlug())
    // Every pooled connection prepares the lookup, then the type of a selected column changes.
    expect(new Set(await statuses(app, 40))).toEqual(new Set([200]))
    await dataSource.query('ALTER TABLE "document" ALTER COLUMN "file_sha256" TYPE text')
    try {
      expect(new Set(await statuses(app, 40))).toEqual(new Set([200]))
    } finally {
      await dataSource.query('ALTER TABLE "document" ALTER COLUMN "file_sha256" TYPE character(64)')
    }
  })
})

describe('ObjectDownloadView when the database goes away', () => {
  it('answers 503 with Retry-After, and recovers when the database returns', async () => {
    const url = new URL(dataSource.options.type === 'postgres' ? (dataSource.options.url as string) : '')
    const proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port || 5432) })
    url.port = String(proxy.port)
    const proxied = createDataSource(url.toString())
    await proxied.initialize()
    try {
      const app = appFor(
        new ObjectDownloadView({ dataSource: proxied, entity: Document, lookup: 'slug', file: 'file' }),
      )
      expect((await request(app).get('/d/nums')).status).toBe(200)
      await proxy.refuse()
      const down = await request(app).get('/d/nums')
      expect(down.status).toBe(503)
      expect(down.headers['retry-after']).toBeDefined()
      await proxy.forward()
      let status = 0
      for (let attempt = 0; attempt < 20 && status !== 200; attempt++) {
        status = (await request(app).get('/d/nums')).status
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(status).toBe(200)
    } finally {
      await proxied.destroy().catch(() => undefined)
      await proxy.close()
    }
  })
})

describe('ObjectDownloadView before its DataSource is initialized', () => {
  it('answers 503, not 500', async () => {
    const early = createDataSource(process.env.DATABASE_URL as string)
    const view = new ObjectDownloadView({ dataSource: early, entity: Document, lookup: 'slug', file: 'file' })
    const response = await request(appFor(view)).get('/d/nums')
    expect(response.text).toBe('Service Unavailable\n')
    expect(response.status).toBe(503)
    expect(response.headers['retry-after']).toBe('5')
  })
})

describe('ObjectDownloadView when a client aborts mid-download', () => {
  const openDescriptors = () => readdirSync('/proc/self/fd').length

  it('closes the file: descriptors return to their level before, and the next request succeeds', async () => {
    await counting.save('docs/big.bin', Buffer.alloc(8 * 1024 * 1024, 7))
    await documents.save(
      documents.create({ slug: 'big', file: Object.assign(new StoredFile(), { path: 'docs/big.bin' }) }),
    )
    const server = http.createServer(appFor(bySlug()))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    try {
      const before = openDescriptors()
      for (let i = 0; i < 20; i++) {
        await new Promise<void>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port, path: '/d/big', agent: false }, (res) => {
            res.once('data', () => {
              req.destroy()
              resolve()
            })
          })
          req.on('error', (error) => (req.destroyed ? resolve() : reject(error)))
        })
      }
      let after = openDescriptors()
      for (let attempt = 0; attempt < 50 && after > before; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        after = openDescriptors()
      }
      expect(after).toBeLessThanOrEqual(before)
      const next = await fetch(`http://127.0.0.1:${port}/d/nums`)
      expect(await next.text()).toBe('123456789')
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})

describe('ObjectDownloadView when something unexpected fails', () => {
  it('hands the error to Express (500) and keeps serving', async () => {
    class Broken extends ObjectDownloadView<Document> {
      override async getObject(): Promise<Document> {
        throw new Error('boom: /secret/path')
      }
    }
    const app = express()
    app.all(
      '/broken/:slug',
      toHandler(new Broken({ dataSource, entity: Document, lookup: 'slug', file: 'file' })),
    )
    app.all('/d/:slug', toHandler(bySlug()))
    app.use(downloadErrorHandler())
    const broken = await request(app).get('/broken/nums')
    expect(broken.status).toBe(500)
    expect(broken.text).toBe('Internal Server Error\n')
    expect((await request(app).get('/d/nums')).status).toBe(200)
  })
})
