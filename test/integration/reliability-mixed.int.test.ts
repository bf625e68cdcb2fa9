/**
 * Reliability: 10,000 mixed requests (GET, HEAD, single and multipart Range, If-None-Match,
 * If-Modified-Since, If-Range) over 64 kept-alive connections, against files of eight sizes served
 * by ObjectDownloadView (real Postgres) on a listening server in this process. Each request is
 * drawn from a seeded generator together with the answer RFC 9110 calls for, and every answer is
 * checked byte for byte: no 5xx, no wrong status, header or body.
 */
import http from 'node:http'
import express from 'express'
import type { DataSource } from 'typeorm'
import { Document } from '../../entities/Document'
import { ObjectDownloadView, StoredFile, storages } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'
import { type AppServer, listen, patternBytes, RecordingLogger } from '../helpers/app-server'
import { createTestDataSource } from '../helpers/database'
import { type Exchange, exchange } from '../helpers/http-client'
import { temporaryStorage } from '../helpers/storage'
import { boundaryOf, parseMultipart } from '../unit/http/fixtures'

const REQUESTS = 10_000
const CONNECTIONS = 64
/** Empty, one byte, tiny, around the 64 KiB read chunk, and a few hundred KiB. */
const SIZES = [0, 1, 9, 1000, 65_536, 65_537, 200_003, 700_001]

interface ServedFile {
  slug: string
  bytes: Buffer
  etag: string
  lastModified: string
}

let dataSource: DataSource
let removeMedia: () => Promise<void>
let app: AppServer
let files: ServedFile[] = []
const logger = new RecordingLogger()

beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  storages.register('default', media.storage)
  dataSource = await createTestDataSource()
  const documents = dataSource.getRepository(Document)
  files = []
  for (const [index, size] of SIZES.entries()) {
    const slug = `file-${size}`
    const bytes = patternBytes(size, 100 + index)
    await media.storage.save(`mixed/${slug}.bin`, bytes)
    const row = await documents.save(
      documents.create({ slug, file: Object.assign(new StoredFile(), { path: `mixed/${slug}.bin` }) }),
    )
    const { sha256, modifiedAt } = row.file as StoredFile
    files.push({ slug, bytes, etag: `"${sha256}"`, lastModified: (modifiedAt as Date).toUTCString() })
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

/** A small seeded generator (mulberry32): the same 10,000 requests on every run. */
function seeded(seed: number): (below: number) => number {
  let state = seed >>> 0
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below)
  }
}

/** What a request must get back. `parts` for multipart/byteranges, `body` otherwise. */
interface Expected {
  status: number
  body?: Buffer
  contentRange?: string
  parts?: { range: string; body: Buffer }[]
}

interface Case {
  kind: string
  file: ServedFile
  method: 'GET' | 'HEAD'
  headers: Record<string, string>
  expected: Expected
}

const DAY = 24 * 60 * 60 * 1000

/** One request and its RFC 9110 answer, for a file chosen at random. */
function drawCase(random: (below: number) => number): Case {
  const file = files[random(files.length)] as ServedFile
  const { bytes, etag, lastModified } = file
  const size = bytes.length
  const whole: Expected = { status: 200, body: bytes }
  const slice = (start: number, end: number): Expected => ({
    status: 206,
    body: bytes.subarray(start, end + 1),
    contentRange: `bytes ${start}-${end}/${size}`,
  })
  const make = (
    kind: string,
    headers: Record<string, string>,
    expected: Expected,
    method: 'GET' | 'HEAD' = 'GET',
  ) => ({
    kind,
    file,
    method,
    headers,
    expected,
  })
  const a = size === 0 ? 0 : random(size)
  const b = size === 0 ? 0 : a + random(size - a)
  switch (random(11)) {
    case 0:
      return make('GET', {}, whole)
    case 1:
      return make('HEAD', {}, { status: 200 }, 'HEAD')
    case 2:
      // bytes=a-b, or 416 for an empty file (no first byte to start from, §14.1.2).
      return size === 0
        ? make('Range a-b', { Range: 'bytes=0-0' }, { status: 416, contentRange: 'bytes */0' })
        : make('Range a-b', { Range: `bytes=${a}-${b}` }, slice(a, b))
    case 3: {
      // bytes=-n (the last n bytes; all of them when n passes the size), on a non-empty file.
      if (size === 0) return make('GET', {}, whole)
      const n = 1 + random(size + 10)
      return make('Range -n', { Range: `bytes=-${n}` }, slice(Math.max(0, size - n), size - 1))
    }
    case 4:
      return size === 0
        ? make('Range a-', { Range: 'bytes=5-' }, { status: 416, contentRange: 'bytes */0' })
        : make('Range a-', { Range: `bytes=${a}-` }, slice(a, size - 1))
    case 5: {
      // Two or three ranges with gaps between them: one part each, in order (none coalesce).
      if (size < 9)
        return make(
          'Range a-b',
          size === 0 ? {} : { Range: `bytes=0-${size - 1}` },
          size === 0 ? whole : slice(0, size - 1),
        )
      const count = 2 + random(2)
      const cuts = [...new Set(Array.from({ length: count * 2 }, () => random(size)))].sort((x, y) => x - y)
      const ranges: [number, number][] = []
      for (let i = 0; i + 1 < cuts.length && ranges.length < count; i += 2) {
        const start = cuts[i] as number
        const end = cuts[i + 1] as number
        const previous = ranges[ranges.length - 1]
        if (!previous || start > previous[1] + 1) ranges.push([start, end])
      }
      if (ranges.length < 2) return make('Range a-b', { Range: `bytes=0-${size - 1}` }, slice(0, size - 1))
      // Asked in reverse order: the parts still come in ascending order (§14.6 lets a server sort).
      const header = `bytes=${[...ranges]
        .reverse()
        .map(([start, end]) => `${start}-${end}`)
        .join(', ')}`
      return make(
        'multipart Range',
        { Range: header },
        {
          status: 206,
          parts: ranges.map(([start, end]) => ({
            range: `bytes ${start}-${end}/${size}`,
            body: bytes.subarray(start, end + 1),
          })),
        },
      )
    }
    case 6:
      return random(2) === 0
        ? make(
            'If-None-Match current',
            { 'If-None-Match': etag },
            { status: 304 },
            random(2) ? 'GET' : 'HEAD',
          )
        : make('If-None-Match other', { 'If-None-Match': '"something-else", W/"x"' }, whole)
    case 7:
      return random(2) === 0
        ? make('If-Modified-Since same', { 'If-Modified-Since': lastModified }, { status: 304 })
        : make(
            'If-Modified-Since older',
            { 'If-Modified-Since': new Date(Date.parse(lastModified) - DAY).toUTCString() },
            whole,
          )
    case 8:
      // If-Range with the current strong tag: the range is served.
      return size === 0
        ? make(
            'If-Range current',
            { 'If-Range': etag, Range: 'bytes=0-0' },
            { status: 416, contentRange: 'bytes */0' },
          )
        : make('If-Range current', { 'If-Range': etag, Range: `bytes=${a}-${b}` }, slice(a, b))
    case 9:
      // If-Range with a stale tag, or the Last-Modified date a day off: the whole file instead.
      return random(2) === 0
        ? make('If-Range stale tag', { 'If-Range': '"stale"', Range: 'bytes=0-0' }, whole)
        : make(
            'If-Range stale date',
            { 'If-Range': new Date(Date.parse(lastModified) - DAY).toUTCString(), Range: 'bytes=0-0' },
            whole,
          )
    default:
      // If-None-Match wins over If-Modified-Since (§13.2.2): a stale tag means 200, whatever the date.
      return make(
        'If-None-Match other + If-Modified-Since',
        { 'If-None-Match': '"old"', 'If-Modified-Since': lastModified },
        whole,
      )
  }
}

