/**
 * ZipDownloadView over HTTP on real Postgres rows, held to what real clients and readers do:
 * curl (resuming with -C - at random offsets, and after being killed), aria2c (8 connections),
 * unzip -t, bsdtar and Python's zipfile; Range, If-Range, 304, 412; a member that vanishes or
 * changes cuts the connection; an archive past 4 GiB (sparse files) read by its central directory
 * through Range requests, and streamed whole through bsdtar. 7z is not on this machine.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import express from 'express'
import type { DataSource, Repository } from 'typeorm'
import { Document } from '../../entities/Document'
import { attachFile, storages, ZipDownloadView } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'
import type { LocalStorage } from '../../src/storage/local-storage'
import type { S3Storage } from '../../src/s3/s3-storage'
import { crc32 } from '../../src/zip/crc32'
import { type AppServer, listen, patternBytes, RecordingLogger, sha256 } from '../helpers/app-server'
import { crc32OfZeros } from '../helpers/crc32-zeros'
import { createTestDataSource } from '../helpers/database'
import { exchange } from '../helpers/http-client'
import { type S3TestServer, startS3Server } from '../helpers/s3'
import { CountingStorage, temporaryStorage } from '../helpers/storage'
import { bsdtarList, pythonZip, run, unzipTest } from '../helpers/zip-tools'
import { boundaryOf, parseMultipart } from '../unit/http/fixtures'

const MiB = 1024 * 1024
const GiB = 1024 * MiB

let dataSource: DataSource
let documents: Repository<Document>
let server: AppServer
let media: LocalStorage
/** What the views read through: counts what a response touched. */
let counting: CountingStorage
let mediaRoot: string
let removeMedia: () => Promise<void>
let scratch: string
let s3: S3TestServer | undefined
let bucket: S3Storage | undefined
const logger = new RecordingLogger()
/** The objects of the bucket test: one described as a row would (size, CRC-32, SHA-256), one bare. */
const OBJECTS = { big: patternBytes(3 * MiB + 5, 31), small: Buffer.from('from the bucket\n') }

/** The seeded files: two named a.txt (to be numbered), a name that is not ASCII, an empty one. */
const FILES = {
  alpha: { name: 'a.txt', bytes: patternBytes(3 * MiB, 1) },
  beta: { name: 'a.txt', bytes: patternBytes(2 * MiB, 2) },
  gamma: { name: 'résumé "final", v2.txt', bytes: patternBytes(5 * MiB + 123, 3) },
  empty: { name: 'empty.txt', bytes: Buffer.alloc(0) },
}
const ALPHA_OTHER = { name: 'naïve café.txt', bytes: Buffer.from('Unicode name\n') }
const LISTED = '/documents/zip?slug=alpha&slug=beta&slug=gamma&slug=empty'
const LISTED_NAMES = ['a.txt', 'a (2).txt', 'résumé "final", v2.txt', 'empty.txt']

/** Saves a document whose columns hold `file` (and `another`), through attachFile(). */
async function saveDocument(
  slug: string,
  file: { name: string; bytes: Buffer },
  another?: { name: string; bytes: Buffer },
): Promise<Document> {
  const document = documents.create({ slug, title: slug })
  await attachFile(document, 'file', file.bytes, { name: file.name })
  if (another) await attachFile(document, 'anotherFile', another.bytes, { name: another.name })
  return documents.save(document)
}

const url = (route: string) => `${server.url}${route}`
const get = (route: string, headers: Record<string, string> = {}) =>
  exchange({ port: server.port, path: route, headers }, { timeoutMs: 30_000 })

/** curl with `args`; its exit status and what it wrote to stderr. */
const curl = (...args: string[]) => run('curl', ['--silent', '--show-error', ...args])

async function fileSha256(file: string): Promise<string> {
  return sha256(await readFile(file))
}

