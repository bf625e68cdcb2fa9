/**
 * What the demo app behind handoffMiddleware() answers the proxy in front of it, with no proxy:
 * X-Accel-Redirect for nginx, X-Sendfile for Apache and lighttpd. test/servers/ runs the same apps
 * behind the real servers.
 */
import path from 'node:path'
import express from 'express'
import request from 'supertest'
import { buildApp } from '../../demo/app'
import { StorageDownloadView } from '../../src'
import { toHandler } from '../../src/express'
import { handoffMiddleware } from '../../src/express/handoff-middleware'
import type { Handoff } from '../../src/handoff/handoff'
import { xAccelRedirect } from '../../src/handoff/nginx'
import { xSendfile } from '../../src/handoff/x-sendfile'
import { assertDownload, assertHandoff, binaryParser } from '../../src/testing'
import { type SeededDemo, seededDemo } from '../helpers/seeded-demo'
import { LocalCountingStorage } from '../helpers/storage'

/** The internal location of docs/nginx.md. */
const LOCATION = '/protected/media/'
/** A key with a space and non-ASCII characters. */
const ODD_KEY = 'odd/a b naïve café.txt'

let demo: SeededDemo<LocalCountingStorage>
let xAccelApp: express.Express
let xSendfileApp: express.Express

/** The demo app, and a storage view on /media/, behind handoffMiddleware(handoff). */
function outerApp(handoff: Handoff): express.Express {
  const outer = express()
  outer.disable('x-powered-by')
  outer.use(handoffMiddleware(handoff))
  outer.all('/media/*path', toHandler(new StorageDownloadView({ storage: 'default' })))
  outer.use(buildApp(demo.dataSource))
  return outer
}

beforeAll(async () => {
  demo = await seededDemo((local) => new LocalCountingStorage(local))
  await demo.storage.save(ODD_KEY, 'odd name\n')
  xAccelApp = outerApp(xAccelRedirect({ rules: [{ storage: 'default', location: LOCATION }] }))
  xSendfileApp = outerApp(xSendfile({ rules: [{ root: demo.root }] }))
})

afterAll(async () => {
  await demo?.close()
})

beforeEach(() => demo.storage.reset())

/** A GET to `app`, body kept as bytes. */
const get = (app: express.Express, url: string) => request(app).get(url).buffer(true).parse(binaryParser)
/** `path` as xSendfile() sends it by default: each segment percent-encoded. */
const encodedPath = (file: string) => `/${file.split('/').filter(Boolean).map(encodeURIComponent).join('/')}`
const mediaUrl = (key: string) => `/media/${key.split('/').map(encodeURIComponent).join('/')}`

describe('the app behind handoffMiddleware(xAccelRedirect())', () => {
  it('answers X-Accel-Redirect with an empty body', async () => {
    const response = await get(xAccelApp, '/object/default-file/hello-world/')
    assertHandoff(response, {
      kind: 'x-accel',
      location: `${LOCATION}documents/hello-world/file.txt`,
      basename: 'file.txt',
    })
    expect(response.status).toBe(200)
    expect(response.headers['x-accel-redirect']).toBe(`${LOCATION}documents/hello-world/file.txt`)
    expect(response.headers['content-length']).toBe('0')
    expect(response.body).toEqual(Buffer.alloc(0))
    expect(demo.storage.calls.open).toBe(0)
  })

  it('keeps the decided headers on the redirect and drops Accept-Ranges', async () => {
    const response = await get(xAccelApp, '/object/default-file/hello-world/')
    assertDownload(response, {
      content: '',
      basename: 'file.txt',
      contentType: 'text/plain',
      attachment: true,
    })
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(response.headers.etag).toMatch(/^"[0-9a-f]+"$/)
    expect(response.headers['accept-ranges']).toBeUndefined()
  })

  it('answers HEAD itself, with the length and no redirect', async () => {
    const response = await request(xAccelApp).head('/object/default-file/random-1m/')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('1048576')
    expect(response.headers['x-accel-redirect']).toBeUndefined()
  })
})

describe('the app behind handoffMiddleware(xSendfile())', () => {
  it('answers X-Sendfile with the file’s absolute path and an empty body', async () => {
    const response = await get(xSendfileApp, '/object/default-file/hello-world/')
    expect(response.status).toBe(200)
    expect(response.headers['x-sendfile']).toBe(
      encodedPath(path.join(demo.root, 'documents/hello-world/file.txt')),
    )
    expect(response.headers['content-length']).toBe('0')
    expect(response.body).toEqual(Buffer.alloc(0))
    expect(demo.storage.calls.open).toBe(0)
  })

  it('sends the UTF-8 bytes of a key with a space and non-ASCII characters as they are', async () => {
    const response = await get(xSendfileApp, mediaUrl(ODD_KEY))
    // Node reads header bytes as Latin-1: the UTF-8 bytes of "ï" arrive as two characters.
    expect(response.headers['x-sendfile']).toBe(
      Buffer.from(path.join(demo.root, ODD_KEY), 'utf8').toString('latin1'),
    )
  })

  it('answers HEAD itself, with the length and no X-Sendfile', async () => {
    const response = await request(xSendfileApp).head('/object/default-file/random-1m/')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('1048576')
    expect(response.headers['x-sendfile']).toBeUndefined()
  })
})
