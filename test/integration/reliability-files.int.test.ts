/**
 * Reliability: the file changes or fails under a download. Through ObjectDownloadView (real
 * Postgres rows) and StorageDownloadView, over a storage wrapper that runs a hook between the
 * lookup and the read or makes its streams fail, on a listening server in this process with
 * node:http clients. A file deleted before the read is a 404 before any header; one that is
 * shorter than announced (truncated before or during the read) or that fails mid-stream gets its
 * response cut after the headers, logged once, never completed with short data and never hung; one
 * that grew sends exactly Content-Length bytes. An uncaught error would fail the running test.
 */
import { appendFile, truncate } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import express from 'express'
import type { DataSource } from 'typeorm'
import { Document } from '../../entities/Document'
import { ObjectDownloadView, StorageDownloadView, StoredFile, storages } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'
import type { LocalStorage } from '../../src/storage/local-storage'
import { type AppServer, listen, patternBytes, RecordingLogger } from '../helpers/app-server'
import { createTestDataSource } from '../helpers/database'
import { FaultyStorage, InjectedReadError } from '../helpers/fault-storage'
import {
  type Exchange,
  exchange,
  exchangeOrHangUp,
  type HangUp,
  openSlowReader,
  type Target,
} from '../helpers/http-client'
import { descriptorsOn, settle } from '../helpers/process-stats'
import { temporaryStorage } from '../helpers/storage'
import { boundaryOf, parseMultipart } from '../unit/http/fixtures'

/** Below one read chunk (read whole before the headers) and above it (streamed), and a long one. */
const FILES = {
  small: { key: 'docs/small.bin', bytes: patternBytes(1000, 11) },
  large: { key: 'docs/large.bin', bytes: patternBytes(1024 * 1024 + 7, 12) },
  big: { key: 'docs/big.bin', bytes: patternBytes(8 * 1024 * 1024, 13) },
}
type Slug = keyof typeof FILES

let dataSource: DataSource
let media: LocalStorage
let mediaRoot: string
let removeMedia: () => Promise<void>
let faulty: FaultyStorage
let app: AppServer
const logger = new RecordingLogger()

const fileOf = (slug: Slug) => path.join(mediaRoot, FILES[slug].key)

beforeAll(async () => {
  const temporary = await temporaryStorage()
  media = temporary.storage
  mediaRoot = temporary.root
  removeMedia = temporary.remove
  faulty = new FaultyStorage(media)
  storages.register('default', faulty)
  dataSource = await createTestDataSource()
  const documents = dataSource.getRepository(Document)
  for (const [slug, file] of Object.entries(FILES)) {
    await media.save(file.key, file.bytes)
    await documents.save(
      documents.create({ slug, file: Object.assign(new StoredFile(), { path: file.key }) }),
    )
  }
  const router = express()
  router.all(
    '/d/:slug',
    toHandler(new ObjectDownloadView({ dataSource, entity: Document, lookup: 'slug', file: 'file', logger })),
  )
  router.all('/s/*path', toHandler(new StorageDownloadView({ storage: faulty, logger })))
  router.use(downloadErrorHandler())
  app = await listen(router)
})

beforeEach(async () => {
  faulty.beforeOpen = undefined
  faulty.failAfter = undefined
  faulty.injected = 0
  // Every file as the rows describe it: a test may have deleted, truncated or grown one.
  for (const file of Object.values(FILES)) await media.save(file.key, file.bytes)
  logger.clear()
})

afterAll(async () => {
  await app?.close()
  await dataSource?.destroy()
  await removeMedia?.()
  storages.clear()
})

const request = (target: Omit<Target, 'port'>): Promise<Exchange> => exchange({ port: app.port, ...target })
/** A request whose response the server is expected to cut. */
const cutRequest = (target: Omit<Target, 'port'>) => exchangeOrHangUp({ port: app.port, ...target })

/**
 * A response cut by the server: the connection closed before the headers arrived, or after them
 * with fewer than the announced `length` bytes (a prefix of `bytes`). Never a completed response.
 */
function expectCut(outcome: Exchange | HangUp, status: number, length?: number, bytes?: Buffer): void {
  if ('hungUp' in outcome) {
    expect(outcome.code).toBe('ECONNRESET')
    return
  }
  expect({ status: outcome.status, complete: outcome.complete }).toEqual({ status, complete: false })
  const announced = Number(outcome.headers['content-length'])
  if (length !== undefined) expect(announced).toBe(length)
  expect(outcome.body.length).toBeLessThan(announced)
  if (bytes) expect(outcome.body.equals(bytes.subarray(0, outcome.body.length))).toBe(true)
}

