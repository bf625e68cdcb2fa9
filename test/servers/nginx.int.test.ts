/**
 * X-Accel-Redirect through a real nginx: the demo app behind offloadMiddleware(xAccelRedirect()),
 * nginx in front with the configuration of docs/nginx.md. Fails (never skips) without nginx.
 * What the app answers on its own is in test/integration/offload.int.test.ts, which needs no server.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parse as parseDisposition } from 'content-disposition'
import express from 'express'
import request from 'supertest'
import type { DataSource } from 'typeorm'
import { buildApp } from '../../demo/app'
import { random1m, seed } from '../../demo/seed'
import { Document } from '../../entities/Document'
import {
  type DownloadFile,
  DownloadView,
  type LocalStorage,
  ObjectDownloadView,
  StorageFile,
  StoredFile,
  storages,
} from '../../src'
import { toHandler } from '../../src/express'
import { xAccelRedirect } from '../../src/offload/nginx'
import { offloadMiddleware } from '../../src/offload/offload'
import { assertDownload, binaryParser } from '../../src/testing'
import { createTestDataSource } from '../helpers/database'
import { type RunningNginx, startNginx } from '../helpers/nginx'
import { CountingStorage, temporaryStorage } from '../helpers/storage'
import { boundaryOf, parseMultipart } from '../unit/responder/fixtures'

const LOCATION = '/protected/media/'
/** The limitRate of the /limited/ route: 1 MiB takes at least two seconds. */
const LIMIT = 512 * 1024
/** A key that needs every escape: space, `?`, `%`, `#` and non-ASCII. */
const ODD_KEY = 'odd/a b?c%41#naïve café.txt'
/** A name of 40,000 bytes, which made a 120 KB Content-Disposition before names were capped. */
const LONG_NAME = 'é'.repeat(20_000)
/** A file beside the media root, which a link inside the root (LINK_KEY) leads to. */
const SECRET = 'not for clients\n'
const LINK_KEY = 'escape/link.txt'

let dataSource: DataSource
let removeMedia: () => Promise<void>
let counting: CountingStorage
let server: Server
let appUrl: string
let nginx: RunningNginx
let outside: string

/**
 * LINK_KEY of the LocalStorage itself, described from what a row would record (no stat(), so
 * nothing confines the key before the offload): the view a custom getFile() makes.
 */
class KnownLinkView extends DownloadView {
  constructor(private readonly local: LocalStorage) {
    super({ offload: xAccelRedirect({ rules: [{ storage: local, location: LOCATION }] }) })
  }

  override async getFile(): Promise<DownloadFile> {
    return new StorageFile(this.local, LINK_KEY, { size: SECRET.length, modifiedAt: new Date() })
  }
}

/** ODD_KEY under the name LONG_NAME: offloaded unless `offload: false`. */
class LongNameView extends DownloadView {
  override async getFile(): Promise<DownloadFile> {
    return new StorageFile(counting, ODD_KEY, { ...(await counting.stat(ODD_KEY)), name: LONG_NAME })
  }
}

beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  counting = new CountingStorage(media.storage)
  storages.register('default', counting)
  dataSource = await createTestDataSource()
  await seed(dataSource)
  await counting.save(ODD_KEY, 'odd name\n')
  await dataSource.getRepository(Document).save({
    slug: 'odd-name',
    title: 'A key to escape',
    file: Object.assign(new StoredFile(), { path: ODD_KEY }),
  })
  outside = await mkdtemp(path.join(os.tmpdir(), 'downloadview-outside-'))
  await writeFile(path.join(outside, 'secret.txt'), SECRET)
  await counting.save('escape/placeholder.txt', '')
  await symlink(path.join(outside, 'secret.txt'), path.join(media.root, LINK_KEY))
  await dataSource.getRepository(Document).save({
    slug: 'link-out',
    title: 'A link that leads out of the media root',
    // Size and date recorded: the view trusts them and never stats the key before offloading it.
    file: Object.assign(new StoredFile(), { path: LINK_KEY, size: SECRET.length, modifiedAt: new Date() }),
  })

  const outer = express()
  outer.disable('x-powered-by')
  outer.use(offloadMiddleware(xAccelRedirect({ rules: [{ storage: 'default', location: LOCATION }] })))
  outer.all(
    '/custom-header/:slug/',
    toHandler(
      new ObjectDownloadView({
        dataSource,
        entity: Document,
        lookup: 'slug',
        file: 'file',
        headers: { 'X-Demo': '1' },
      }),
    ),
  )
  outer.all(
    '/limited/:slug/',
    toHandler(
      new ObjectDownloadView({
        dataSource,
        entity: Document,
        lookup: 'slug',
        file: 'file',
        offload: xAccelRedirect({ rules: [{ storage: 'default', location: LOCATION }], limitRate: LIMIT }),
      }),
    ),
  )
  outer.all('/known-link/', toHandler(new KnownLinkView(media.storage)))
  outer.all('/long-name/offloaded/', toHandler(new LongNameView({})))
  outer.all('/long-name/streamed/', toHandler(new LongNameView({ offload: false })))
  outer.use(buildApp(dataSource))
  server = outer.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const { port } = server.address() as AddressInfo
  appUrl = `http://127.0.0.1:${port}`
  nginx = await startNginx({
    appPort: port,
    internal: [{ location: LOCATION, alias: media.root }],
    extraHeaders: ['X-Demo'],
  })
})

afterAll(async () => {
  await nginx?.stop()
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
  await dataSource?.destroy()
  await removeMedia?.()
  if (outside) await rm(outside, { recursive: true, force: true })
  storages.clear()
})

beforeEach(() => counting.reset())

/** A GET through nginx, body kept as bytes. */
const viaNginx = (url: string) => request(nginx.url).get(url).buffer(true).parse(binaryParser)
/** A GET to the app itself, behind nginx's back. */
const direct = (url: string) => request(appUrl).get(url).buffer(true).parse(binaryParser)
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

describe('GET through nginx', () => {
  it('serves hello-world file.txt from nginx, not from Node', async () => {
    const response = await viaNginx('/object/default-file/hello-world/')
    assertDownload(response, {
      content: 'Hello world!\n',
      basename: 'file.txt',
      contentType: 'text/plain',
      attachment: true,
      size: 13,
    })
    expect(response.headers['x-accel-redirect']).toBeUndefined()
    expect(response.headers.server).toMatch(/^nginx/)
    expect(counting.calls.open).toBe(0)
  })

  it('serves random-1m byte for byte from nginx', async () => {
    const response = await viaNginx('/object/default-file/random-1m/')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('1048576')
    expect(sha256(response.body)).toBe(sha256(random1m()))
    expect(counting.calls.open).toBe(0)
  })

  it('logs that nginx sent the bytes of the internal URI', async () => {
    await viaNginx('/object/default-file/random-1m/')
    // nginx writes the line once the last byte is out: the client may see the byte first.
    let log = ''
    for (let wait = 0; wait < 40 && !log.includes('/object/default-file/random-1m/ 200'); wait++) {
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, 50))
      log = await nginx.accessLog()
    }
    expect(log).toContain(
      `/object/default-file/random-1m/ 200 1048576 "${LOCATION}documents/random-1m/random-1m.bin" ${LOCATION}documents/random-1m/random-1m.bin`,
    )
  })

  it('finds a key with a space, "?", "%", "#" and non-ASCII characters', async () => {
    const response = await viaNginx('/object/default-file/odd-name/')
    assertDownload(response, { content: 'odd name\n', basename: 'a b?c%41#naïve café.txt' })
    expect(counting.calls.open).toBe(0)
  })

  it('serves an empty file', async () => {
    assertDownload(await viaNginx('/object/default-file/empty/'), { content: '', size: 0 })
  })

  it('keeps the internal location out of reach of clients', async () => {
    expect((await viaNginx(`${LOCATION}documents/hello-world/file.txt`)).status).toBe(404)
  })

  it('passes the app’s 404 for a row with no file', async () => {
    expect((await viaNginx('/object/default-file/no-file/')).status).toBe(404)
  })
})

