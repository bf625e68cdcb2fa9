/**
 * The Express adapter (`typeorm-downloadview/express`) on both Express majors it supports, 4.21+
 * and 5: the same app, built with each, over real HTTP. Express 4 comes from the devDependency
 * alias `express-4`.
 */
import express from 'express'
import request from 'supertest'
import type { DataSource, Repository } from 'typeorm'
import { Document } from '../../entities/Document'
import { FileNotFoundError, ObjectDownloadView, StoredFile, signUrl, storages } from '../../src'
import { downloadErrorHandler, handoffMiddleware, requireSignature, toHandler } from '../../src/express'
import { xAccelRedirect } from '../../src/handoff/nginx'
import { assertDownload, binaryParser } from '../../src/testing'
import { createTestDataSource, resetDatabase } from '../helpers/database'
import { temporaryStorage } from '../helpers/storage'

type Express = typeof express
const express4 = require('express-4') as Express

const KEY = { id: 'k1', secret: 'a-test-secret-that-is-long-enough-for-hmac-sha256!' }

let dataSource: DataSource
let documents: Repository<Document>
let removeMedia: () => Promise<void>

beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  storages.register('default', media.storage)
  dataSource = await createTestDataSource()
  documents = dataSource.getRepository(Document)
})

beforeEach(async () => {
  await resetDatabase(dataSource)
  await storages.get('default').save('docs/nums.txt', '123456789')
  await documents.save(
    documents.create({ slug: 'nums', file: Object.assign(new StoredFile(), { path: 'docs/nums.txt' }) }),
  )
})

afterAll(async () => {
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

/** What downloadErrorHandler() logged. */
const logged: string[] = []

/** The app of the README on `framework`, plus the signature and hand-off middlewares. */
function appOn(framework: Express) {
  const app = framework()
  const view = new ObjectDownloadView({ dataSource, entity: Document, lookup: 'slug', file: 'file' })
  app.all('/d/:slug', toHandler(view))
  app.all('/signed/:slug', requireSignature({ keys: [KEY] }), toHandler(view))
  app.all(
    '/offloaded/:slug',
    handoffMiddleware(xAccelRedirect({ rules: [{ storage: 'default', location: '/protected/' }] })),
    toHandler(view),
  )
  app.get('/fails', (_req, _res, next) => next(new FileNotFoundError('No file at "x" in the test')))
  app.get('/crashes', () => {
    throw new Error('a bug')
  })
  app.use(downloadErrorHandler({ logger: { error: (message) => logged.push(message) } }))
  return app
}

describe.each([
  ['Express 4', express4, '4.'],
  ['Express 5', express, '5.'],
] as const)('the Express adapter on %s', (_name, framework, major) => {
  let app: ReturnType<typeof appOn>
  beforeAll(() => {
    app = appOn(framework)
  })

  it(`is that major (${major}x)`, () => {
    const version = (
      require(framework === express ? 'express/package.json' : 'express-4/package.json') as {
        version: string
      }
    ).version
    expect(version.startsWith(major)).toBe(true)
  })

  it('serves GET with its headers and bytes', async () => {
    const response = await request(app).get('/d/nums').buffer(true).parse(binaryParser)
    assertDownload(response, { content: '123456789', basename: 'nums.txt' })
  })

  it('answers HEAD with the length and no body', async () => {
    const response = await request(app).head('/d/nums')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('9')
    expect(response.text ?? '').toBe('')
  })

  it('answers a Range with 206', async () => {
    const response = await request(app).get('/d/nums').set('Range', 'bytes=2-5')
    expect(response.status).toBe(206)
    expect(response.headers['content-range']).toBe('bytes 2-5/9')
    expect(response.text).toBe('3456')
  })

  it('answers If-None-Match with 304', async () => {
    const etag = (await request(app).head('/d/nums')).headers.etag as string
    const response = await request(app).get('/d/nums').set('If-None-Match', etag)
    expect(response.status).toBe(304)
  })

  it('answers a missing row with 404, and another method with 405', async () => {
    expect((await request(app).get('/d/missing')).status).toBe(404)
    const post = await request(app).post('/d/nums')
    expect(post.status).toBe(405)
    expect(post.headers.allow).toBe('GET, HEAD')
  })

  it('lets requireSignature() refuse an unsigned URL and pass a signed one', async () => {
    expect((await request(app).get('/signed/nums')).status).toBe(403)
    const signed = signUrl('/signed/nums', { key: KEY, expiresIn: 60 })
    const response = await request(app).get(signed).buffer(true).parse(binaryParser)
    assertDownload(response, { content: '123456789' })
  })

  it('lets handoffMiddleware() hand the bytes to nginx', async () => {
    const response = await request(app).get('/offloaded/nums')
    expect(response.status).toBe(200)
    expect(response.headers['x-accel-redirect']).toBe('/protected/docs/nums.txt')
  })

  it('lets downloadErrorHandler() answer library errors, bad URLs and bugs without a stack trace', async () => {
    const missing = await request(app).get('/fails')
    expect(missing.status).toBe(404)
    expect(missing.text).toBe('Not Found\n')
    const badEscape = await request(app).get('/d/%E0%A4%A')
    expect(badEscape.status).toBe(400)
    logged.length = 0
    const bug = await request(app).get('/crashes')
    expect(bug.status).toBe(500)
    expect(logged).toEqual(['GET /crashes: 500'])
    expect(bug.text).toBe('Internal Server Error\n')
  })
})
