/** @module VirtualDownloadView over HTTP: in-memory content with ranges, generated content chunked. */
import { once } from 'node:events'
import http, { type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import request from 'supertest'
import type { Logger, VirtualDownloadViewOptions } from '../../src'
import { FileNotFoundError, VirtualDownloadView } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'
import { assertDownload, binaryParser } from '../../src/testing'
import { boundaryOf, parseMultipart } from '../unit/http/fixtures'

const MODIFIED = new Date(Date.UTC(2024, 0, 2, 3, 4, 5))
const MODIFIED_TEXT = 'Tue, 02 Jan 2024 03:04:05 GMT'

/** A logger that keeps its lines, so failures expected by a test do not clutter the output. */
function quietLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  return { lines, error: (message) => lines.push(message), warn: (message) => lines.push(message) }
}

/** An app that serves a VirtualDownloadView on `/v`, ended by the library's error handler. */
function appFor(options: VirtualDownloadViewOptions) {
  const app = express()
  app.all('/v', toHandler(new VirtualDownloadView(options)))
  app.use(downloadErrorHandler())
  return app
}

/** A content function that makes a new generator per request and keeps track of each. */
function trackedRows(fail = false) {
  const made: { generator: AsyncGenerator<string>; started: boolean }[] = []
  const content = () => {
    const entry = { started: false } as (typeof made)[number]
    entry.generator = (async function* () {
      entry.started = true
      yield 'a,b\n'
      await new Promise((resolve) => setImmediate(resolve))
      if (fail) throw new Error('the database went away')
      yield '1,2\n'
    })()
    made.push(entry)
    return entry.generator
  }
  return { made, content }
}

describe('VirtualDownloadView with a string', () => {
  const app = (options: Partial<VirtualDownloadViewOptions> = {}) =>
    appFor({ name: 'nums.txt', content: '123456789', ...options })

  it('serves GET with the exact bytes, the name and a Content-Length', async () => {
    const response = await request(app()).get('/v').buffer(true).parse(binaryParser)
    assertDownload(response, {
      content: '123456789',
      basename: 'nums.txt',
      contentType: 'text/plain',
      attachment: true,
      size: 9,
    })
    expect(response.headers['accept-ranges']).toBe('bytes')
  })

  it('sends no ETag and no Last-Modified when none is given', async () => {
    const response = await request(app()).get('/v')
    expect(response.headers.etag).toBeUndefined()
    expect(response.headers['last-modified']).toBeUndefined()
  })

  it('answers HEAD with the headers of GET', async () => {
    const response = await request(app()).head('/v')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('9')
    expect(response.headers['content-disposition']).toMatch(/^attachment;/)
  })

  it('serves bytes=2-5 as "3456" with 206', async () => {
    const response = await request(app()).get('/v').set('Range', 'bytes=2-5').buffer(true).parse(binaryParser)
    assertDownload(response, { status: 206, content: '3456', size: 4 })
    expect(response.headers['content-range']).toBe('bytes 2-5/9')
  })

  it('serves several ranges as multipart/byteranges', async () => {
    const response = await request(app())
      .get('/v')
      .set('Range', 'bytes=1-2,6-')
      .buffer(true)
      .parse(binaryParser)
    expect(response.status).toBe(206)
    const parts = parseMultipart(response.body, boundaryOf(response.headers['content-type']))
    expect(parts.map((part) => part.body.toString())).toEqual(['23', '789'])
  })

  it('answers 416 for a range past the end', async () => {
    const response = await request(app()).get('/v').set('Range', 'bytes=50-60')
    expect(response.status).toBe(416)
    expect(response.headers['content-range']).toBe('bytes */9')
  })

  it('answers 412 to If-Match, since it has no entity tag to match', async () => {
    expect((await request(app()).get('/v').set('If-Match', '"v1"')).status).toBe(412)
  })

  it('answers 200 to If-Modified-Since, since it has no Last-Modified', async () => {
    expect((await request(app()).get('/v').set('If-Modified-Since', MODIFIED_TEXT)).status).toBe(200)
  })

  it('answers 405 with Allow to POST', async () => {
    const response = await request(app()).post('/v')
    expect(response.status).toBe(405)
    expect(response.headers.allow).toBe('GET, HEAD')
  })

  it('serves inline with attachment: false', async () => {
    const response = await request(app({ attachment: false }))
      .get('/v')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: '123456789', basename: 'nums.txt', attachment: false })
  })
})