beforeAll(async () => {
  const temporary = await temporaryStorage()
  media = temporary.storage
  mediaRoot = temporary.root
  removeMedia = temporary.remove
  counting = new CountingStorage(media)
  storages.register('default', counting)
  scratch = await mkdtemp(path.join(os.tmpdir(), 'downloadview-zip-int-'))
  dataSource = await createTestDataSource()
  documents = dataSource.getRepository(Document)
  await saveDocument('alpha', FILES.alpha, ALPHA_OTHER)
  for (const slug of ['beta', 'gamma', 'empty'] as const) await saveDocument(slug, FILES[slug])

  const app = express()
  const rows = { dataSource, entity: Document, logger } as const
  app.all(
    '/documents/:slug/zip',
    toHandler(new ZipDownloadView({ ...rows, lookup: 'slug', files: ['file', 'anotherFile'] })),
  )
  app.all(
    '/documents/zip',
    toHandler(new ZipDownloadView({ ...rows, lookup: { query: 'slug' }, files: 'file' })),
  )
  app.all(
    '/strict/zip',
    toHandler(
      new ZipDownloadView({ ...rows, lookup: { query: 'slug' }, files: 'file', maxChecksumBytes: 0 }),
    ),
  )
  app.all(
    '/keys/zip',
    toHandler(
      new ZipDownloadView({
        name: 'loose files.zip',
        logger,
        entries: () => [
          { key: 'loose/one.txt', name: '../../one.txt' },
          { key: 'loose/two.txt', name: 'C:\\two.txt' },
        ],
      }),
    ),
  )
  app.all(
    '/bucket/zip',
    toHandler(
      new ZipDownloadView({
        logger,
        entries: () => {
          if (!bucket) throw new Error('no bucket yet')
          return [
            {
              storage: bucket,
              key: 'objects/big.bin',
              size: OBJECTS.big.length,
              crc32: crc32(OBJECTS.big),
              sha256: sha256(OBJECTS.big),
            },
            { storage: bucket, key: 'objects/small.txt' },
          ]
        },
      }),
    ),
  )
  app.use(downloadErrorHandler({ logger }))
  server = await listen(app)
  await media.save('loose/one.txt', 'one\n')
  await media.save('loose/two.txt', 'two\n')
}, 60_000)

afterAll(async () => {
  await server?.close()
  await s3?.stop()
  await dataSource?.destroy()
  await removeMedia?.()
  await rm(scratch, { recursive: true, force: true })
  storages.clear()
})

beforeEach(() => logger.clear())