/** Exactly one error logged (once the cut reached the client, the log line is written). */
async function expectLoggedOnce(): Promise<void> {
  const errors = await settle(
    () => logger.errors.length,
    (count) => count >= 1,
  )
  expect(errors).toBe(1)
  expect(logger.errors[0]?.message).toMatch(/failed after the headers were sent/)
}

/** Serves `slug` whole again, as the row describes it. */
async function expectServedWhole(slug: Slug): Promise<void> {
  const response = await request({ path: `/d/${slug}` })
  expect(response.status).toBe(200)
  expect(response.complete).toBe(true)
  expect(response.body.equals(FILES[slug].bytes)).toBe(true)
}

describe('a file deleted between the lookup and the read', () => {
  it.each(['small', 'large'] as const)(
    'answers 404 before any header (%s file), and logs nothing',
    async (slug) => {
      faulty.beforeOpen = (key) => media.delete(key)
      const response = await request({ path: `/d/${slug}` })
      expect({
        status: response.status,
        complete: response.complete,
        body: response.body.toString(),
      }).toEqual({
        status: 404,
        complete: true,
        body: 'Not Found\n',
      })
      expect(logger.errors).toEqual([])
    },
  )
})

describe('a file truncated between the lookup and the read (the row says it is longer)', () => {
  it.each(['small', 'large'] as const)(
    'sends the headers, then cuts the response (%s file)',
    async (slug) => {
      const size = FILES[slug].bytes.length
      faulty.beforeOpen = () => truncate(fileOf(slug), Math.floor(size / 2))
      expectCut(await cutRequest({ path: `/d/${slug}` }), 200, size, FILES[slug].bytes)
      await expectLoggedOnce()
      expect(
        await settle(
          () => descriptorsOn(fileOf(slug)),
          (count) => count === 0,
        ),
      ).toBe(0)
      faulty.beforeOpen = undefined
      await media.save(FILES[slug].key, FILES[slug].bytes)
      await expectServedWhole(slug)
    },
  )

  it('cuts a single-range response whose range ends past the new end', async () => {
    const size = FILES.large.bytes.length
    faulty.beforeOpen = () => truncate(fileOf('large'), 500_000)
    const response = await cutRequest({ path: '/d/large', headers: { Range: 'bytes=400000-699999' } })
    expectCut(response, 206, 300_000, FILES.large.bytes.subarray(400_000))
    if (!('hungUp' in response)) expect(response.headers['content-range']).toBe(`bytes 400000-699999/${size}`)
    await expectLoggedOnce()
  })

  it('cuts a multipart/byteranges response whose second range is gone', async () => {
    faulty.beforeOpen = () => truncate(fileOf('large'), 500_000)
    const response = await cutRequest({ path: '/d/large', headers: { Range: 'bytes=0-99,600000-600099' } })
    expectCut(response, 206)
    if (!('hungUp' in response))
      expect(response.headers['content-type']).toMatch(/^multipart\/byteranges; boundary=/)
    await expectLoggedOnce()
  })
})

describe('a file truncated while a slow client reads it', () => {
  it('cuts the response when the read reaches the new end: no hang, no completed short body', async () => {
    const size = FILES.big.bytes.length
    const reader = await openSlowReader({ port: app.port, path: '/d/big' })
    expect(reader.status).toBe(200)
    // The first bytes have arrived: the server is mid-stream, held back by the client.
    expect(
      await settle(
        () => reader.readSome() + reader.consumed,
        (seen) => seen > 0,
      ),
    ).toBeGreaterThan(0)
    await truncate(fileOf('big'), 1024 * 1024)
    expectCut(await reader.finish(10_000), 200, size, FILES.big.bytes)
    await expectLoggedOnce()
    expect(
      await settle(
        () => descriptorsOn(fileOf('big')),
        (count) => count === 0,
      ),
    ).toBe(0)
  })
})

