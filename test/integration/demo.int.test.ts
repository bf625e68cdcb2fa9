/** The demo app's routes over HTTP, on real Postgres with the real seeds. */
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import os from 'node:os'
import path from 'node:path'
import request from 'supertest'
import type { DataSource } from 'typeorm'
import { buildApp } from '../../demo/app'
import { random1m, seed } from '../../demo/seed'
import { Document } from '../../entities/Document'
import { signUrl, storages } from '../../src'
import { assertDownload, binaryParser } from '../../src/testing'
import { createTestDataSource } from '../helpers/database'
import { temporaryStorage } from '../helpers/storage'
import { pythonZip, unzipTest } from '../helpers/zip-tools'

let dataSource: DataSource
// One listening server for the whole file: supertest would otherwise start and close a server per
// request, and the HTTP view's keep-alive connections to it would hold each close() for 5 s.
let app: Server
let removeMedia: () => Promise<void>
let mediaRoot: string

beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  mediaRoot = media.root
  storages.register('default', media.storage)
  dataSource = await createTestDataSource()
  await seed(dataSource)
  app = buildApp(dataSource).listen(0, '127.0.0.1')
})

afterAll(async () => {
  app.closeAllConnections()
  await new Promise((resolve) => app.close(resolve))
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

const get = (url: string) => request(app).get(url).buffer(true).parse(binaryParser)

describe('the demo seeds', () => {
  it('inserts hello-world first, so it has id 1', async () => {
    const first = await dataSource.getRepository(Document).findOneByOrFail({ id: 1 })
    expect(first.slug).toBe('hello-world')
  })

  it('is idempotent: seeding again adds no row and changes no checksum', async () => {
    const before = await dataSource.getRepository(Document).find({ order: { id: 'ASC' } })
    await seed(dataSource)
    const after = await dataSource.getRepository(Document).find({ order: { id: 'ASC' } })
    expect(after.map((row) => [row.slug, row.file?.sha256 ?? null])).toEqual(
      before.map((row) => [row.slug, row.file?.sha256 ?? null]),
    )
  })

  it('fills the CRC-32 of documents seeded before its column existed, and changes nothing else', async () => {
    const documents = dataSource.getRepository(Document)
    const before = await documents.findOneByOrFail({ slug: 'hello-world' })
    await dataSource.query(
      `UPDATE document SET file_crc32 = NULL, another_file_crc32 = NULL WHERE slug = 'hello-world'`,
    )
    await seed(dataSource)
    const after = await documents.findOneByOrFail({ slug: 'hello-world' })
    // zlib.crc32(b'Hello world!\n') and zlib.crc32(b'Goodbye world!\n')
    expect([after.file?.crc32, after.anotherFile?.crc32]).toEqual([
      before.file?.crc32,
      before.anotherFile?.crc32,
    ])
    expect(after.file?.crc32).toBe(0xb2a9e441)
    expect({ ...after.file, crc32: null }).toEqual({ ...before.file, crc32: null })
  })

  it('fills the CRC-32 of photos seeded before its column existed', async () => {
    await dataSource.query(`UPDATE photo SET image_crc32 = NULL WHERE slug = 'sunset'`)
    await seed(dataSource)
    const [row] = await dataSource.query(`SELECT image_crc32 FROM photo WHERE slug = 'sunset'`)
    expect(row.image_crc32).toMatch(/^\d+$/)
  })

  it('restores a seed file that vanished from storage', async () => {
    const row = await dataSource.getRepository(Document).findOneByOrFail({ slug: 'empty' })
    await storages.get().delete(row.file?.path as string)
    await seed(dataSource)
    assertDownload(await get('/object/default-file/empty/'), { content: '', basename: 'empty.txt' })
  })

  it('gives every photo a ThumbHash, also one saved before the thumbhash column (NULL)', async () => {
    const thumbhashes = async () =>
      (
        (await dataSource.query(`SELECT slug, image_thumbhash FROM photo ORDER BY id`)) as {
          slug: string
          image_thumbhash: string | null
        }[]
      ).map((row) => [row.slug, row.image_thumbhash])
    const seeded = await thumbhashes()
    expect(seeded.every(([, hash]) => /^[A-Za-z0-9+/]{20,}=*$/.test(hash ?? ''))).toBe(true)
    await dataSource.query(`UPDATE photo SET image_thumbhash = NULL WHERE slug = 'badge'`)
    await seed(dataSource)
    expect(await thumbhashes()).toEqual(seeded)
  })
})

describe('GET /object/default-file/:slug/', () => {
  it('serves hello-world file.txt as an attachment', async () => {
    assertDownload(await get('/object/default-file/hello-world/'), {
      content: 'Hello world!\n',
      basename: 'file.txt',
      contentType: 'text/plain',
      attachment: true,
      size: 13,
    })
  })

  it('serves the unicode name with an ASCII filename and filename*', async () => {
    const response = await get('/object/default-file/unicode/')
    assertDownload(response, { content: 'Unicode name\n', basename: 'résumé "final", v2.txt' })
    expect(response.headers['content-disposition']).toMatch(
      /^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''r%C3%A9sum%C3%A9/,
    )
  })

  it('serves random-1m byte for byte', async () => {
    assertDownload(await get('/object/default-file/random-1m/'), {
      content: random1m(),
      basename: 'random-1m.bin',
      contentType: 'application/octet-stream',
      size: 1048576,
    })
  })

  it('serves empty.txt with Content-Length 0', async () => {
    assertDownload(await get('/object/default-file/empty/'), { content: '', basename: 'empty.txt', size: 0 })
  })

  it('serves page.html as an attachment with a sandbox policy', async () => {
    const response = await get('/object/default-file/page/')
    assertDownload(response, {
      content: '<script>alert(1)</script>\n',
      contentType: 'text/html',
      attachment: true,
    })
    expect(response.headers['content-security-policy']).toBe('sandbox')
  })

  it('answers 404 for a row whose file was removed from storage', async () => {
    expect((await get('/object/default-file/missing/')).status).toBe(404)
  })

  it('answers 404 for a row with an empty file column', async () => {
    expect((await get('/object/default-file/no-file/')).status).toBe(404)
  })

  it('answers 404 for an unknown slug', async () => {
    expect((await get('/object/default-file/nobody/')).status).toBe(404)
  })

  it('serves a single range', async () => {
    const response = await get('/object/default-file/random-1m/').set('Range', 'bytes=1000-1009')
    expect(response.status).toBe(206)
    expect(response.headers['content-range']).toBe('bytes 1000-1009/1048576')
    expect(response.body).toEqual(random1m().subarray(1000, 1010))
  })

  it('answers 304 to If-None-Match with the stored ETag', async () => {
    const first = await get('/object/default-file/hello-world/')
    const again = await get('/object/default-file/hello-world/').set(
      'If-None-Match',
      first.headers.etag as string,
    )
    expect(again.status).toBe(304)
    expect(again.headers.etag).toBe(first.headers.etag)
  })

  it('answers HEAD with the GET headers and no body', async () => {
    const response = await request(app).head('/object/default-file/random-1m/')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('1048576')
    expect(response.headers['accept-ranges']).toBe('bytes')
  })

  it('answers 405 with Allow to POST', async () => {
    const response = await request(app).post('/object/default-file/hello-world/')
    expect(response.status).toBe(405)
    expect(response.headers.allow).toBe('GET, HEAD')
  })
})

describe('GET /object/another-file/:slug/', () => {
  it('serves hello-world another_file.txt', async () => {
    assertDownload(await get('/object/another-file/hello-world/'), {
      content: 'Goodbye world!\n',
      basename: 'another_file.txt',
      attachment: true,
    })
  })

  it('answers 404 when the other column is empty', async () => {
    expect((await get('/object/another-file/unicode/')).status).toBe(404)
  })
})

describe('GET /object/deserialized-basename/:slug/', () => {
  it('names the file from the basename column', async () => {
    assertDownload(await get('/object/deserialized-basename/hello-world/'), {
      content: 'Hello world!\n',
      basename: 'hello-world.txt',
    })
  })

  it('falls back to the stored name when the basename column is empty', async () => {
    assertDownload(await get('/object/deserialized-basename/random-1m/'), { basename: 'random-1m.bin' })
  })
})

describe('GET /object/inline-file/:slug/', () => {
  it('serves the file inline, with its name', async () => {
    assertDownload(await get('/object/inline-file/hello-world/'), {
      content: 'Hello world!\n',
      basename: 'file.txt',
      attachment: false,
    })
  })

  it('serves HTML inline only inside a sandbox', async () => {
    const response = await get('/object/inline-file/page/')
    assertDownload(response, { contentType: 'text/html', attachment: false })
    expect(response.headers['content-security-policy']).toBe('sandbox')
    expect(response.headers['x-content-type-options']).toBe('nosniff')
  })
})

describe('GET /object/by-id/:id/', () => {
  it('serves the row with id 1', async () => {
    assertDownload(await get('/object/by-id/1/'), { content: 'Hello world!\n', basename: 'file.txt' })
  })

  it.each(['abc', '1.5', '-1', '99999999999', '1e3', '%00'])(
    'answers 404 (not 500) for the id %s',
    async (id) => {
      expect((await get(`/object/by-id/${id}/`)).status).toBe(404)
    },
  )
})

describe('the zip routes (ZipDownloadView)', () => {
  let scratch: string
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'downloadview-demo-zip-'))
  })
  afterAll(() => rm(scratch, { recursive: true, force: true }))

  /** The archive of `response`, as Python's zipfile reads it, after `unzip -t` passed it. */
  async function entriesOf(response: request.Response): Promise<[string, string][]> {
    const file = path.join(scratch, 'demo.zip')
    await writeFile(file, response.body as Buffer)
    expect((await unzipTest(file)).code).toBe(0)
    const report = await pythonZip(file)
    expect(report.testzip).toBeNull()
    return report.entries.map((entry) => [entry.name, entry.sha256 ?? ''])
  }
  const sha256Of = (text: string) => createHash('sha256').update(text).digest('hex')

  describe('GET /zip/documents/:slug/', () => {
    it("serves hello-world's two file columns as file.txt and another_file.txt, in hello-world.zip", async () => {
      const response = await get('/zip/documents/hello-world/')
      expect(response.status).toBe(200)
      expect(response.headers['content-type']).toBe('application/zip')
      expect(response.headers['content-disposition']).toBe('attachment; filename=hello-world.zip')
      expect(await entriesOf(response)).toEqual([
        ['file.txt', sha256Of('Hello world!\n')],
        ['another_file.txt', sha256Of('Goodbye world!\n')],
      ])
    })

    it('resumes: a range with If-Range of its ETag is the rest of the same archive', async () => {
      const whole = await get('/zip/documents/hello-world/')
      const rest = await get('/zip/documents/hello-world/')
        .set('Range', 'bytes=50-')
        .set('If-Range', whole.headers.etag as string)
      expect(rest.status).toBe(206)
      expect(rest.body).toEqual((whole.body as Buffer).subarray(50))
    })

    it('answers 304 to If-None-Match with its ETag', async () => {
      const whole = await get('/zip/documents/hello-world/')
      const again = await get('/zip/documents/hello-world/').set(
        'If-None-Match',
        whole.headers.etag as string,
      )
      expect(again.status).toBe(304)
    })

    it('answers 404 for a document without a file', async () => {
      expect((await get('/zip/documents/no-file/')).status).toBe(404)
    })
  })

  describe('GET /zip/documents/?slug=', () => {
    it('serves the file of each listed document, in the order listed', async () => {
      const response = await get('/zip/documents/?slug=unicode&slug=hello-world')
      expect(response.status).toBe(200)
      expect(response.headers['content-disposition']).toBe('attachment; filename=download.zip')
      expect(await entriesOf(response)).toEqual([
        ['résumé "final", v2.txt', sha256Of('Unicode name\n')],
        ['file.txt', sha256Of('Hello world!\n')],
      ])
    })

    it('answers 400 to more than 100 slugs', async () => {
      const query = Array.from({ length: 101 }, (_, index) => `slug=doc-${index}`).join('&')
      expect((await get(`/zip/documents/?${query}`)).status).toBe(400)
    })

    it('answers 404 when a listed slug has no document', async () => {
      expect((await get('/zip/documents/?slug=hello-world&slug=nobody')).status).toBe(404)
    })
  })

  it('are linked from the index page', async () => {
    const page = (await request(app).get('/')).text
    expect(page).toContain('/zip/documents/hello-world/')
    expect(page).toContain('/zip/documents/?slug=hello-world&#38;slug=unicode&#38;slug=random-1m')
  })
})