describe('GET a zip of the file of the documents the query lists', () => {
  let archive: string
  let whole: Buffer

  beforeAll(async () => {
    archive = path.join(scratch, 'listed.zip')
    const result = await curl('--fail', '-o', archive, url(LISTED))
    expect(result.code).toBe(0)
    whole = await readFile(archive)
  })

  it('announces its exact length, ranges, a strong ETag and an attachment name before the first byte', async () => {
    counting.reset()
    const head = await exchange({ port: server.port, path: LISTED, method: 'HEAD' })
    // From the rows alone: nothing stats or opens a file for a HEAD.
    expect(counting.calls).toMatchObject({ stat: 0, open: 0 })
    expect(head.status).toBe(200)
    expect(head.headers).toMatchObject({
      'content-type': 'application/zip',
      'content-length': String(whole.length),
      'accept-ranges': 'bytes',
      'content-disposition': 'attachment; filename=download.zip',
    })
    expect(head.headers.etag).toMatch(/^"zip-[0-9a-f]{64}"$/)
    expect(head.headers['last-modified']).toBeUndefined()
  })

  it('passes unzip -t', async () => {
    const result = await unzipTest(archive)
    expect(result.code).toBe(0)
    expect(result.output).toContain('No errors detected')
  })

  it('lists the entries in order with bsdtar, the duplicate name numbered, UTF-8 names intact', async () => {
    const listed = await bsdtarList(archive)
    expect(listed.code).toBe(0)
    expect(listed.names).toEqual(LISTED_NAMES)
  })

  it("is read by Python's zipfile: testzip() passes, every member's bytes are the row's, stored and UTF-8 flagged", async () => {
    const report = await pythonZip(archive)
    expect(report.testzip).toBeNull()
    expect(
      report.entries.map((entry) => [entry.name, entry.sha256, entry.method, entry.flags & 0x0800]),
    ).toEqual(
      (['alpha', 'beta', 'gamma', 'empty'] as const).map((slug, index) => [
        LISTED_NAMES[index],
        sha256(FILES[slug].bytes),
        0,
        0x0800,
      ]),
    )
  })

  it('is the same archive on every request, byte for byte', async () => {
    const again = await get(LISTED)
    expect(again.complete).toBe(true)
    expect(sha256(again.body)).toBe(sha256(whole))
  })

  it.each([
    [100, 199],
    [0, 0],
    [2 * MiB, 4 * MiB],
  ])('answers Range bytes=%i-%i with 206 and exactly those bytes', async (start, end) => {
    const response = await get(LISTED, { Range: `bytes=${start}-${end}` })
    expect(response.status).toBe(206)
    expect(response.headers['content-range']).toBe(`bytes ${start}-${end}/${whole.length}`)
    expect(response.body.equals(whole.subarray(start, end + 1))).toBe(true)
  })

  it('answers the last bytes (the end of central directory record) to a suffix range', async () => {
    const response = await get(LISTED, { Range: 'bytes=-22' })
    expect(response.status).toBe(206)
    expect(response.body.readUInt32LE(0)).toBe(0x06054b50)
  })

  it('answers several ranges as multipart/byteranges, each part the archive’s bytes', async () => {
    const response = await get(LISTED, { Range: `bytes=0-9,${6 * MiB}-${6 * MiB + 9},-5` })
    expect(response.status).toBe(206)
    const parts = parseMultipart(response.body, boundaryOf(response.headers['content-type']))
    expect(parts.map((part) => part.body)).toEqual([
      whole.subarray(0, 10),
      whole.subarray(6 * MiB, 6 * MiB + 10),
      whole.subarray(whole.length - 5),
    ])
    expect(parts[0]?.headers['content-type']).toBe('application/zip')
  })

  it('answers 416 to a range past the end', async () => {
    const response = await get(LISTED, { Range: `bytes=${whole.length}-` })
    expect(response.status).toBe(416)
    expect(response.headers['content-range']).toBe(`bytes */${whole.length}`)
  })

  describe('preconditions', () => {
    let etag: string

    beforeAll(async () => {
      etag = (await exchange({ port: server.port, path: LISTED, method: 'HEAD' })).headers.etag as string
    })

    it('answers If-Range with the current ETag with 206', async () => {
      const response = await get(LISTED, { Range: 'bytes=10-19', 'If-Range': etag })
      expect(response.status).toBe(206)
      expect(response.body.equals(whole.subarray(10, 20))).toBe(true)
    })

    it('answers If-Range with another ETag with the whole archive (200)', async () => {
      const response = await get(LISTED, { Range: 'bytes=10-19', 'If-Range': `"zip-${'0'.repeat(64)}"` })
      expect(response.status).toBe(200)
      expect(response.body.length).toBe(whole.length)
    })

    it('answers If-None-Match with the ETag with 304, from the rows alone', async () => {
      counting.reset()
      const response = await get(LISTED, { 'If-None-Match': etag })
      expect(counting.calls).toMatchObject({ stat: 0, open: 0 })
      expect(response.status).toBe(304)
      expect(response.headers.etag).toBe(etag)
      expect(response.body.length).toBe(0)
    })

    it('answers If-Match with another ETag with 412', async () => {
      const response = await get(LISTED, { 'If-Match': '"other"' })
      expect(response.status).toBe(412)
    })

    it('serves If-Match with the ETag', async () => {
      expect((await get(LISTED, { 'If-Match': etag })).status).toBe(200)
    })

    it('gives the same listing in another order another ETag', async () => {
      const other = await exchange({
        port: server.port,
        path: '/documents/zip?slug=beta&slug=alpha&slug=gamma&slug=empty',
        method: 'HEAD',
      })
      expect(other.headers.etag).not.toBe(etag)
    })
  })

  describe('resuming with curl -C -', () => {
    it('completes a download cut at 8 random offsets into the same archive', async () => {
      const offsets = [
        1,
        29,
        3 * MiB + 40,
        ...Array.from({ length: 5 }, () => 1 + Math.floor(Math.random() * (whole.length - 2))),
      ]
      for (const [index, offset] of offsets.entries()) {
        const part = path.join(scratch, `part-${index}.zip`)
        // The broken download: the first `offset` bytes, as a cut connection leaves them.
        expect((await curl('--fail', '--range', `0-${offset - 1}`, '-o', part, url(LISTED))).code).toBe(0)
        expect((await stat(part)).size).toBe(offset)
        const resumed = await curl('--fail', '-C', '-', '-o', part, url(LISTED))
        expect(resumed.code).toBe(0)
        expect(await fileSha256(part)).toBe(sha256(whole))
      }
    })

    it('completes a download whose curl was killed mid-transfer', async () => {
      const part = path.join(scratch, 'killed.zip')
      const child = spawn('curl', ['--silent', '--limit-rate', '2M', '-o', part, url(LISTED)])
      const exited = new Promise((resolve) => child.once('exit', resolve))
      // Kill it once it has written some of the archive, well short of the end.
      for (let waited = 0; ; waited += 50) {
        const size = await stat(part).then(
          (info) => info.size,
          () => 0,
        )
        if (size >= MiB) break
        if (waited > 20_000) throw new Error('curl wrote nothing')
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      child.kill('SIGKILL')
      await exited
      const cut = (await stat(part)).size
      expect(cut).toBeLessThan(whole.length)
      const resumed = await curl('--fail', '-C', '-', '-o', part, url(LISTED))
      expect(resumed.code).toBe(0)
      expect(await fileSha256(part)).toBe(sha256(whole))
    })
  })

  it('is downloaded by aria2c over 8 connections into the same archive', async () => {
    const before = server.connections
    const result = await run('aria2c', [
      '-x8',
      '-s8',
      '-k1M',
      '--file-allocation=none',
      '--allow-overwrite=true',
      '--auto-file-renaming=false',
      '--console-log-level=warn',
      '--summary-interval=0',
      '--download-result=hide',
      '-d',
      scratch,
      '-o',
      'aria2.zip',
      url(LISTED),
    ])
    expect(result.code).toBe(0)
    expect(await fileSha256(path.join(scratch, 'aria2.zip'))).toBe(sha256(whole))
    // It did split the download: several connections, each for its own ranges.
    expect(server.connections - before).toBeGreaterThanOrEqual(4)
  })
})

describe('GET a zip of one document’s file columns', () => {
  it('holds file then anotherFile, named by their stored names, in an archive named after the slug', async () => {
    const response = await get('/documents/alpha/zip')
    expect(response.status).toBe(200)
    expect(response.headers['content-disposition']).toBe('attachment; filename=alpha.zip')
    const archive = path.join(scratch, 'alpha.zip')
    await writeFile(archive, response.body)
    const report = await pythonZip(archive)
    expect(report.entries.map((entry) => [entry.name, entry.sha256])).toEqual([
      ['a.txt', sha256(FILES.alpha.bytes)],
      ['naïve café.txt', sha256(ALPHA_OTHER.bytes)],
    ])
  })

  it('leaves an empty column out', async () => {
    const response = await get('/documents/beta/zip')
    const archive = path.join(scratch, 'beta.zip')
    await writeFile(archive, response.body)
    expect((await bsdtarList(archive)).names).toEqual(['a.txt'])
  })

  it('answers 404 for an unknown slug', async () => {
    expect((await get('/documents/nobody/zip')).status).toBe(404)
  })

  it('answers 405 with Allow to POST', async () => {
    const response = await exchange({ port: server.port, path: '/documents/alpha/zip', method: 'POST' })
    expect(response.status).toBe(405)
    expect(response.headers.allow).toBe('GET, HEAD')
  })
})

describe('the listed documents', () => {
  it('answers 400 to more than 100 values (option maxRows)', async () => {
    const query = Array.from({ length: 101 }, (_, index) => `slug=s${index}`).join('&')
    const response = await get(`/documents/zip?${query}`)
    expect(response.status).toBe(400)
    expect(response.body.toString()).toBe('Bad Request\n')
  })

  it('takes 100 values, each once: a repeated value is one member', async () => {
    const query = [...Array.from({ length: 99 }, () => 'slug=beta'), 'slug=alpha'].join('&')
    const response = await get(`/documents/zip?${query}`)
    expect(response.status).toBe(200)
    const archive = path.join(scratch, 'hundred.zip')
    await writeFile(archive, response.body)
    expect((await bsdtarList(archive)).names).toEqual(['a.txt', 'a (2).txt'])
  })

  it('answers 400 when the query lists none', async () => {
    expect((await get('/documents/zip')).status).toBe(400)
  })

  it('answers 404 when one listed document does not exist', async () => {
    expect((await get('/documents/zip?slug=alpha&slug=nobody')).status).toBe(404)
  })
})

describe('an archive of storage keys (option entries)', () => {
  it('stats the files, and names the entries safely', async () => {
    const response = await get('/keys/zip')
    expect(response.status).toBe(200)
    expect(response.headers['content-disposition']).toBe('attachment; filename="loose files.zip"')
    // No SHA-256 vouches for the content: the ETag is weak.
    expect(response.headers.etag).toMatch(/^W\/"zip-/)
    const archive = path.join(scratch, 'keys.zip')
    await writeFile(archive, response.body)
    const report = await pythonZip(archive)
    expect(report.testzip).toBeNull()
    expect(report.entries.map((entry) => entry.name)).toEqual(['one.txt', 'C_/two.txt'])
  })
})

describe('members in an S3 bucket (s3rver)', () => {
  beforeAll(async () => {
    s3 = await startS3Server()
    bucket = s3.storage()
    await bucket.save('objects/big.bin', OBJECTS.big)
    await bucket.save('objects/small.txt', OBJECTS.small)
  }, 30_000)

  it('makes the archive from ranged GetObjects: unzip -t and zipfile pass, the bytes are the objects’', async () => {
    const archive = path.join(scratch, 'bucket.zip')
    expect((await curl('--fail', '-o', archive, url('/bucket/zip'))).code).toBe(0)
    expect((await unzipTest(archive)).code).toBe(0)
    const report = await pythonZip(archive)
    expect(report.testzip).toBeNull()
    expect(report.entries.map((entry) => [entry.name, entry.sha256])).toEqual([
      ['big.bin', sha256(OBJECTS.big)],
      ['small.txt', sha256(OBJECTS.small)],
    ])
  })

  it('resumes with curl -C - from inside the first object', async () => {
    const whole = await readFile(path.join(scratch, 'bucket.zip'))
    const part = path.join(scratch, 'bucket-part.zip')
    expect((await curl('--fail', '--range', `0-${MiB}`, '-o', part, url('/bucket/zip'))).code).toBe(0)
    expect((await curl('--fail', '-C', '-', '-o', part, url('/bucket/zip'))).code).toBe(0)
    expect(await fileSha256(part)).toBe(sha256(whole))
  })

  it('cuts the connection when an object grew since it was described', async () => {
    await bucket?.save('objects/big.bin', Buffer.concat([OBJECTS.big, Buffer.from('!')]))
    const out = path.join(scratch, 'bucket-grown.zip')
    const result = await curl('-o', out, url('/bucket/zip'))
    expect(result.code).toBe(18)
    await bucket?.save('objects/big.bin', OBJECTS.big)
  })
})

describe('members whose rows have no CRC-32 (saved before the column)', () => {
  beforeAll(async () => {
    await saveDocument('old-one', { name: 'old-one.txt', bytes: patternBytes(100_000, 7) })
    await saveDocument('old-two', { name: 'old-two.txt', bytes: patternBytes(50_000, 8) })
    await dataSource.query(`UPDATE document SET file_crc32 = NULL WHERE slug IN ('old-one', 'old-two')`)
  })

  it('computes them by reading the files before the first byte, within maxChecksumBytes: a valid archive', async () => {
    const response = await get('/documents/zip?slug=old-one&slug=old-two')
    expect(response.status).toBe(200)
    const archive = path.join(scratch, 'old.zip')
    await writeFile(archive, response.body)
    expect((await unzipTest(archive)).code).toBe(0)
    expect((await pythonZip(archive)).testzip).toBeNull()
  })

  it('answers 500 past maxChecksumBytes, and the error handler logs why, naming backfill', async () => {
    const response = await get('/strict/zip?slug=old-one&slug=old-two')
    expect(response.status).toBe(500)
    expect(response.body.toString()).toBe('Internal Server Error\n')
    expect(logger.errors).toHaveLength(1)
    expect(String(logger.errors[0]?.error)).toMatch(/MissingChecksumError: .*no CRC-32 stored.*backfill/)
  })
})

describe('a member that vanishes or changes', () => {
  const fileOf = async (slug: string) => {
    const row = await documents.findOneByOrFail({ slug })
    return path.join(mediaRoot, row.file?.path as string)
  }

  beforeEach(async () => {
    for (const slug of ['v1', 'v2', 'v3']) await documents.delete({ slug })
    await saveDocument('v1', { name: 'v1.bin', bytes: patternBytes(2 * MiB, 21) })
    await saveDocument('v2', { name: 'v2.bin', bytes: patternBytes(2 * MiB, 22) })
    await saveDocument('v3', { name: 'v3.bin', bytes: patternBytes(2 * MiB, 23) })
  })

  const ROUTE = '/documents/zip?slug=v1&slug=v2&slug=v3'

  /** curl's view: its exit status (18: "partial file", the connection cut short) and the bytes it got. */
  async function download(): Promise<{ code: number | null; bytes: number; length: number }> {
    const out = path.join(scratch, 'vanishing.zip')
    const head = await exchange({ port: server.port, path: ROUTE, method: 'HEAD' })
    const result = await curl('-o', out, url(ROUTE))
    return {
      code: result.code,
      bytes: (await stat(out)).size,
      length: Number(head.headers['content-length']),
    }
  }

  it('cuts the connection when a later member is gone: never a complete-looking archive', async () => {
    await unlink(await fileOf('v2'))
    const { code, bytes, length } = await download()
    expect(code).toBe(18)
    expect(bytes).toBeLessThan(length)
    expect(logger.errors.map((entry) => String(entry.error))).toEqual([
      expect.stringMatching(/ZIP member "v2.bin"/),
    ])
  })

  it('cuts the connection when a member shrank', async () => {
    await truncate(await fileOf('v3'), MiB)
    const { code, bytes, length } = await download()
    expect(code).toBe(18)
    expect(bytes).toBeLessThan(length)
  })

  it('cuts the connection when a member grew', async () => {
    await appendFile(await fileOf('v2'), 'more')
    const { code, bytes, length } = await download()
    expect(code).toBe(18)
    expect(bytes).toBeLessThan(length)
  })

  it('answers 404 before any byte when the first member is gone', async () => {
    await unlink(await fileOf('v1'))
    expect((await get(ROUTE)).status).toBe(404)
  })
})

describe('an archive past 4 GiB (ZIP64): a sparse file just over 4 GiB, then a small one', () => {
  // Over 0xFFFFFFFF bytes: its sizes need the ZIP64 fields.
  const SIZE = 4 * GiB + MiB
  const TAIL = Buffer.from('after 4 GiB of zeros\n')
  const ROUTE = '/documents/zip?slug=sparse-big&slug=sparse-tail'

  beforeAll(async () => {
    const key = 'sparse/big.bin'
    await mkdir(path.join(mediaRoot, 'sparse'), { recursive: true })
    await writeFile(path.join(mediaRoot, key), '')
    await truncate(path.join(mediaRoot, key), SIZE)
    // The SHA-256 of 4 GiB of zeros, streamed once (a few seconds); the CRC-32 without reading a byte.
    const hash = createHash('sha256')
    const zeros = Buffer.alloc(64 * MiB)
    for (let left = SIZE; left > 0; left -= zeros.length)
      hash.update(zeros.subarray(0, Math.min(left, zeros.length)))
    // Straight into the table: the save hook would read the 4 GiB to describe them.
    await dataSource.query(
      `INSERT INTO document (slug, title, file_path, file_name, file_size, file_content_type, file_modified_at, file_sha256, file_crc32)
       VALUES ('sparse-big', 'sparse', $1, 'big.bin', $2, 'application/octet-stream', now(), $3, $4)`,
      [key, SIZE, hash.digest('hex'), crc32OfZeros(SIZE)],
    )
    await saveDocument('sparse-tail', { name: 'tail.txt', bytes: TAIL })
  }, 60_000)

  it('announces a length past 4 GiB', async () => {
    const head = await exchange({ port: server.port, path: ROUTE, method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(Number(head.headers['content-length'])).toBeGreaterThan(SIZE)
  })

  it("is read by Python's zipfile through Range requests: ZIP64 records and fields, CRCs, each member's first bytes", async () => {
    const report = await pythonZip(url(ROUTE), { readData: false, test: false, head: MiB })
    expect(report.zip64End).toBe(true)
    expect(
      report.entries.map((entry) => [entry.name, entry.size, entry.crc, entry.zip64, entry.headSha256]),
    ).toEqual([
      // Its sizes do not fit 32 bits: they are in its ZIP64 extra fields.
      ['big.bin', SIZE, crc32OfZeros(SIZE), true, sha256(Buffer.alloc(MiB))],
      // It starts past 4 GiB: its offset is in its ZIP64 extra field.
      [
        'tail.txt',
        TAIL.length,
        (await documents.findOneByOrFail({ slug: 'sparse-tail' })).file?.crc32,
        true,
        sha256(TAIL),
      ],
    ])
    expect(report.entries[1]?.headerOffset).toBeGreaterThan(SIZE)
  }, 60_000)

  it('streams whole through bsdtar, which reads the local ZIP64 headers and checks both CRCs', async () => {
    const list = await run('bash', [
      '-o',
      'pipefail',
      '-c',
      `curl --silent --fail '${url(ROUTE)}' | bsdtar -xOf - > /dev/null`,
    ])
    expect(list.output).toBe('')
    expect(list.code).toBe(0)
  }, 60_000)
})