describe('a file that grew since the row was written', () => {
  /** Two requests on one kept-alive connection: extra bytes after the first would break the second. */
  async function twoOnOneConnection(first: Omit<Target, 'port'>): Promise<[Exchange, Exchange]> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const connectionsBefore = app.connections
    try {
      const a = await request({ ...first, agent })
      const b = await request({ path: '/d/small', agent })
      expect(app.connections - connectionsBefore).toBe(1)
      return [a, b]
    } finally {
      agent.destroy()
    }
  }

  it.each(['small', 'large'] as const)(
    'sends exactly Content-Length bytes, the original ones (%s file)',
    async (slug) => {
      await appendFile(fileOf(slug), patternBytes(70_000, 99))
      const [response, next] = await twoOnOneConnection({ path: `/d/${slug}` })
      expect({
        status: response.status,
        complete: response.complete,
        length: response.headers['content-length'],
      }).toEqual({ status: 200, complete: true, length: String(FILES[slug].bytes.length) })
      expect(response.body.equals(FILES[slug].bytes)).toBe(true)
      expect(next.status).toBe(200)
      expect(next.body.equals(FILES.small.bytes)).toBe(true)
      expect(logger.errors).toEqual([])
    },
  )

  it('ends an open range at the size the row gives', async () => {
    const size = FILES.large.bytes.length
    await appendFile(fileOf('large'), patternBytes(70_000, 99))
    const [response, next] = await twoOnOneConnection({
      path: '/d/large',
      headers: { Range: 'bytes=1000000-' },
    })
    expect(response.status).toBe(206)
    expect(response.headers['content-range']).toBe(`bytes 1000000-${size - 1}/${size}`)
    expect(response.body.equals(FILES.large.bytes.subarray(1_000_000))).toBe(true)
    expect(next.body.equals(FILES.small.bytes)).toBe(true)
  })

  it('sends the original parts of a multipart/byteranges response', async () => {
    const size = FILES.small.bytes.length
    await appendFile(fileOf('small'), patternBytes(500, 99))
    const [response] = await twoOnOneConnection({ path: '/d/small', headers: { Range: 'bytes=0-9,990-' } })
    expect(response.status).toBe(206)
    const parts = parseMultipart(response.body, boundaryOf(response.headers['content-type']))
    expect(parts.map((part) => part.headers['content-range'])).toEqual([
      `bytes 0-9/${size}`,
      `bytes 990-999/${size}`,
    ])
    expect(parts[1]?.body.equals(FILES.small.bytes.subarray(990))).toBe(true)
  })
})

describe('a storage read error mid-stream', () => {
  it('cuts the response after the headers, logs the error once, and serves the next request', async () => {
    const size = FILES.large.bytes.length
    faulty.failAfter = 100_000
    const response = await cutRequest({ path: `/s/${FILES.large.key}` })
    expectCut(response, 200, size, FILES.large.bytes)
    if (!('hungUp' in response)) expect(response.body.length).toBeLessThanOrEqual(100_000)
    await expectLoggedOnce()
    expect(logger.errors[0]?.error).toBeInstanceOf(InjectedReadError)
    expect(
      await settle(
        () => descriptorsOn(fileOf('large')),
        (count) => count === 0,
      ),
    ).toBe(0)

    faulty.failAfter = undefined
    const next = await request({ path: `/s/${FILES.large.key}` })
    expect({ status: next.status, complete: next.complete }).toEqual({ status: 200, complete: true })
    expect(next.body.equals(FILES.large.bytes)).toBe(true)
    expect(logger.errors).toHaveLength(1)
  })

  it('drops the connection when the stream fails before its first byte', async () => {
    faulty.failAfter = 0
    expectCut(await cutRequest({ path: `/s/${FILES.small.key}` }), 200, FILES.small.bytes.length)
    await expectLoggedOnce()
  })

  it('logs each of 50 concurrent failures exactly once (ObjectDownloadView), and keeps serving', async () => {
    faulty.failAfter = 200_000
    const responses = await Promise.all(Array.from({ length: 50 }, () => cutRequest({ path: '/d/large' })))
    for (const response of responses) expectCut(response, 200, FILES.large.bytes.length, FILES.large.bytes)
    expect(faulty.injected).toBe(50)
    expect(
      await settle(
        () => logger.errors.length,
        (count) => count >= 50,
      ),
    ).toBe(50)
    expect(logger.errors.every((entry) => entry.error instanceof InjectedReadError)).toBe(true)
    expect(
      await settle(
        () => descriptorsOn(fileOf('large')),
        (count) => count === 0,
      ),
    ).toBe(0)
    faulty.failAfter = undefined
    await expectServedWhole('large')
  })
})