describe('the demo route /nginx/optimized-by-middleware/ through nginx', () => {
  it('serves the media hello-world.txt from nginx', async () => {
    const response = await viaNginx('/nginx/optimized-by-middleware/')
    assertDownload(response, {
      content: 'Hello world!\n',
      basename: 'hello-world.txt',
      contentType: 'text/plain',
    })
    expect(response.headers['x-accel-redirect']).toBeUndefined()
    expect(counting.calls.open).toBe(0)
  })

  it('serves a range of it from nginx', async () => {
    const response = await viaNginx('/nginx/optimized-by-middleware/').set('Range', 'bytes=6-10')
    assertDownload(response, { status: 206, content: 'world' })
  })
})

describe('a symlink that leads out of the media root', () => {
  it('is not offloaded for a storage with localPath(): Node refuses it with 404', async () => {
    const app = await direct('/known-link/')
    expect(app.headers['x-accel-redirect']).toBeUndefined()
    expect(app.status).toBe(404)
    const response = await viaNginx('/known-link/')
    expect(response.status).toBe(404)
    expect(response.body.toString()).not.toContain(SECRET)
  })

  it('is not followed by nginx for a storage the app cannot check (disable_symlinks)', async () => {
    // The counting wrapper has no localPath(): the app offloads, and only nginx can refuse.
    const app = await direct('/object/default-file/link-out/')
    expect(app.headers['x-accel-redirect']).toBe(`${LOCATION}${LINK_KEY}`)
    const response = await viaNginx('/object/default-file/link-out/')
    expect(response.status).toBe(403)
    expect(response.body.toString()).not.toContain(SECRET)
  })
})

describe('Range through nginx', () => {
  it('serves a single range as 206', async () => {
    const response = await viaNginx('/object/default-file/random-1m/').set('Range', 'bytes=1000-1009')
    expect(response.status).toBe(206)
    expect(response.headers['content-range']).toBe('bytes 1000-1009/1048576')
    expect(response.body).toEqual(random1m().subarray(1000, 1010))
    expect(counting.calls.open).toBe(0)
  })

  it('serves several ranges as multipart/byteranges with the file’s type in each part', async () => {
    const response = await viaNginx('/object/default-file/random-1m/').set('Range', 'bytes=0-9,2000-2009')
    expect(response.status).toBe(206)
    const parts = parseMultipart(response.body, boundaryOf(response.headers['content-type']), {
      leadingCrlf: true,
    })
    expect(parts.map((part) => part.headers['content-range'])).toEqual([
      'bytes 0-9/1048576',
      'bytes 2000-2009/1048576',
    ])
    expect(parts.map((part) => part.headers['content-type'])).toEqual([
      'application/octet-stream',
      'application/octet-stream',
    ])
    expect(parts.map((part) => part.body)).toEqual([
      random1m().subarray(0, 10),
      random1m().subarray(2000, 2010),
    ])
  })

  it('relays the app’s 416 for a range past the end', async () => {
    const response = await viaNginx('/object/default-file/random-1m/').set('Range', 'bytes=2000000-')
    expect(response.status).toBe(416)
    expect(response.headers['content-range']).toBe('bytes */1048576')
  })
})