describe('GET /', () => {
  it('lists every seeded document with escaped names', async () => {
    const response = await request(app).get('/')
    expect(response.status).toBe(200)
    expect(response.text).toContain('/object/default-file/hello-world/')
    expect(response.text).toContain('résumé &#34;final&#34;, v2.txt')
    expect(response.text).not.toContain('"final"')
  })
})

describe('a malformed URL', () => {
  it('answers 400 for a broken percent-escape, not 500', async () => {
    const response = await request(app).get('/object/default-file/%E0%A4%A/')
    expect(response.status).toBe(400)
    expect(response.text).toBe('Bad Request\n')
  })
})

describe('GET /storage/static-path/*path', () => {
  it('serves hello-world.txt from the root of the media storage', async () => {
    assertDownload(await get('/storage/static-path/hello-world.txt'), {
      content: 'Hello world!\n',
      basename: 'hello-world.txt',
      contentType: 'text/plain',
    })
  })

  it('serves a nested key of the media storage', async () => {
    assertDownload(await get('/storage/static-path/documents/hello-world/file.txt'), {
      content: 'Hello world!\n',
      basename: 'file.txt',
    })
  })

  it('sends a weak ETag from size and modification time', async () => {
    const response = await get('/storage/static-path/hello-world.txt')
    expect(response.headers.etag).toMatch(/^W\/"d-[0-9a-f]+"$/)
    expect(response.headers['last-modified']).toBeDefined()
  })

  it('refuses an encoded parent segment with 404', async () => {
    const response = await get('/storage/static-path/documents/%2e%2e/%2e%2e/hello-world.txt')
    expect(response.status).toBe(404)
  })
})

