/**
 * X-Sendfile through a real Apache (mod_xsendfile) and a real lighttpd (mod_proxy "x-sendfile"):
 * the demo app behind offloadMiddleware(xSendfile()), each server in front with the configuration
 * of docs/apache-lighttpd.md. Fails (never skips) without apache2, mod_xsendfile or lighttpd.
 * What the app answers on its own is in test/integration/offload.int.test.ts, which needs no server.
 */
import { createHash } from 'node:crypto'
import { chmod, readdir } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import express from 'express'
import request from 'supertest'
import type { DataSource } from 'typeorm'
import { buildApp } from '../../demo/app'
import { random1m, seed } from '../../demo/seed'
import { Document } from '../../entities/Document'
import { type LocalStorage, ObjectDownloadView, StorageDownloadView, storages } from '../../src'
import { toHandler } from '../../src/express'
import { type Offload, offloadMiddleware } from '../../src/offload/offload'
import { lighttpdSendfile, xSendfile } from '../../src/offload/x-sendfile'
import { assertDownload, binaryParser } from '../../src/testing'
import { type RunningServer, startApache } from '../helpers/apache'
import { createTestDataSource } from '../helpers/database'
import { startLighttpd } from '../helpers/lighttpd'
import { CountingStorage, temporaryStorage } from '../helpers/storage'
import { boundaryOf, parseMultipart } from '../unit/responder/fixtures'

/** A key with a space and non-ASCII characters. */
const ODD_KEY = 'odd/a b naïve café.txt'
/** A printable-ASCII key with a space and a `%`: `proxyUnescapes: false` sends it as it is. */
const ASCII_KEY = 'odd/a b%41.txt'

/** A CountingStorage that keeps the LocalStorage's `localPath()`, which `{ root }` rules need. */
class LocalCountingStorage extends CountingStorage {
  constructor(readonly local: LocalStorage) {
    super(local)
  }

  localPath(key: string): string {
    return this.local.localPath(key)
  }
}

/** What the app itself answered (seen on the app's side of the proxy). */
interface AppAnswer {
  url: string
  status: number
  xSendfile?: string
  xLighttpdSendFile?: string
  contentLength?: string
}

let dataSource: DataSource
let removeMedia: () => Promise<void>
let mediaRoot: string
let counting: LocalCountingStorage
let server: Server
let lighttpdApp: Server
let appUrl: string
let apache: RunningServer
let lighttpd: RunningServer
const answers: AppAnswer[] = []

beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  mediaRoot = media.root
  counting = new LocalCountingStorage(media.storage)
  storages.register('default', counting)
  dataSource = await createTestDataSource()
  await seed(dataSource)
  await counting.save(ODD_KEY, 'odd name\n')
  await counting.save(ASCII_KEY, 'ascii name\n')
  // As root, the servers' workers run as www-data: they must read the media folder.
  await makeReadable(mediaRoot)

  // Apache reads X-Sendfile as it is; lighttpd URL-decodes it: each in front of its own app.
  server = await listen(outerApp(xSendfile({ rules: [{ root: mediaRoot }] })))
  lighttpdApp = await listen(outerApp(lighttpdSendfile({ rules: [{ root: mediaRoot }] })))
  const { port } = server.address() as AddressInfo
  appUrl = `http://127.0.0.1:${port}`
  apache = await startApache({ appPort: port, sendfilePaths: [mediaRoot] })
  lighttpd = await startLighttpd({
    appPort: (lighttpdApp.address() as AddressInfo).port,
    docroots: [`${mediaRoot}/`],
  })
})

/** The app behind one server: the demo and a few views, offloaded with `offload`. */
function outerApp(offload: Offload): express.Express {
  const outer = express()
  outer.disable('x-powered-by')
  // The app's own answers: the views send their headers through writeHead(), which getHeader() misses.
  outer.use((req, res, next) => {
    const sent: Record<string, string> = {}
    const writeHead = res.writeHead
    res.writeHead = ((...args: unknown[]) => {
      const headers = args.slice(1).find((arg) => typeof arg === 'object' && arg !== null) ?? {}
      for (const [name, value] of Object.entries(headers)) sent[name.toLowerCase()] = String(value)
      return Reflect.apply(writeHead, res, args)
    }) as typeof res.writeHead
    res.on('finish', () => {
      answers.push({
        url: req.originalUrl,
        status: res.statusCode,
        xSendfile: sent['x-sendfile'],
        xLighttpdSendFile: sent['x-lighttpd-send-file'],
        contentLength: sent['content-length'] ?? res.getHeader('content-length')?.toString(),
      })
    })
    next()
  })
  outer.use(offloadMiddleware(offload))
  outer.all('/media/*path', toHandler(new StorageDownloadView({ storage: 'default' })))
  outer.all(
    '/encoded/media/*path',
    toHandler(
      new StorageDownloadView({
        storage: 'default',
        offload: xSendfile({ rules: [{ root: mediaRoot }], proxyUnescapes: true }),
      }),
    ),
  )
  outer.all(
    '/lighttpd-send-file/media/*path',
    toHandler(
      new StorageDownloadView({
        storage: 'default',
        offload: lighttpdSendfile({ rules: [{ root: mediaRoot }], header: 'X-Lighttpd-Send-File' }),
      }),
    ),
  )
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
  outer.use(buildApp(dataSource))
  return outer
}

