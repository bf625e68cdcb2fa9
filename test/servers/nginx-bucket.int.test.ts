/**
 * nginxFromBucket() through a real nginx: the demo app on S3Storage (s3rver on loopback),
 * nginx in front with the bucket location of docs/scale-out.md, proxying to the bucket through a
 * recorder that keeps every request nginx sends. Fails (never skips) without nginx. What the app
 * answers on its own is in test/integration/handoff-bucket.int.test.ts, which needs no server.
 */
import http, { type IncomingHttpHeaders } from 'node:http'
import express from 'express'
import request from 'supertest'
import type { DataSource } from 'typeorm'
import { buildApp } from '../../demo/app'
import { random1m, seed } from '../../demo/seed'
import { Document } from '../../entities/Document'
import { attachFile, nginxFromBucket, StoredFile, storages } from '../../src'
import type { S3Storage } from '../../src/s3/s3-storage'
import { assertDownload } from '../../src/testing'
import { customHeaderRoute } from '../contract/reverse-proxy.contract'
import { type AppServer, listen, sha256 } from '../helpers/app-server'
import { createTestDataSource } from '../helpers/database'
import type { RunningNginx } from '../helpers/nginx'
import { startBucketNginx } from '../helpers/nginx-bucket'
import { AppAnswers, getBytes } from '../helpers/reverse-proxy'
import { type CommandCounts, countCommands, type S3TestServer, startS3Server } from '../helpers/s3'

const LOCATION = '/_bucket/'
const X_ACCEL = nginxFromBucket({ location: LOCATION })
/** A key nginx forwards unchanged once escaped: a space and non-ASCII letters. */
const SPACED_KEY = 'odd/naïve café.txt'
/** A key whose escaped path nginx would change: a parenthesis. */
const PAREN_KEY = 'odd/report (1).txt'

/** One request nginx sent to the bucket. */
interface BucketRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
}

let s3: S3TestServer
let storage: S3Storage
/** The requests the app sent the bucket: a presigned URL is never one. */
let commands: CommandCounts
let dataSource: DataSource
let app: AppServer
let recorder: AppServer
const bucketRequests: BucketRequest[] = []
/** What the app answered, behind nginx's back. */
const answers = new AppAnswers()
let nginx: RunningNginx