/** What is wrong with `response` for `test`, or `undefined` when it is right. */
function mismatch(test: Case, response: Exchange): string | undefined {
  const { expected, file } = test
  const size = file.bytes.length
  if (response.status !== expected.status) return `status ${response.status}, expected ${expected.status}`
  if (!response.complete) return 'incomplete response'
  const length = response.headers['content-length']
  if (test.method === 'HEAD' || expected.status === 304) {
    if (response.body.length !== 0) return `a body of ${response.body.length} bytes`
    if (expected.status === 304) return response.headers.etag === file.etag ? undefined : 'no ETag on the 304'
    return length === String(size) ? undefined : `HEAD Content-Length ${length}, expected ${size}`
  }
  if (length !== String(response.body.length))
    return `Content-Length ${length} for ${response.body.length} bytes`
  if (expected.contentRange !== undefined && response.headers['content-range'] !== expected.contentRange)
    return `Content-Range ${response.headers['content-range']}, expected ${expected.contentRange}`
  if (expected.body && !response.body.equals(expected.body)) return 'wrong body bytes'
  if (expected.parts) {
    let parts: ReturnType<typeof parseMultipart>
    try {
      parts = parseMultipart(response.body, boundaryOf(response.headers['content-type']))
    } catch (error) {
      return `bad multipart body: ${(error as Error).message}`
    }
    if (parts.length !== expected.parts.length)
      return `${parts.length} parts, expected ${expected.parts.length}`
    for (const [index, part] of parts.entries()) {
      const want = expected.parts[index] as { range: string; body: Buffer }
      if (part.headers['content-range'] !== want.range)
        return `part ${index} Content-Range ${part.headers['content-range']}, expected ${want.range}`
      if (!part.body.equals(want.body)) return `part ${index}: wrong bytes`
    }
  }
  if (expected.status !== 416 && response.headers.etag !== file.etag) return 'wrong ETag'
  return undefined
}

describe('ObjectDownloadView under 10,000 mixed requests on 64 kept-alive connections', () => {
  it('answers every one right: no 5xx, every status, header and byte as RFC 9110 says', async () => {
    const random = seeded(0x5eed)
    const cases = Array.from({ length: REQUESTS }, () => drawCase(random))
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS })
    const failures: string[] = []
    const statuses = new Map<number, number>()
    const kinds = new Set<string>()
    let next = 0
    const connection = async () => {
      while (next < cases.length) {
        const test = cases[next++] as Case
        kinds.add(test.kind)
        const response = await exchange({
          port: app.port,
          path: `/d/${test.file.slug}`,
          method: test.method,
          headers: test.headers,
          agent,
        })
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
        const wrong = mismatch(test, response)
        if (wrong)
          failures.push(
            `${test.method} ${test.file.slug} ${JSON.stringify(test.headers)} (${test.kind}): ${wrong}`,
          )
      }
    }
    try {
      await Promise.all(Array.from({ length: CONNECTIONS }, connection))
    } finally {
      agent.destroy()
    }
    expect(failures.slice(0, 10)).toEqual([])
    expect([...statuses.keys()].filter((status) => status >= 500)).toEqual([])
    expect([...statuses.values()].reduce((sum, count) => sum + count, 0)).toBe(REQUESTS)
    // Every kind of request was drawn, and the statuses they call for all came back.
    expect(kinds.size).toBe(14)
    expect([...statuses.keys()].sort()).toEqual([200, 206, 304, 416])
    // Kept alive: no more connections than the agent's 64.
    expect(app.connections).toBeLessThanOrEqual(CONNECTIONS)
    expect(logger.errors).toEqual([])
  }, 90_000)
})