describe('VirtualDownloadView with validators', () => {
  it('answers 304 to If-None-Match with the given etag', async () => {
    const app = appFor({ name: 'a.txt', content: 'abc', etag: '"v1"' })
    const response = await request(app).get('/v').set('If-None-Match', '"v1"')
    expect(response.status).toBe(304)
    expect(response.headers.etag).toBe('"v1"')
  })

  it('answers 412 to an If-Match other than the given etag', async () => {
    const app = appFor({ name: 'a.txt', content: 'abc', etag: '"v1"' })
    expect((await request(app).get('/v').set('If-Match', '"v2"')).status).toBe(412)
  })

  it('serves 200 to an If-Match equal to the given etag', async () => {
    const app = appFor({ name: 'a.txt', content: 'abc', etag: '"v1"' })
    const response = await request(app).get('/v').set('If-Match', '"v1"').buffer(true).parse(binaryParser)
    assertDownload(response, { content: 'abc' })
  })

  it('answers 304 to If-Modified-Since with the given modifiedAt', async () => {
    const app = appFor({ name: 'a.txt', content: 'abc', modifiedAt: MODIFIED })
    const response = await request(app).get('/v').set('If-Modified-Since', MODIFIED_TEXT)
    expect(response.status).toBe(304)
    expect(response.headers['last-modified']).toBe(MODIFIED_TEXT)
  })

  it('answers 304 to If-None-Match with the weak ETag made from modifiedAt', async () => {
    const app = appFor({ name: 'a.txt', content: 'abc', modifiedAt: MODIFIED })
    const etag = (await request(app).head('/v')).headers.etag as string
    expect(etag).toMatch(/^W\//)
    expect((await request(app).get('/v').set('If-None-Match', etag)).status).toBe(304)
  })
})

describe('VirtualDownloadView with a function', () => {
  it('answers 404 when the function throws FileNotFoundError', async () => {
    const app = appFor({
      name: 'a.txt',
      content: () => {
        throw new FileNotFoundError('No report for this month')
      },
    })
    const response = await request(app).get('/v')
    expect(response.status).toBe(404)
    expect(response.text).toBe('Not Found\n')
  })
})

describe('VirtualDownloadView with an async generator', () => {
  it('streams it chunked, without Content-Length, with Accept-Ranges: none', async () => {
    const rows = trackedRows()
    const response = await request(appFor({ name: 'rows.csv', content: rows.content }))
      .get('/v')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: 'a,b\n1,2\n', basename: 'rows.csv', contentType: 'text/csv' })
    expect(response.headers['transfer-encoding']).toBe('chunked')
    expect(response.headers['content-length']).toBeUndefined()
    expect(response.headers['accept-ranges']).toBe('none')
  })

  it('sends a Content-Length for a stated size', async () => {
    const rows = trackedRows()
    const response = await request(appFor({ name: 'rows.csv', content: rows.content, size: 8 }))
      .get('/v')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: 'a,b\n1,2\n', size: 8 })
    expect(response.headers['transfer-encoding']).toBeUndefined()
  })

  it('answers a Range request with 200 and the whole content', async () => {
    const rows = trackedRows()
    const response = await request(appFor({ name: 'rows.csv', content: rows.content, size: 8 }))
      .get('/v')
      .set('Range', 'bytes=2-5')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { status: 200, content: 'a,b\n1,2\n' })
    expect(response.headers['content-range']).toBeUndefined()
    expect(response.headers['accept-ranges']).toBe('none')
  })

  it('never iterates the generator for HEAD, and closes it', async () => {
    const rows = trackedRows()
    const response = await request(appFor({ name: 'rows.csv', content: rows.content })).head('/v')
    expect(response.status).toBe(200)
    expect(rows.made).toHaveLength(1)
    expect(rows.made[0]?.started).toBe(false)
    expect(await rows.made[0]?.generator.next()).toEqual({ done: true, value: undefined })
  })

  it('never iterates the generator for a 304, and closes it', async () => {
    const rows = trackedRows()
    const app = appFor({ name: 'rows.csv', content: rows.content, etag: '"rows-1"' })
    const response = await request(app).get('/v').set('If-None-Match', '"rows-1"')
    expect(response.status).toBe(304)
    expect(rows.made[0]?.started).toBe(false)
    expect(await rows.made[0]?.generator.next()).toEqual({ done: true, value: undefined })
  })
})

describe('VirtualDownloadView when the generator throws midway', () => {
  let server: Server | undefined

  afterEach(async () => {
    if (!server) return
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
    server = undefined
  })

  /** What a plain node:http client sees of one GET: the message may be cut. */
  async function rawGet(app: express.Express): Promise<{
    status?: number
    headers: IncomingHttpHeaders
    body: string
    complete: boolean
  }> {
    server = http.createServer(app)
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    return new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v', agent: false }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        const done = () =>
          resolve({ status: res.statusCode, headers: res.headers, body, complete: res.complete })
        res.on('end', done)
        res.on('error', done)
        res.on('close', done)
      })
      req.on('error', () => resolve({ headers: {}, body: '', complete: false }))
    })
  }

  it('cuts the connection instead of completing the response, and logs the failure', async () => {
    const rows = trackedRows(true)
    const logger = quietLogger()
    const received = await rawGet(appFor({ name: 'rows.csv', content: rows.content, logger }))
    expect(received.status).toBe(200)
    expect(received.complete).toBe(false)
    expect(received.body).not.toContain('1,2')
    expect(logger.lines).toEqual([expect.stringContaining('"rows.csv"')])
  })

  it('cuts the connection when the generator gives fewer bytes than the stated size', async () => {
    const rows = trackedRows()
    const logger = quietLogger()
    const received = await rawGet(appFor({ name: 'rows.csv', content: rows.content, size: 100, logger }))
    expect(received.headers['content-length']).toBe('100')
    expect(received.complete).toBe(false)
    expect(logger.lines).toHaveLength(1)
  })
})