describe('GET /path/static-path/', () => {
  it('serves the fixtures file hello-world.txt', async () => {
    assertDownload(await get('/path/static-path/'), {
      content: 'Hello world!\n',
      basename: 'hello-world.txt',
    })
  })
})

describe('GET /path/dynamic-path/:path', () => {
  it('serves a file of the fixtures folder', async () => {
    assertDownload(await get('/path/dynamic-path/hello-world.txt'), {
      content: 'Hello world!\n',
      basename: 'hello-world.txt',
    })
  })

  it('refuses to leave the fixtures folder', async () => {
    const response = await get('/path/dynamic-path/..%2Fapp.ts')
    expect(response.status).toBe(404)
    expect(response.body.toString()).toBe('Not Found\n')
  })
})

describe('GET /virtual/text/', () => {
  it('serves the string with a length and ranges', async () => {
    const response = await get('/virtual/text/')
    assertDownload(response, { content: 'Hello world!\n', basename: 'hello-world.txt', size: 13 })
    expect(response.headers['accept-ranges']).toBe('bytes')
  })

  it('serves a range of it', async () => {
    const response = await get('/virtual/text/').set('Range', 'bytes=0-4')
    assertDownload(response, { status: 206, content: 'Hello' })
  })
})

describe('GET /virtual/generated/', () => {
  it('serves the generated text chunked, without ranges', async () => {
    const response = await get('/virtual/generated/').set('Range', 'bytes=0-4')
    assertDownload(response, { content: 'Hello world!\n', basename: 'hello-world.txt' })
    expect(response.headers['content-length']).toBeUndefined()
    expect(response.headers['transfer-encoding']).toBe('chunked')
    expect(response.headers['accept-ranges']).toBe('none')
  })
})

