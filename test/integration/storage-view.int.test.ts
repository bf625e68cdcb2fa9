/** @module StorageDownloadView over HTTP: LocalStorage and MemoryStorage, Express 5 splats, registered names. */
import express from 'express'
import request from 'supertest'
import type { StorageDownloadViewOptions } from '../../src'
import { MemoryStorage, StorageDownloadView, storages } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'
import { assertDownload, binaryParser } from '../../src/testing'
import { CountingStorage, temporaryStorage } from '../helpers/storage'
import { boundaryOf, parseMultipart } from '../unit/http/fixtures'

const REGISTERED = 'storage-view-int'

let local: CountingStorage
let memory: CountingStorage
let removeMedia: () => Promise<void>

beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  local = new CountingStorage(media.storage)
  memory = new CountingStorage(new MemoryStorage())
  for (const storage of [local, memory]) {
    await storage.save('nums.txt', '123456789')
    await storage.save('a/b/c.txt', 'nested\n')
  }
  storages.register(REGISTERED, local)
})

beforeEach(() => {
  local.reset()
  memory.reset()
})

afterAll(async () => {
  storages.clear(REGISTERED)
  await removeMedia()
})

/** An app that serves `view` on `route`, ended by the library's error handler. */
function appFor(options: StorageDownloadViewOptions, route = '/media/*path') {
  const app = express()
  app.all(route, toHandler(new StorageDownloadView(options)))
  app.use(downloadErrorHandler())
  return app
}

describe.each([
  ['LocalStorage', () => local],
  ['MemoryStorage', () => memory],
])('StorageDownloadView on a %s', (_name, storageOf) => {
  const app = () => appFor({ storage: storageOf() })

  it('serves GET with the exact bytes and the key as the name', async () => {
    const response = await request(app()).get('/media/nums.txt').buffer(true).parse(binaryParser)
    assertDownload(response, {
      content: '123456789',
      basename: 'nums.txt',
      contentType: 'text/plain',
      attachment: true,
      size: 9,
    })
    expect(response.headers['accept-ranges']).toBe('bytes')
    expect(response.headers.etag).toMatch(/^W\//)
    expect(response.headers['last-modified']).toBeDefined()
  })

  it('serves a nested key from an Express 5 *path route', async () => {
    const response = await request(app()).get('/media/a/b/c.txt').buffer(true).parse(binaryParser)
    assertDownload(response, { content: 'nested\n', basename: 'c.txt' })
  })

  it('answers HEAD with the headers of GET, no body, and without opening the file', async () => {
    const response = await request(app()).head('/media/nums.txt')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('9')
    expect(response.headers.etag).toMatch(/^W\//)
    expect(response.headers['content-disposition']).toMatch(/^attachment;/)
    // No open(), so no byte of the body can have been written.
    expect(storageOf().calls.open).toBe(0)
  })

  it('serves bytes=2-5 as "3456" with 206', async () => {
    const response = await request(app())
      .get('/media/nums.txt')
      .set('Range', 'bytes=2-5')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { status: 206, content: '3456', size: 4 })
    expect(response.headers['content-range']).toBe('bytes 2-5/9')
  })

  it('serves several ranges as multipart/byteranges', async () => {
    const response = await request(app())
      .get('/media/nums.txt')
      .set('Range', 'bytes=0-1,5-6')
      .buffer(true)
      .parse(binaryParser)
    expect(response.status).toBe(206)
    const parts = parseMultipart(response.body, boundaryOf(response.headers['content-type']))
    expect(parts.map((part) => part.body.toString())).toEqual(['12', '67'])
    expect(parts.map((part) => part.headers['content-range'])).toEqual(['bytes 0-1/9', 'bytes 5-6/9'])
  })

  it('answers 416 with the complete length for a range past the end', async () => {
    const response = await request(app()).get('/media/nums.txt').set('Range', 'bytes=100-200')
    expect(response.status).toBe(416)
    expect(response.headers['content-range']).toBe('bytes */9')
    expect(storageOf().calls.open).toBe(0)
  })

  it('answers 304 to If-None-Match with its weak ETag, without opening the file', async () => {
    const etag = (await request(app()).head('/media/nums.txt')).headers.etag as string
    const response = await request(app()).get('/media/nums.txt').set('If-None-Match', etag)
    expect(response.status).toBe(304)
    expect(response.headers.etag).toBe(etag)
    expect(storageOf().calls.open).toBe(0)
  })

  it('answers 304 to If-Modified-Since with its Last-Modified', async () => {
    const lastModified = (await request(app()).head('/media/nums.txt')).headers['last-modified'] as string
    const response = await request(app()).get('/media/nums.txt').set('If-Modified-Since', lastModified)
    expect(response.status).toBe(304)
  })

  it('answers 412 to an If-Match that does not match', async () => {
    const response = await request(app()).get('/media/nums.txt').set('If-Match', '"something-else"')
    expect(response.status).toBe(412)
    expect(storageOf().calls.open).toBe(0)
  })

  it('answers 405 with Allow to POST', async () => {
    const response = await request(app()).post('/media/nums.txt')
    expect(response.status).toBe(405)
    expect(response.headers.allow).toBe('GET, HEAD')
    expect(storageOf().calls).toMatchObject({ stat: 0, open: 0 })
  })

  it('serves inline with attachment: false', async () => {
    const response = await request(appFor({ storage: storageOf(), attachment: false }))
      .get('/media/nums.txt')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: '123456789', basename: 'nums.txt', attachment: false })
  })

  it('answers 404 with the status text only for a missing key', async () => {
    const response = await request(app()).get('/media/a/b/nope.txt')
    expect(response.status).toBe(404)
    expect(response.text).toBe('Not Found\n')
  })

  it('answers 404 for a key that names a folder', async () => {
    expect((await request(app()).get('/media/a/b')).status).toBe(404)
  })
})

describe('StorageDownloadView with a registered storage name', () => {
  it('serves from the storage registered under that name', async () => {
    const response = await request(appFor({ storage: REGISTERED }))
      .get('/media/a/b/c.txt')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: 'nested\n', basename: 'c.txt' })
    expect(local.calls.open).toBe(1)
  })

  it('answers 500 with the status text only when the name is not registered', async () => {
    const response = await request(appFor({ storage: 'not-registered' })).get('/media/nums.txt')
    expect(response.status).toBe(500)
    expect(response.text).toBe('Internal Server Error\n')
  })
})

describe('StorageDownloadView with a fixed "path"', () => {
  it('serves that key on a route without parameters', async () => {
    const response = await request(appFor({ storage: local, path: 'a/b/c.txt' }, '/latest'))
      .get('/latest')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: 'nested\n', basename: 'c.txt' })
  })

  it('names it with "basename"', async () => {
    const response = await request(
      appFor({ storage: local, path: 'nums.txt', basename: 'numbers.txt' }, '/n'),
    )
      .get('/n')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: '123456789', basename: 'numbers.txt' })
  })
})

describe('StorageDownloadView on a :param route', () => {
  it('reads the parameter named by "param"', async () => {
    const response = await request(appFor({ storage: memory, param: 'name' }, '/files/:name'))
      .get('/files/nums.txt')
      .buffer(true)
      .parse(binaryParser)
    assertDownload(response, { content: '123456789', basename: 'nums.txt' })
  })
})