describe('conditional requests through nginx', () => {
  const etagOf = async (url: string) => (await direct(url)).headers.etag as string

  it('answers 304 to If-None-Match with the app’s ETag', async () => {
    const etag = await etagOf('/object/default-file/hello-world/')
    const response = await viaNginx('/object/default-file/hello-world/').set('If-None-Match', etag)
    expect(response.status).toBe(304)
    expect(response.headers.etag).toBe(etag)
  })

  it('serves the range when If-Range holds the app’s ETag', async () => {
    const etag = await etagOf('/object/default-file/random-1m/')
    const response = await viaNginx('/object/default-file/random-1m/')
      .set('Range', 'bytes=10-19')
      .set('If-Range', etag)
    expect(response.status).toBe(206)
    expect(response.body).toEqual(random1m().subarray(10, 20))
  })

  it('serves the whole file when If-Range holds a stale ETag', async () => {
    const response = await viaNginx('/object/default-file/random-1m/')
      .set('Range', 'bytes=10-19')
      .set('If-Range', '"stale"')
    expect(response.status).toBe(200)
    expect(response.body.length).toBe(1048576)
  })

  it('serves If-Match with the app’s ETag (streamed by Node: nginx would refuse it)', async () => {
    const etag = await etagOf('/object/default-file/hello-world/')
    const response = await viaNginx('/object/default-file/hello-world/').set('If-Match', etag)
    assertDownload(response, { content: 'Hello world!\n', size: 13 })
    expect(counting.calls.open).toBe(1)
  })

  it('answers 412 to If-Match with a stale ETag', async () => {
    const response = await viaNginx('/object/default-file/hello-world/').set('If-Match', '"stale"')
    expect(response.status).toBe(412)
  })

  it('serves If-Unmodified-Since with the app’s Last-Modified', async () => {
    const lastModified = (await direct('/object/default-file/hello-world/')).headers[
      'last-modified'
    ] as string
    counting.reset()
    const response = await viaNginx('/object/default-file/hello-world/').set(
      'If-Unmodified-Since',
      lastModified,
    )
    assertDownload(response, { content: 'Hello world!\n' })
    expect(counting.calls.open).toBe(1)
  })
})

describe('headers through nginx', () => {
  it('keeps the app’s validators and cache headers', async () => {
    const app = await direct('/object/default-file/hello-world/')
    const response = await viaNginx('/object/default-file/hello-world/')
    for (const name of ['etag', 'last-modified', 'cache-control', 'x-content-type-options', 'content-type']) {
      expect([name, response.headers[name]]).toEqual([name, app.headers[name]])
    }
    expect(response.headers['cache-control']).toBe('private, no-cache')
    expect(response.headers['x-content-type-options']).toBe('nosniff')
  })

  it('keeps the RFC 8187 filename* of the unicode seed', async () => {
    const response = await viaNginx('/object/default-file/unicode/')
    assertDownload(response, { content: 'Unicode name\n', basename: 'résumé "final", v2.txt' })
    expect(response.headers['content-disposition']).toMatch(
      /^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''r%C3%A9sum%C3%A9/,
    )
  })

  it.each([
    ['offloaded', 0],
    ['streamed by Node', 1],
  ])('serves a file named with 20,000 "é" (%s) under its name cut to 255 bytes', async (_how, opens) => {
    const path = opens ? '/long-name/streamed/' : '/long-name/offloaded/'
    const response = await viaNginx(path)
    // Uncapped, the header was 120 KB and nginx answered 502 (upstream sent too big header).
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('odd name\n')
    const disposition = parseDisposition(response.headers['content-disposition'] as string)
    expect(disposition.parameters.filename).toBe('é'.repeat(127))
    expect(counting.calls.open).toBe(opens)
  })

  it('keeps the sandbox policy of inline HTML', async () => {
    const response = await viaNginx('/object/inline-file/page/')
    assertDownload(response, { content: '<script>alert(1)</script>\n', attachment: false })
    expect(response.headers['content-security-policy']).toBe('sandbox')
    expect(counting.calls.open).toBe(0)
  })

  it('keeps a header added by the view’s headers option', async () => {
    const response = await viaNginx('/custom-header/hello-world/')
    assertDownload(response, { content: 'Hello world!\n' })
    expect(response.headers['x-demo']).toBe('1')
    expect(counting.calls.open).toBe(0)
  })

  it('sends one Accept-Ranges, nginx’s own', async () => {
    const response = await viaNginx('/object/default-file/hello-world/')
    expect(response.headers['accept-ranges']).toBe('bytes')
  })
})

describe('X-Accel options through nginx', () => {
  it('limits the rate with limitRate, and hides X-Accel-* from the client', async () => {
    const started = Date.now()
    const response = await viaNginx('/limited/random-1m/')
    const elapsed = Date.now() - started
    expect(sha256(response.body)).toBe(sha256(random1m()))
    expect(elapsed).toBeGreaterThan(1000)
    expect(response.headers['x-accel-limit-rate']).toBeUndefined()
    expect((await direct('/limited/random-1m/')).headers['x-accel-limit-rate']).toBe(String(LIMIT))
  })
})
