/**
 * Private downloads behind nginx's proxy_cache, through a real nginx in front of the demo app
 * (streamed by Node, no offload). With the cache on, nginx drops Range and the conditional headers
 * on the way to the app and cuts no range from a response it may not store (the default
 * `Cache-Control: private, no-cache`): resume fails. The configuration of docs/nginx.md ("Behind a
 * cache") turns the cache off for the downloads, and Range, If-Range and If-None-Match work again.
 * Fails (never skips) without nginx.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import express from 'express'
import request from 'supertest'
import { buildApp } from '../../demo/app'
import { random1m } from '../../demo/seed'
import { type AppServer, listen, sha256 } from '../helpers/app-server'
import {
  CACHED_PREFIX,
  FORCED_PREFIX,
  nginxCacheConfig,
  type RunningNginx,
  startNginxWith,
  uncachedLocationBlock,
} from '../helpers/nginx'
import { getBytes } from '../helpers/reverse-proxy'
import { type SeededDemo, seededDemo } from '../helpers/seeded-demo'
import { CountingStorage } from '../helpers/storage'

/** The demo's downloads, which the documented location keeps out of the cache. */
const LOCATION = '/object/'
const RANDOM = '/object/default-file/random-1m/'
const SIZE = 1024 * 1024

let demo: SeededDemo<CountingStorage>
let app: AppServer
let nginx: RunningNginx
/** The Range and If-None-Match headers of each request that reached the app. */
const reached: { url: string; range?: string; ifNoneMatch?: string }[] = []

beforeAll(async () => {
  demo = await seededDemo((local) => new CountingStorage(local))
  const outer = express()
  outer.disable('x-powered-by')
  outer.use((req, _res, next) => {
    reached.push({ url: req.url, range: req.headers.range, ifNoneMatch: req.headers['if-none-match'] })
    next()
  })
  outer.use(buildApp(demo.dataSource))
  app = await listen(outer)
  nginx = await startNginxWith('the proxy_cache test', 'downloadview-nginx-cache-', (dir, nginxPort) =>
    nginxCacheConfig({ dir, port: nginxPort, appPort: app.port, location: LOCATION }),
  )
})

afterAll(async () => {
  await nginx?.stop()
  await app?.close()
  await demo?.close()
})

beforeEach(() => {
  demo.storage.reset()
  reached.length = 0
})

/** A GET through nginx, body kept as bytes. */
const viaNginx = (url: string) => getBytes(nginx.url, url)
/** The request that reached the app for `url` (the app's own path). */
const reachedApp = (url: string) => reached.filter((entry) => entry.url === url)
/** The ETag the app gives the file, asked directly. */
const etag = async () => (await request(app.url).head(RANDOM)).headers.etag as string

describe('a private download behind nginx proxy_cache', () => {
  describe('with the cache on for the download (the pitfall)', () => {
    const url = `${CACHED_PREFIX}${RANDOM.slice(1)}`

    it('sends the default Cache-Control: private, no-cache', async () => {
      const response = await viaNginx(url)
      expect(response.headers['cache-control']).toBe('private, no-cache')
    })

    it('answers a Range request with 200 and the whole file: resume fails', async () => {
      const response = await viaNginx(url).set('Range', 'bytes=1000-')
      expect(response.status).toBe(200)
      expect(response.headers['content-range']).toBeUndefined()
      expect(response.body.length).toBe(SIZE)
    })

    it('drops Range on the way to the app', async () => {
      await viaNginx(url).set('Range', 'bytes=1000-')
      expect(reachedApp(RANDOM)).toEqual([{ url: RANDOM, range: undefined, ifNoneMatch: undefined }])
    })

    it('answers a revalidation (If-None-Match) with the whole file, read from storage again', async () => {
      const response = await viaNginx(url).set('If-None-Match', await etag())
      expect(response.status).toBe(200)
      expect(response.body.length).toBe(SIZE)
      expect(demo.storage.calls.open).toBe(1)
    })
  })

  describe('with the configuration of docs/nginx.md (proxy_cache off for the downloads)', () => {
    it('answers a Range request with 206 and the right bytes', async () => {
      const response = await viaNginx(RANDOM).set('Range', 'bytes=1000-1009')
      expect(response.status).toBe(206)
      expect(response.headers['content-range']).toBe(`bytes 1000-1009/${SIZE}`)
      expect(response.body).toEqual(random1m().subarray(1000, 1010))
    })

    it('resumes a partial download as curl -C - does (Range to the end, If-Range)', async () => {
      const response = await viaNginx(RANDOM)
        .set('Range', 'bytes=1000-')
        .set('If-Range', await etag())
      expect(response.status).toBe(206)
      expect(response.headers['content-range']).toBe(`bytes 1000-${SIZE - 1}/${SIZE}`)
      // Compared by hash: toEqual walks a megabyte byte by byte, for seconds.
      expect(sha256(response.body)).toBe(sha256(random1m().subarray(1000)))
    })

    it('passes Range to the app', async () => {
      await viaNginx(RANDOM).set('Range', 'bytes=1000-1009')
      expect(reachedApp(RANDOM)).toEqual([{ url: RANDOM, range: 'bytes=1000-1009', ifNoneMatch: undefined }])
    })

    it('answers a revalidation with the app’s 304, from the row: no file opened', async () => {
      const validator = await etag()
      demo.storage.reset()
      const response = await viaNginx(RANDOM).set('If-None-Match', validator)
      expect(response.status).toBe(304)
      expect(response.headers['cache-control']).toBe('private, no-cache')
      expect(demo.storage.calls.open).toBe(0)
    })

    it('is the block docs/nginx.md shows', () => {
      const docs = readFileSync(path.join(__dirname, '../../docs/nginx.md'), 'utf8')
      expect(docs).toContain(uncachedLocationBlock(LOCATION))
    })
  })

  describe('with proxy_force_ranges on (the cache still on)', () => {
    const url = `${FORCED_PREFIX}${RANDOM.slice(1)}`

    it('answers a Range request with 206 and the right bytes', async () => {
      const response = await viaNginx(url).set('Range', 'bytes=1000-1009')
      expect(response.status).toBe(206)
      expect(response.body).toEqual(random1m().subarray(1000, 1010))
    })

    it('but the app, which never sees Range, sends the whole file for it', async () => {
      await viaNginx(url).set('Range', 'bytes=1000-1009')
      expect(reachedApp(RANDOM)).toEqual([{ url: RANDOM, range: undefined, ifNoneMatch: undefined }])
    })

    it('still answers a revalidation with the whole file', async () => {
      const response = await viaNginx(url).set('If-None-Match', await etag())
      expect(response.status).toBe(200)
      expect(response.body.length).toBe(SIZE)
    })
  })
})