describe('GET /signed/:slug/', () => {
  const key = { id: 'demo', secret: 'a test key for the demo app, 32+ bytes long' }
  let signedApp: ReturnType<typeof buildApp>
  beforeAll(() => {
    signedApp = buildApp(dataSource, { signingKeys: [key] })
  })
  const getSigned = (url: string) => request(signedApp).get(url).buffer(true).parse(binaryParser)

  it('serves Document.file to a signed link', async () => {
    const url = signUrl('/signed/hello-world/', { key, expiresIn: 60 })
    assertDownload(await getSigned(url), { content: 'Hello world!\n', basename: 'file.txt' })
  })

  it('answers 403 without a signature, with no reason in the body', async () => {
    const response = await getSigned('/signed/hello-world/')
    expect(response.status).toBe(403)
    expect(response.body.toString()).toBe('Forbidden\n')
  })

  it('answers 403 to a link signed for another slug', async () => {
    const url = signUrl('/signed/unicode/', { key, expiresIn: 60 }).replace('/unicode/', '/hello-world/')
    expect((await getSigned(url)).status).toBe(403)
  })

  it('answers 403 to an expired link', async () => {
    const url = signUrl('/signed/hello-world/', { key, expiresIn: 60, now: Date.now() - 120_000 })
    expect((await getSigned(url)).status).toBe(403)
  })
})

describe('GET /http/simple-url/', () => {
  it("proxies the demo's own /path/static-path/ over loopback", async () => {
    assertDownload(await get('/http/simple-url/'), {
      content: 'Hello world!\n',
      basename: 'hello-world.txt',
      contentType: 'text/plain',
    })
  })

  it('relays a range', async () => {
    assertDownload(await get('/http/simple-url/').set('Range', 'bytes=6-10'), {
      status: 206,
      content: 'world',
    })
  })

  it('relays 304 for the upstream ETag', async () => {
    const first = await get('/http/simple-url/')
    const response = await get('/http/simple-url/').set('If-None-Match', first.headers.etag as string)
    expect(response.status).toBe(304)
  })
})

