/**
 * Reliability: clients that drop downloads mid-stream. 500 downloads of an 8 MiB file through
 * ObjectDownloadView (real Postgres, a listening server in this process, node:http clients) are
 * cut by the client after the first chunk; then the process holds no descriptor more than before
 * (none on the file), nothing was logged (a client that left is no failure), and the next download
 * is whole. An uncaught error here would fail the test: jest reports it against the running test.
 */
import path from 'node:path'
import express from 'express'
import type { DataSource } from 'typeorm'
import { Document } from '../../entities/Document'
import { ObjectDownloadView, StoredFile, storages } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'
import { type AppServer, listen, patternBytes, RecordingLogger, sha256 } from '../helpers/app-server'
import { createTestDataSource } from '../helpers/database'
import { abortAfterFirstChunk, exchange, openSlowReader } from '../helpers/http-client'
import { descriptorsOn, openDescriptorsExcept, settle } from '../helpers/process-stats'
import { temporaryStorage } from '../helpers/storage'

const BIG = patternBytes(8 * 1024 * 1024, 1)
const ABORTS = 500
/** Downloads in flight at once: more than the pool's 10 connections, so lookups queue too. */
const CONCURRENCY = 25

let dataSource: DataSource
let removeMedia: () => Promise<void>
let bigFile: string
let app: AppServer
/** Postgres's port: the pool's connections are not counted with the descriptors. */
let pgPort: number
const logger = new RecordingLogger()

beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  storages.register('default', media.storage)
  dataSource = await createTestDataSource()
  pgPort = Number(new URL((dataSource.options as { url: string }).url).port || 5432)
  await media.storage.save('docs/big.bin', BIG)
  await media.storage.save('docs/nums.txt', '123456789')
  bigFile = path.join(media.root, 'docs', 'big.bin')
  const documents = dataSource.getRepository(Document)
  for (const [slug, key] of [
    ['big', 'docs/big.bin'],
    ['nums', 'docs/nums.txt'],
  ] as const) {
    await documents.save(documents.create({ slug, file: Object.assign(new StoredFile(), { path: key }) }))
  }
  const router = express()
  router.all(
    '/d/:slug',
    toHandler(new ObjectDownloadView({ dataSource, entity: Document, lookup: 'slug', file: 'file', logger })),
  )
  router.use(downloadErrorHandler())
  app = await listen(router)
})

afterAll(async () => {
  await app?.close()
  await dataSource?.destroy()
  await removeMedia?.()
  storages.clear()
})

/** Runs `task` `count` times, `concurrency` at a time. */
async function inParallel(count: number, concurrency: number, task: () => Promise<void>): Promise<void> {
  let started = 0
  const worker = async () => {
    while (started < count) {
      started++
      await task()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

/** The descriptor count once it stopped moving (three equal reads in a row), bounded. */
async function steadyDescriptors(): Promise<number> {
  const reads: number[] = []
  const last = await settle(
    () => {
      reads.push(openDescriptorsExcept(pgPort))
      return reads.slice(-3)
    },
    (window) => window.length === 3 && window.every((count) => count === window[0]),
    { timeoutMs: 3000 },
  )
  return Math.max(...last)
}

describe('ObjectDownloadView when clients drop 500 downloads mid-stream', () => {
  it('sees the file open while a download runs (the descriptor count is a real probe)', async () => {
    const reader = await openSlowReader({ port: app.port, path: '/d/big' })
    try {
      expect(reader.status).toBe(200)
      expect(descriptorsOn(bigFile)).toBe(1)
    } finally {
      reader.destroy()
    }
    expect(
      await settle(
        () => descriptorsOn(bigFile),
        (count) => count === 0,
      ),
    ).toBe(0)
  })

  it('closes every file and socket, logs nothing, and serves the next download whole', async () => {
    // Warm up: what the server sets up once (the pool, the prepared lookup) exists before counting.
    await inParallel(CONCURRENCY, CONCURRENCY, async () => {
      expect((await exchange({ port: app.port, path: '/d/nums' })).status).toBe(200)
    })
    const before = await steadyDescriptors()
    logger.clear()

    await inParallel(ABORTS, CONCURRENCY, () => abortAfterFirstChunk({ port: app.port, path: '/d/big' }))

    const after = await settle(
      () => ({ total: openDescriptorsExcept(pgPort), onFile: descriptorsOn(bigFile) }),
      (now) => now.total <= before && now.onFile === 0,
      { timeoutMs: 10_000 },
    )
    expect(after.onFile).toBe(0)
    expect(after.total).toBeLessThanOrEqual(before)
    expect(logger.errors).toEqual([])
    expect(logger.warnings).toEqual([])

    const next = await exchange({ port: app.port, path: '/d/big' })
    expect(next.status).toBe(200)
    expect(next.complete).toBe(true)
    expect(next.headers['content-length']).toBe(String(BIG.length))
    expect(sha256(next.body)).toBe(sha256(BIG))
  })
})