beforeAll(async () => {
  s3 = await startS3Server()
  storage = s3.storage()
  commands = countCommands(storage.client, 'deserialize')
  storages.register('default', storage)
  dataSource = await createTestDataSource()
  await seed(dataSource)
  const documents = dataSource.getRepository(Document)
  for (const [slug, key] of [
    ['spaced', SPACED_KEY],
    ['paren', PAREN_KEY],
  ] as const) {
    await storage.save(key, `${slug} bytes\n`)
    await documents.save({ slug, title: slug, file: Object.assign(new StoredFile(), { path: key }) })
  }
  const attached = documents.create({ slug: 'attached', title: 'attached' })
  await attachFile(attached, 'file', Buffer.from('attached bytes\n'), { name: 'Q3 (final).txt' })
  await documents.save(attached)

  const outer = express()
  outer.disable('x-powered-by')
  outer.use(answers.record)
  customHeaderRoute(outer, dataSource, { handoff: X_ACCEL })
  outer.use(buildApp(dataSource, { handoff: X_ACCEL }))
  app = await listen(outer)

  // Between nginx and s3rver: records what nginx asks the bucket for, and passes it on as it is.
  recorder = await listen((req, res) => {
    bucketRequests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    const upstream = http.request(
      { host: '127.0.0.1', port: s3.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.once('error', () => res.destroy())
    req.pipe(upstream)
  })
  nginx = await startBucketNginx({
    appPort: app.port,
    bucketPort: recorder.port,
    bucketHost: new URL(s3.endpoint).host,
    location: LOCATION,
    extraHeaders: ['X-Demo'],
  })
})

afterAll(async () => {
  await nginx?.stop()
  await recorder?.close()
  await app?.close()
  await dataSource?.destroy()
  storages.clear()
  await s3?.stop()
})

beforeEach(() => {
  commands.reset()
  bucketRequests.length = 0
  answers.clear()
})

/** A GET through nginx, body kept as bytes. */
const viaNginx = (url: string) => getBytes(nginx.url, url)
/** The app's own headers for `url`: what nginx must pass on. */
const appHeaders = async (url: string) => (await getBytes(app.url, url)).headers
/** The X-Accel-Redirect headers the app sent, in order. */
const accelRedirects = () => answers.all.flatMap((answer) => answer.headers['x-accel-redirect'] ?? [])
/** The access log line of the request for `uri`, once nginx wrote it. */
const logLineOf = (uri: string) => nginx.accessLogLine(`${uri} `)

describe('GET through nginx', () => {
  it('serves the bytes, name and type, fetched by nginx from the bucket', async () => {
    const response = await viaNginx('/object/default-file/hello-world/')
    assertDownload(response, {
      content: 'Hello world!\n',
      basename: 'file.txt',
      contentType: 'text/plain',
      attachment: true,
      size: 13,
    })
    expect(response.headers.server).toMatch(/^nginx/)
    expect(response.headers['x-accel-redirect']).toBeUndefined()
    expect(response.headers['x-bucket-range']).toBeUndefined()
    // The app never read the object; nginx did, through the recorder.
    expect(commands.count('GetObjectCommand')).toBe(0)
    expect(bucketRequests).toHaveLength(1)
    expect(bucketRequests[0]?.url).toMatch(
      new RegExp(
        `^/${s3.defaultBucket}/documents/hello-world/file\\.txt\\?X-Amz-Algorithm=AWS4-HMAC-SHA256&`,
      ),
    )
  })

  it('keeps the app’s headers, not the bucket’s', async () => {
    const url = '/object/default-file/hello-world/'
    const [ours, response] = [await appHeaders(url), await viaNginx(url)]
    for (const name of [
      'etag',
      'last-modified',
      'cache-control',
      'content-type',
      'content-disposition',
      'x-content-type-options',
      'repr-digest',
    ])
      expect([name, response.headers[name]]).toEqual([name, ours[name]])
    expect(response.headers.etag).toMatch(/^"[0-9a-f]{64}"$/)
    expect(response.headers['repr-digest']).toBe(
      `sha-256=:${Buffer.from(sha256(response.body), 'hex').toString('base64')}:`,
    )
    expect(response.headers['accept-ranges']).toBe('bytes')
    expect(response.headers['x-amz-request-id']).toBeUndefined()
  })

  it('keeps the RFC 8187 name', async () => {
    const response = await viaNginx('/object/default-file/unicode/')
    assertDownload(response, {
      content: 'Unicode name\n',
      basename: 'résumé "final", v2.txt',
      attachment: true,
    })
  })

  it('keeps the sandbox policy of active content served inline', async () => {
    const response = await viaNginx('/object/inline-file/page/')
    expect(response.status).toBe(200)
    expect(response.headers['content-security-policy']).toBe('sandbox')
    expect(response.headers['content-disposition']).toBe('inline; filename=page.html')
    expect(response.body.toString()).toBe('<script>alert(1)</script>\n')
    expect(commands.count('GetObjectCommand')).toBe(0)
  })

  it('restores a header the view adds', async () => {
    const response = await viaNginx('/custom-header/hello-world/')
    expect(response.headers['x-demo']).toBe('1')
    expect(response.body.toString()).toBe('Hello world!\n')
  })

  it('serves 1 MiB byte for byte', async () => {
    const response = await viaNginx('/object/default-file/random-1m/')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('1048576')
    expect(sha256(response.body)).toBe(sha256(random1m()))
    expect(commands.count('GetObjectCommand')).toBe(0)
  })

  it('serves an empty object', async () => {
    const response = await viaNginx('/object/default-file/empty/')
    expect(response.status).toBe(200)
    expect(response.body).toEqual(Buffer.alloc(0))
  })

  it('sends the bucket none of the client’s headers', async () => {
    await request(nginx.url)
      .get('/object/default-file/hello-world/')
      .set('Cookie', 'session=secret')
      .set('Authorization', 'Bearer secret')
      .set('If-None-Match', '"other"')
      .set('If-Modified-Since', new Date(0).toUTCString())
    const headers = bucketRequests[0]?.headers ?? {}
    expect(Object.keys(headers).sort()).toEqual(['host'])
    // The host of the presigned URL, which nginx's configuration names: the signature covers it.
    expect(headers.host).toBe(new URL(s3.endpoint).host)
  })
})

describe('object paths', () => {
  it('forwards an escaped path byte for byte, so its signature holds', async () => {
    const response = await viaNginx('/object/default-file/spaced/')
    expect(response.body.toString()).toBe('spaced bytes\n')
    // The app's X-Accel-Redirect, minus the location: what the bucket received, byte for byte.
    await answers.of('/object/default-file/spaced/')
    expect(accelRedirects()).toHaveLength(1)
    expect(bucketRequests[0]?.url).toBe(accelRedirects()[0]?.slice(LOCATION.length - 1))
    expect(bucketRequests[0]?.url).toMatch(/\/odd\/na%C3%AFve%20caf%C3%A9\.txt\?/)
    expect(commands.count('GetObjectCommand')).toBe(0)
  })

  it('streams through the app a key nginx would forward changed', async () => {
    const response = await viaNginx('/object/default-file/paren/')
    expect(response.body.toString()).toBe('paren bytes\n')
    expect(commands.count('GetObjectCommand')).toBe(1)
    expect(bucketRequests).toEqual([])
  })

  it('offloads a key made by attachFile(), whatever the name', async () => {
    const response = await viaNginx('/object/default-file/attached/')
    assertDownload(response, { content: 'attached bytes\n', basename: 'Q3 (final).txt', attachment: true })
    expect(commands.count('GetObjectCommand')).toBe(0)
    expect(bucketRequests).toHaveLength(1)
  })
})

describe('Range through nginx', () => {
  it('answers 206 with the bytes the bucket sent for the range the app decided', async () => {
    const response = await viaNginx('/object/default-file/random-1m/').set('Range', 'bytes=1000-1999')
    expect(response.status).toBe(206)
    expect(response.headers['content-range']).toBe('bytes 1000-1999/1048576')
    expect(response.body).toEqual(random1m().subarray(1000, 2000))
    expect(bucketRequests[0]?.headers.range).toBe('bytes=1000-1999')
    expect(commands.count('GetObjectCommand')).toBe(0)
  })

  it('answers a suffix range, written out in full for the bucket', async () => {
    const response = await viaNginx('/object/default-file/random-1m/').set('Range', 'bytes=-10')
    expect(response.status).toBe(206)
    expect(response.body).toEqual(random1m().subarray(1048566))
    expect(bucketRequests[0]?.headers.range).toBe('bytes=1048566-1048575')
  })

  it('keeps the app’s ETag on a 206', async () => {
    const etag = (await appHeaders('/object/default-file/hello-world/')).etag
    const response = await viaNginx('/object/default-file/hello-world/').set('Range', 'bytes=6-10')
    expect(response.status).toBe(206)
    expect(response.headers.etag).toBe(etag)
    expect(response.body.toString()).toBe('world')
  })

  it('answers the whole file when If-Range is stale', async () => {
    const response = await viaNginx('/object/default-file/hello-world/')
      .set('Range', 'bytes=6-10')
      .set('If-Range', '"stale"')
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('Hello world!\n')
    expect(bucketRequests[0]?.headers.range).toBeUndefined()
  })

  it('answers 206 when If-Range holds', async () => {
    const etag = (await appHeaders('/object/default-file/hello-world/')).etag as string
    const response = await viaNginx('/object/default-file/hello-world/')
      .set('Range', 'bytes=0-4')
      .set('If-Range', etag)
    expect(response.status).toBe(206)
    expect(response.body.toString()).toBe('Hello')
  })

  it('streams several ranges through the app', async () => {
    const response = await viaNginx('/object/default-file/hello-world/').set('Range', 'bytes=0-1,6-7')
    expect(response.status).toBe(206)
    expect(response.headers['content-type']).toMatch(/^multipart\/byteranges; boundary=/)
    expect(bucketRequests).toEqual([])
    expect(commands.count('GetObjectCommand')).toBe(2)
  })

  it('answers 416 from the app', async () => {
    const response = await viaNginx('/object/default-file/hello-world/').set('Range', 'bytes=100-')
    expect(response.status).toBe(416)
    expect(response.headers['content-range']).toBe('bytes */13')
    expect(bucketRequests).toEqual([])
  })
})

describe('conditional requests through nginx', () => {
  it('answers 304 from the app, without asking the bucket', async () => {
    const etag = (await appHeaders('/object/default-file/hello-world/')).etag as string
    bucketRequests.length = 0
    const response = await viaNginx('/object/default-file/hello-world/?revalidated').set(
      'If-None-Match',
      etag,
    )
    expect(response.status).toBe(304)
    expect(response.headers.etag).toBe(etag)
    expect(bucketRequests).toEqual([])
    expect(commands.count('GetObjectCommand')).toBe(0)
    // One upstream (the app), no X-Accel-Redirect, the client's own URI.
    expect(await logLineOf('/object/default-file/hello-world/?revalidated')).toBe(
      `/object/default-file/hello-world/?revalidated 304 0 "-" /object/default-file/hello-world/ 127.0.0.1:${app.port} 304`,
    )
  })

  it('answers 412 from the app', async () => {
    const response = await viaNginx('/object/default-file/hello-world/').set('If-Match', '"other"')
    expect(response.status).toBe(412)
    expect(bucketRequests).toEqual([])
  })

  it('serves a request whose If-Match holds: nginx does not judge it again', async () => {
    const etag = (await appHeaders('/object/default-file/hello-world/')).etag as string
    bucketRequests.length = 0
    const response = await viaNginx('/object/default-file/hello-world/').set('If-Match', etag)
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('Hello world!\n')
    expect(bucketRequests).toHaveLength(1)
  })

  it('answers HEAD from the app, with the length', async () => {
    const response = await request(nginx.url).head('/object/default-file/random-1m/')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('1048576')
    expect(bucketRequests).toEqual([])
  })
})

describe('failures', () => {
  it('answers 404 when the row names an object the bucket does not have', async () => {
    const response = await viaNginx('/object/default-file/missing/')
    expect(response.status).toBe(404)
    expect(bucketRequests).toHaveLength(1)
    expect(response.body.toString()).not.toContain('NoSuchKey')
  })

  it('refuses the bucket location to clients: it is internal', async () => {
    const response = await viaNginx(`${LOCATION}${s3.defaultBucket}/documents/hello-world/file.txt`)
    expect(response.status).toBe(404)
    expect(bucketRequests).toEqual([])
  })
})

describe('the access log', () => {
  it('shows the bucket answering the internal location', async () => {
    await viaNginx('/object/default-file/hello-world/?logged')
    // $uri is the internal one; the app answered first, then the bucket (through the recorder).
    expect(await logLineOf('/object/default-file/hello-world/?logged')).toBe(
      `/object/default-file/hello-world/?logged 200 13 "-" ${LOCATION}${s3.defaultBucket}/documents/hello-world/file.txt ` +
        `127.0.0.1:${app.port} : 127.0.0.1:${recorder.port} 200 : 200`,
    )
  })
})
