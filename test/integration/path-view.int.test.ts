/** @module PathDownloadView over HTTP: one absolute file, and files confined under a root. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import express from 'express'
import request from 'supertest'
import type { PathDownloadViewOptions } from '../../src'
import { LocalStorage, PathDownloadView, PathFile } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'
import { assertDownload, binaryParser } from '../../src/testing'
import { boundaryOf, parseMultipart } from '../unit/http/fixtures'

const FIXTURES = path.resolve(__dirname, '../fixtures')
const NUMS = path.join(FIXTURES, 'nums.txt')
const UNICODE = 'naïve café.txt'

let root: string

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'downloadview-path-view-'))
  await mkdir(path.join(root, 'a', 'b'), { recursive: true })
  await writeFile(path.join(root, 'a', 'b', 'c.txt'), 'nested\n')
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

afterEach(() => {
  jest.restoreAllMocks()
})

/** An app that serves a PathDownloadView on `route`, ended by the library's error handler. */
function appFor(options: PathDownloadViewOptions, route: string) {
  const app = express()
  app.all(route, toHandler(new PathDownloadView(options)))
  app.use(downloadErrorHandler())
  return app
}

/** Spies on every way a PathDownloadView opens a file: PathFile without a root, LocalStorage with one. */
function spyOnOpens() {
  const pathOpen = jest.spyOn(PathFile.prototype, 'open')
  const storageOpen = jest.spyOn(LocalStorage.prototype, 'open')
  return () => pathOpen.mock.calls.length + storageOpen.mock.calls.length
}

describe.each([
  ['a static absolute path', () => appFor({ path: NUMS }, '/nums'), '/nums'],
  ['a root and a :path route', () => appFor({ root: FIXTURES }, '/files/:path'), '/files/nums.txt'],
  ['a root and a *path route', () => appFor({ root: FIXTURES }, '/tree/*path'), '/tree/nums.txt'],
])('PathDownloadView with %s', (_label, app, url) => {
  it('serves GET with the exact bytes and the file name, opening the file once', async () => {
    const opens = spyOnOpens()
    const response = await request(app()).get(url).buffer(true).parse(binaryParser)
    expect(opens()).toBe(1)
    assertDownload(response, {
      content: '123456789',
      basename: 'nums.txt',
      contentType: 'text/plain',
      attachment: true,
      size: 9,
    })
    expect(response.headers.etag).toMatch(/^W\//)
    expect(response.headers['last-modified']).toBeDefined()
  })

  it('answers HEAD with the headers of GET and without opening the file', async () => {
    const opens = spyOnOpens()
    const response = await request(app()).head(url)
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('9')
    expect(response.headers['accept-ranges']).toBe('bytes')
    expect(opens()).toBe(0)
  })

  it('serves bytes=2-5 as "3456" with 206', async () => {
    const response = await request(app()).get(url).set('Range', 'bytes=2-5').buffer(true).parse(binaryParser)
    assertDownload(response, { status: 206, content: '3456', size: 4 })
    expect(response.headers['content-range']).toBe('bytes 2-5/9')
  })

  it('serves several ranges as multipart/byteranges', async () => {
    const response = await request(app())
      .get(url)
      .set('Range', 'bytes=0-0,-2')
      .buffer(true)
      .parse(binaryParser)
    expect(response.status).toBe(206)
    const parts = parseMultipart(response.body, boundaryOf(response.headers['content-type']))
    expect(parts.map((part) => part.body.toString())).toEqual(['1', '89'])
    expect(parts.map((part) => part.headers['content-range'])).toEqual(['bytes 0-0/9', 'bytes 7-8/9'])
  })

  it('answers 416 for a range past the end', async () => {
    const response = await request(app()).get(url).set('Range', 'bytes=9-')
    expect(response.status).toBe(416)
    expect(response.headers['content-range']).toBe('bytes */9')
  })

  it('answers 304 to If-None-Match with its weak ETag, without opening the file', async () => {
    const etag = (await request(app()).head(url)).headers.etag as string
    const opens = spyOnOpens()
    const response = await request(app()).get(url).set('If-None-Match', etag)
    expect(response.status).toBe(304)
    expect(opens()).toBe(0)
  })

  it('answers 304 to If-Modified-Since with its Last-Modified', async () => {
    const lastModified = (await request(app()).head(url)).headers['last-modified'] as string
    const response = await request(app()).get(url).set('If-Modified-Since', lastModified)
    expect(response.status).toBe(304)
  })

  it('answers 412 to an If-Match that does not match', async () => {
    const response = await request(app()).get(url).set('If-Match', 'W/"9-0"')
    expect(response.status).toBe(412)
  })

  it('answers 405 with Allow to POST', async () => {
    const response = await request(app()).post(url)
    expect(response.status).toBe(405)
    expect(response.headers.allow).toBe('GET, HEAD')
  })
})

describe('PathDownloadView with attachment: false', () => {
  it('serves inline', async () => {
    const response = await request(appFor({ path: NUMS, attachment: false }, '/nums'))
      .get('/nums')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: '123456789', basename: 'nums.txt', attachment: false })
  })
})

describe('PathDownloadView when the file is missing', () => {
  it('answers 404 for a static path', async () => {
    const response = await request(appFor({ path: path.join(root, 'nope.txt') }, '/nope')).get('/nope')
    expect(response.status).toBe(404)
    expect(response.text).toBe('Not Found\n')
  })

  it('answers 404 under a root', async () => {
    const response = await request(appFor({ root }, '/tree/*path')).get('/tree/a/b/nope.txt')
    expect(response.status).toBe(404)
    expect(response.text).toBe('Not Found\n')
  })

  it('answers 404 for a folder under a root', async () => {
    expect((await request(appFor({ root }, '/tree/*path')).get('/tree/a/b')).status).toBe(404)
  })
})

describe('PathDownloadView with a root and a *path route', () => {
  it('serves a nested file', async () => {
    const response = await request(appFor({ root }, '/tree/*path'))
      .get('/tree/a/b/c.txt')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: 'nested\n', basename: 'c.txt' })
  })

  it('serves a fixed relative "path" under the root, named by "basename"', async () => {
    const response = await request(appFor({ root, path: 'a/b/c.txt', basename: 'latest.txt' }, '/latest'))
      .get('/latest')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: 'nested\n', basename: 'latest.txt' })
  })
})

describe('PathDownloadView with a unicode file name', () => {
  it('serves it from a root, decoded from the URL, with its name', async () => {
    const response = await request(appFor({ root: FIXTURES }, '/files/:path'))
      .get(`/files/${encodeURIComponent(UNICODE)}`)
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: 'Unicode name\n', basename: UNICODE, contentType: 'text/plain' })
  })

  it('serves it from a static path, with an ASCII fallback name as well', async () => {
    const response = await request(appFor({ path: path.join(FIXTURES, UNICODE) }, '/unicode'))
      .get('/unicode')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: 'Unicode name\n', basename: UNICODE })
    expect(response.headers['content-disposition']).toMatch(/filename="[\x20-\x7e]+"/)
  })
})