/** Listens on a free loopback port. */
async function listen(app: express.Express): Promise<Server> {
  const listening = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    listening.once('listening', resolve)
    listening.once('error', reject)
  })
  return listening
}

afterAll(async () => {
  await apache?.stop()
  await lighttpd?.stop()
  for (const listening of [server, lighttpdApp])
    await new Promise((resolve) => (listening ? listening.close(resolve) : resolve(undefined)))
  await dataSource?.destroy()
  await removeMedia?.()
  storages.clear()
})

beforeEach(() => {
  counting.reset()
  answers.length = 0
})

/** Folders 0755 and files 0644 under `dir`, `dir` included (mkdtemp makes it 0700). */
async function makeReadable(dir: string): Promise<void> {
  await chmod(dir, 0o755)
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const child = path.join(dir, entry.name)
    if (entry.isDirectory()) await makeReadable(child)
    else await chmod(child, 0o644)
  }
}

/** The app's own answer to `url`, once its response has finished. */
async function appAnswer(url: string): Promise<AppAnswer> {
  for (let wait = 0; wait < 40; wait++) {
    const answer = answers.find((entry) => entry.url === url)
    if (answer) return answer
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`the app saw no request for ${url}: ${JSON.stringify(answers)}`)
}

/** Runs `check`; when it throws, adds the end of the server's error log to the message. */
async function withErrorLog(server: RunningServer, check: () => void): Promise<void> {
  try {
    check()
  } catch (error) {
    const log = (await server.errorLog()).trim().split('\n').slice(-3).join('\n')
    throw new Error(`${(error as Error).message}\nThe server's error log ends with:\n${log}`)
  }
}

/** `path` as xSendfile() sends it by default: each segment percent-encoded. */
const encodedPath = (file: string) => `/${file.split('/').filter(Boolean).map(encodeURIComponent).join('/')}`
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
/** A GET to the app itself, behind the servers' back. */
const direct = (url: string) => request(appUrl).get(url).buffer(true).parse(binaryParser)
const mediaUrl = (key: string) => `/media/${key.split('/').map(encodeURIComponent).join('/')}`