describe('GET /nginx/optimized-by-middleware/', () => {
  it('answers with X-Accel-Redirect to the media location and an empty body', async () => {
    const response = await get('/nginx/optimized-by-middleware/')
    expect(response.status).toBe(200)
    expect(response.headers['x-accel-redirect']).toBe('/protected/media/hello-world.txt')
    expect(response.headers['content-length']).toBe('0')
    expect(response.body.length).toBe(0)
  })

  it('keeps the name and type the app decided', async () => {
    const response = await get('/nginx/optimized-by-middleware/')
    assertDownload(response, { basename: 'hello-world.txt', contentType: 'text/plain' })
    expect(response.headers.etag).toMatch(/^W\//)
  })

  it('answers HEAD itself, with the real length', async () => {
    const response = await request(app).head('/nginx/optimized-by-middleware/')
    expect(response.headers['x-accel-redirect']).toBeUndefined()
    expect(response.headers['content-length']).toBe('13')
  })
})

describe('POST /documents/ (the upload form)', () => {
  /** Every file under the media folder (partial ones included), sorted. */
  const mediaFiles = async () =>
    (await readdir(mediaRoot, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => `${entry.parentPath}/${entry.name}`)
      .sort()
  const documentCount = () => dataSource.getRepository(Document).count()
  const upload = () => request(app).post('/documents/')

  /** Runs `refused` and checks that it left no row and no file behind. */
  async function leavesNothing(refused: () => Promise<request.Response>, status: number): Promise<void> {
    const [rows, files] = [await documentCount(), await mediaFiles()]
    const response = await refused()
    expect(response.status).toBe(status)
    expect(await documentCount()).toBe(rows)
    expect(await mediaFiles()).toEqual(files)
  }

  it('creates the Document and redirects to the index page with 303', async () => {
    const response = await upload()
      .field('slug', 'uploaded-notes')
      .field('title', 'Uploaded notes')
      .attach('file', Buffer.from('Notes from the upload form\n'), {
        filename: 'notes.txt',
        contentType: 'text/plain',
      })
    expect(response.status).toBe(303)
    expect(response.headers.location).toBe('/')
    const row = await dataSource.getRepository(Document).findOneByOrFail({ slug: 'uploaded-notes' })
    expect(row.title).toBe('Uploaded notes')
    expect(row.file).toMatchObject({ name: 'notes.txt', size: 27, contentType: 'text/plain' })
  })

  it('serves the uploaded file back, and lists it on the index page', async () => {
    assertDownload(await get('/object/default-file/uploaded-notes/'), {
      content: 'Notes from the upload form\n',
      basename: 'notes.txt',
      contentType: 'text/plain',
    })
    const page = await request(app).get('/')
    expect(page.text).toContain('/object/default-file/uploaded-notes/')
    expect(page.text).toContain(
      '<form id="upload" method="post" action="/documents/" enctype="multipart/form-data">',
    )
  })

  it('answers 413 to a file over 10 MiB', async () => {
    const big = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(10 * 1024 * 1024)])
    await leavesNothing(() => upload().field('slug', 'too-big').attach('file', big, 'big.pdf'), 413)
  })

  it('answers 415 to a file of a type the demo does not take (bytes that are no known type)', async () => {
    const binary = Buffer.from([0x00, 0x01, 0x02, 0xfe, 0xff, 0x00, 0x10])
    await leavesNothing(() => upload().field('slug', 'binary').attach('file', binary, 'data.pdf'), 415)
  })

  it('answers 400 to a form without a file', async () => {
    await leavesNothing(() => upload().field('slug', 'no-file').field('title', 'No file'), 400)
  })

  it('answers 400 to a form without a slug, and deletes the file it had stored', async () => {
    await leavesNothing(() => upload().attach('file', Buffer.from('text\n'), 'a.txt'), 400)
  })

  it('answers 400 to a slug that is not lower-case letters, digits and dashes', async () => {
    await leavesNothing(
      () => upload().field('slug', '../Evil Slug').attach('file', Buffer.from('text\n'), 'a.txt'),
      400,
    )
  })

  it('answers 409 to a slug that is taken, and keeps the existing row as it was', async () => {
    const before = await dataSource.getRepository(Document).findOneByOrFail({ slug: 'hello-world' })
    await leavesNothing(
      () => upload().field('slug', 'hello-world').attach('file', Buffer.from('other\n'), 'other.txt'),
      409,
    )
    const after = await dataSource.getRepository(Document).findOneByOrFail({ slug: 'hello-world' })
    expect(after.file).toEqual(before.file)
  })

  it('answers 400 to a request that is not multipart/form-data', async () => {
    await leavesNothing(() => upload().type('form').send({ slug: 'urlencoded' }), 400)
  })
})