describe.each([
  { name: 'Apache', banner: /^Apache\//, proxy: () => apache },
  { name: 'lighttpd', banner: /^lighttpd\//, proxy: () => lighttpd },
])('$name in front of the app', ({ name, banner, proxy }) => {
  /** A GET through the server, body kept as bytes. */
  const via = (url: string) => request(proxy().url).get(url).buffer(true).parse(binaryParser)

  describe(`GET through ${name}`, () => {
    it(`serves hello-world file.txt from ${name}, not from Node`, async () => {
      const url = '/object/default-file/hello-world/'
      const response = await via(url)
      assertDownload(response, {
        content: 'Hello world!\n',
        basename: 'file.txt',
        contentType: 'text/plain',
        attachment: true,
        size: 13,
      })
      expect(response.headers.server).toMatch(banner)
      expect(counting.calls.open).toBe(0)
      const answer = await appAnswer(url)
      expect([answer.status, answer.contentLength]).toEqual([200, '0'])
      expect(answer.xSendfile).toBe(encodedPath(path.join(mediaRoot, 'documents/hello-world/file.txt')))
    })

    it('does not show X-Sendfile to the client', async () => {
      const response = await via('/object/default-file/hello-world/')
      expect(response.headers['x-sendfile']).toBeUndefined()
    })

    it(`serves random-1m byte for byte from ${name}`, async () => {
      const response = await via('/object/default-file/random-1m/')
      expect(response.status).toBe(200)
      expect(response.headers['content-length']).toBe('1048576')
      expect(sha256(response.body)).toBe(sha256(random1m()))
      expect(counting.calls.open).toBe(0)
    })

    // Apache (mod_xsendfile 0.12, Debian's) reads the raw UTF-8 path; lighttpd URL-decodes the
    // percent-encoded one: each backend's default suits its server.
    it('finds a key with a space and non-ASCII characters', async () => {
      const response = await via(mediaUrl(ODD_KEY))
      await withErrorLog(proxy(), () =>
        assertDownload(response, { content: 'odd name\n', basename: 'a b naïve café.txt' }),
      )
      expect(counting.calls.open).toBe(0)
    })

    it('serves an empty file', async () => {
      assertDownload(await via('/object/default-file/empty/'), { content: '', size: 0 })
    })

    it('passes the app’s 404 for a row with no file', async () => {
      expect((await via('/object/default-file/no-file/')).status).toBe(404)
    })
  })

  describe(`Range through ${name}`, () => {
    it('serves a single range as 206', async () => {
      const response = await via('/object/default-file/random-1m/').set('Range', 'bytes=1000-1009')
      expect(response.status).toBe(206)
      expect(response.headers['content-range']).toBe('bytes 1000-1009/1048576')
      expect(response.body).toEqual(random1m().subarray(1000, 1010))
      expect(response.headers['x-sendfile']).toBeUndefined()
      expect(counting.calls.open).toBe(0)
    })

    it('serves several ranges as multipart/byteranges with the file’s type in each part', async () => {
      const response = await via('/object/default-file/random-1m/').set('Range', 'bytes=0-9,2000-2009')
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
      expect(counting.calls.open).toBe(0)
    })

    it('relays the app’s 416 for a range past the end', async () => {
      const response = await via('/object/default-file/random-1m/').set('Range', 'bytes=2000000-')
      expect(response.status).toBe(416)
      expect(response.headers['content-range']).toBe('bytes */1048576')
    })
  })

  describe(`conditional requests through ${name}`, () => {
    const validatorsOf = async (url: string) => {
      const { headers } = await direct(url)
      answers.length = 0
      return { etag: headers.etag as string, lastModified: headers['last-modified'] as string }
    }

    it('answers 304 to If-None-Match with the app’s ETag, from the app', async () => {
      const url = '/object/default-file/hello-world/'
      const { etag } = await validatorsOf(url)
      const response = await via(url).set('If-None-Match', etag)
      expect(response.status).toBe(304)
      expect(response.headers.etag).toBe(etag)
      const answer = await appAnswer(url)
      expect(answer.status).toBe(304)
      expect(answer.xSendfile).toBeUndefined()
    })

    it('answers 304 to If-Modified-Since with the app’s Last-Modified, from the app', async () => {
      const url = '/object/default-file/hello-world/'
      const { lastModified } = await validatorsOf(url)
      const response = await via(url).set('If-Modified-Since', lastModified)
      expect(response.status).toBe(304)
      expect((await appAnswer(url)).status).toBe(304)
    })

    it('serves the range when If-Range holds the app’s ETag', async () => {
      const { etag } = await validatorsOf('/object/default-file/random-1m/')
      const response = await via('/object/default-file/random-1m/')
        .set('Range', 'bytes=10-19')
        .set('If-Range', etag)
      expect(response.status).toBe(206)
      expect(response.body).toEqual(random1m().subarray(10, 20))
    })

    it('serves the whole file when If-Range holds a stale ETag', async () => {
      const response = await via('/object/default-file/random-1m/')
        .set('Range', 'bytes=10-19')
        .set('If-Range', '"stale"')
      expect(response.status).toBe(200)
      expect(sha256(response.body)).toBe(sha256(random1m()))
    })

    it(`serves If-Match with the app’s ETag from ${name}`, async () => {
      const url = '/object/default-file/hello-world/'
      const { etag } = await validatorsOf(url)
      const response = await via(url).set('If-Match', etag)
      assertDownload(response, { content: 'Hello world!\n', size: 13 })
      expect(counting.calls.open).toBe(0)
    })

    it(`serves If-Unmodified-Since with the app’s Last-Modified from ${name}`, async () => {
      const url = '/object/default-file/hello-world/'
      const { lastModified } = await validatorsOf(url)
      const response = await via(url).set('If-Unmodified-Since', lastModified)
      assertDownload(response, { content: 'Hello world!\n', size: 13 })
      expect(counting.calls.open).toBe(0)
    })

    it('answers 412 to If-Match with a stale ETag', async () => {
      expect((await via('/object/default-file/hello-world/').set('If-Match', '"stale"')).status).toBe(412)
    })
  })

  describe(`headers through ${name}`, () => {
    it('keeps the app’s validators and cache headers', async () => {
      const app = await direct('/object/default-file/hello-world/')
      const response = await via('/object/default-file/hello-world/')
      for (const name of [
        'etag',
        'last-modified',
        'cache-control',
        'x-content-type-options',
        'content-type',
      ]) {
        expect([name, response.headers[name]]).toEqual([name, app.headers[name]])
      }
      expect(response.headers.etag).toMatch(/^(W\/)?"[^"]+"$/)
      expect(response.headers['last-modified']).toMatch(/ GMT$/)
      expect(response.headers['cache-control']).toBe('private, no-cache')
      expect(response.headers['x-content-type-options']).toBe('nosniff')
    })

    it('keeps the RFC 8187 filename* of the unicode seed', async () => {
      const response = await via('/object/default-file/unicode/')
      assertDownload(response, { content: 'Unicode name\n', basename: 'résumé "final", v2.txt' })
      expect(response.headers['content-disposition']).toMatch(
        /^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''r%C3%A9sum%C3%A9/,
      )
      expect(counting.calls.open).toBe(0)
    })

    it('keeps the sandbox policy of inline HTML', async () => {
      const response = await via('/object/inline-file/page/')
      assertDownload(response, { content: '<script>alert(1)</script>\n', attachment: false })
      expect(response.headers['content-security-policy']).toBe('sandbox')
      expect(counting.calls.open).toBe(0)
    })

    it('keeps a header added by the view’s headers option', async () => {
      const response = await via('/custom-header/hello-world/')
      assertDownload(response, { content: 'Hello world!\n' })
      expect(response.headers['x-demo']).toBe('1')
      expect(counting.calls.open).toBe(0)
    })
  })
})

describe('Apache only', () => {
  const viaApache = (url: string) => request(apache.url).get(url).buffer(true).parse(binaryParser)

  it('sends no Accept-Ranges: mod_xsendfile adds none, and the app drops its own', async () => {
    const response = await viaApache('/object/default-file/hello-world/')
    expect(response.status).toBe(200)
    expect(response.headers['accept-ranges']).toBeUndefined()
  })

  describe('with names that need escaping', () => {
    it('sends a key with a space and "%" as it is, and Apache finds it', async () => {
      const url = mediaUrl(ASCII_KEY)
      const response = await viaApache(url)
      assertDownload(response, { content: 'ascii name\n', basename: 'a b%41.txt' })
      expect(counting.calls.open).toBe(0)
      expect((await appAnswer(url)).xSendfile).toBe(path.join(mediaRoot, ASCII_KEY))
    })

    it('cannot find a percent-encoded path (proxyUnescapes: true): mod_xsendfile 0.12 does not decode', async () => {
      const response = await viaApache(`/encoded${mediaUrl(ODD_KEY)}`)
      expect(response.status).toBe(404)
    })
  })
})

describe('lighttpd only', () => {
  const viaLighttpd = (url: string) => request(lighttpd.url).get(url).buffer(true).parse(binaryParser)

  it('sends its own Accept-Ranges', async () => {
    const response = await viaLighttpd('/object/default-file/hello-world/')
    expect(response.headers['accept-ranges']).toBe('bytes')
  })

  it('serves the file that lighttpdSendfile() names in X-Sendfile, percent-encoded', async () => {
    const url = mediaUrl(ODD_KEY)
    const response = await viaLighttpd(url)
    assertDownload(response, { content: 'odd name\n', basename: 'a b naïve café.txt' })
    expect((await appAnswer(url)).xSendfile).toBe(encodedPath(path.join(mediaRoot, ODD_KEY)))
    expect(counting.calls.open).toBe(0)
  })

  // Why X-Sendfile is lighttpdSendfile()'s default: lighttpd 1.4 honours X-Lighttpd-Send-File from
  // FastCGI backends only, and drops it from proxied ones, leaving the app's empty body.
  it('ignores X-Lighttpd-Send-File from a proxied app (header: "X-Lighttpd-Send-File")', async () => {
    const url = '/lighttpd-send-file/media/hello-world.txt'
    const response = await viaLighttpd(url)
    expect((await appAnswer(url)).xLighttpdSendFile).toBe(
      encodedPath(path.join(mediaRoot, 'hello-world.txt')),
    )
    expect(response.headers['x-lighttpd-send-file']).toBeUndefined()
    expect(response.body).toEqual(Buffer.alloc(0))
  })
})
