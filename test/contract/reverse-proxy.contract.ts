/**
 * The checks every server in front of the app passes, whichever header hands it the file (nginx
 * with X-Accel-Redirect, Apache and lighttpd with X-Sendfile; cf. the storage and adapter
 * contracts): the offloaded GET, an escaped key, an empty file, the app's 404, HEAD, single and
 * multipart Range, 416, 304, If-Range, If-Match, 412, and the app's headers kept. A server's test
 * file starts the demo app (seeded, its files on `default`, {@link customHeaderRoute} mounted,
 * offloaded) with the server in front, and calls `describeReverseProxyContract(subject)`.
 */
import { createHash } from 'node:crypto'
import type express from 'express'
import request from 'supertest'
import type { DataSource } from 'typeorm'
import { random1m } from '../../demo/seed'
import { Document } from '../../entities/Document'
import { ObjectDownloadView, type ObjectDownloadViewOptions } from '../../src'
import { toHandler } from '../../src/express'
import { assertDownload } from '../../src/testing'
import { sha256 } from '../helpers/app-server'
import type { RunningServer } from '../helpers/foreground-server'
import { getBytes } from '../helpers/reverse-proxy'
import { boundaryOf, parseMultipart } from '../unit/http/fixtures'

/** A server in front of the app, as the contract sees it. */
export interface ReverseProxySubject {
  /** The server's name in the titles: `nginx`, `Apache`, `lighttpd`. */
  name: string
  /** What its Server header matches. */
  banner: RegExp
  /** The header that hands the file to the server (`X-Accel-Redirect`, `X-Sendfile`), which clients never see. */
  handoffHeader: string
  /** The running server, once `beforeAll` has started it. */
  server(): RunningServer
  /** The app itself, behind the server's back (`http://127.0.0.1:<port>`). */
  appUrl(): string
  /** How many times the app opened a file since the last `forget()`: 0 when the server sent the bytes. */
  opens(): number
  /** Forgets what the app did so far (files opened, answers recorded): called after asking the app directly. */
  forget(): void
  /** A key that needs escaping: what it holds (`a space and non-ASCII characters`), its URL, name and content. */
  escapedKey: { holds: string; url: string; basename: string; content: string }
  /**
   * Whether the server sends a file asked for with If-Match or If-Unmodified-Since; else the app
   * streams it (nginx would judge the precondition again against a file with no ETag, and fail it).
   */
  sendsPreconditioned: boolean
  /** The Accept-Ranges the client gets: `bytes`, the server's own, or none when the server adds none. */
  acceptRanges: 'bytes' | undefined
}

/** The route of the view whose `headers` option adds `X-Demo: 1`, which the server must keep. */
export const CUSTOM_HEADER_ROUTE = '/custom-header/:slug/'

/**
 * Mounts on `app` the view the contract needs beside the demo's: Document.file by slug, with the
 * header `X-Demo: 1` and `options` (a hand-off, say).
 */
export function customHeaderRoute(
  app: express.Express,
  dataSource: DataSource,
  options: Partial<ObjectDownloadViewOptions<Document>> = {},
): void {
  const view = new ObjectDownloadView({
    dataSource,
    entity: Document,
    lookup: 'slug',
    file: 'file',
    headers: { 'X-Demo': '1' },
    ...options,
  })
  app.all(CUSTOM_HEADER_ROUTE, toHandler(view))
}

const HELLO = '/object/default-file/hello-world/'
const RANDOM = '/object/default-file/random-1m/'

export function describeReverseProxyContract(subject: ReverseProxySubject): void {
  const { name } = subject
  /** A GET through the server, body kept as bytes. */
  const via = (url: string) => getBytes(subject.server().url, url)
  /** A GET to the app itself, behind the server's back. */
  const direct = (url: string) => getBytes(subject.appUrl(), url)
  /** The app's validators for `url`, asked directly (and then forgotten). */
  const validatorsOf = async (url: string) => {
    const { headers } = await direct(url)
    subject.forget()
    return { etag: headers.etag as string, lastModified: headers['last-modified'] as string }
  }

  describe(`${name} in front of the app (contract)`, () => {
    describe(`GET through ${name}`, () => {
      it(`serves hello-world file.txt from ${name}, not from Node`, async () => {
        const response = await via(HELLO)
        assertDownload(response, {
          content: 'Hello world!\n',
          basename: 'file.txt',
          contentType: 'text/plain',
          attachment: true,
          size: 13,
        })
        expect(response.headers.server).toMatch(subject.banner)
        expect(subject.opens()).toBe(0)
      })

      it(`does not show ${subject.handoffHeader} to the client`, async () => {
        const response = await via(HELLO)
        expect(response.headers[subject.handoffHeader.toLowerCase()]).toBeUndefined()
      })

      it(`serves random-1m byte for byte from ${name}`, async () => {
        const response = await via(RANDOM)
        expect(response.status).toBe(200)
        expect(response.headers['content-length']).toBe('1048576')
        expect(sha256(response.body)).toBe(sha256(random1m()))
        expect(subject.opens()).toBe(0)
      })

      it(`finds a key with ${subject.escapedKey.holds}`, async () => {
        const { url, basename, content } = subject.escapedKey
        const response = await via(url)
        await withErrorLog(subject.server(), () => assertDownload(response, { content, basename }))
        expect(subject.opens()).toBe(0)
      })

      it('serves an empty file', async () => {
        assertDownload(await via('/object/default-file/empty/'), { content: '', size: 0 })
      })

      it('passes the app’s 404 for a row with no file', async () => {
        expect((await via('/object/default-file/no-file/')).status).toBe(404)
      })

      it('answers HEAD from the app, with the length and no body', async () => {
        const response = await request(subject.server().url).head(RANDOM)
        expect(response.status).toBe(200)
        expect(response.headers['content-length']).toBe('1048576')
        expect(response.headers[subject.handoffHeader.toLowerCase()]).toBeUndefined()
        expect(subject.opens()).toBe(0)
      })
    })

    describe(`Range through ${name}`, () => {
      it('serves a single range as 206', async () => {
        const response = await via(RANDOM).set('Range', 'bytes=1000-1009')
        expect(response.status).toBe(206)
        expect(response.headers['content-range']).toBe('bytes 1000-1009/1048576')
        expect(response.body).toEqual(random1m().subarray(1000, 1010))
        expect(response.headers[subject.handoffHeader.toLowerCase()]).toBeUndefined()
        expect(subject.opens()).toBe(0)
      })

      it('serves several ranges as multipart/byteranges with the file’s type in each part', async () => {
        const response = await via(RANDOM).set('Range', 'bytes=0-9,2000-2009')
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
        expect(subject.opens()).toBe(0)
      })

      it('relays the app’s 416 for a range past the end', async () => {
        const response = await via(RANDOM).set('Range', 'bytes=2000000-')
        expect(response.status).toBe(416)
        expect(response.headers['content-range']).toBe('bytes */1048576')
      })
    })

    describe(`conditional requests through ${name}`, () => {
      it('answers 304 to If-None-Match with the app’s ETag', async () => {
        const { etag } = await validatorsOf(HELLO)
        const response = await via(HELLO).set('If-None-Match', etag)
        expect(response.status).toBe(304)
        expect(response.headers.etag).toBe(etag)
      })

      it('answers 304 to If-Modified-Since with the app’s Last-Modified', async () => {
        const { lastModified } = await validatorsOf(HELLO)
        const response = await via(HELLO).set('If-Modified-Since', lastModified)
        expect(response.status).toBe(304)
      })

      it('serves the range when If-Range holds the app’s ETag', async () => {
        const { etag } = await validatorsOf(RANDOM)
        const response = await via(RANDOM).set('Range', 'bytes=10-19').set('If-Range', etag)
        expect(response.status).toBe(206)
        expect(response.body).toEqual(random1m().subarray(10, 20))
      })

      it('serves the whole file when If-Range holds a stale ETag', async () => {
        const response = await via(RANDOM).set('Range', 'bytes=10-19').set('If-Range', '"stale"')
        expect(response.status).toBe(200)
        expect(response.body.length).toBe(1048576)
        expect(sha256(response.body)).toBe(sha256(random1m()))
      })

      // Served by the server, or streamed by Node: either way the file, and what it took to send it.
      const sentBy = subject.sendsPreconditioned
        ? `from ${name}`
        : `(streamed by Node: ${name} would refuse it)`
      const opens = subject.sendsPreconditioned ? 0 : 1

      it(`serves If-Match with the app’s ETag ${sentBy}`, async () => {
        const { etag } = await validatorsOf(HELLO)
        const response = await via(HELLO).set('If-Match', etag)
        assertDownload(response, { content: 'Hello world!\n', size: 13 })
        expect(subject.opens()).toBe(opens)
      })

      it(`serves If-Unmodified-Since with the app’s Last-Modified ${sentBy}`, async () => {
        const { lastModified } = await validatorsOf(HELLO)
        const response = await via(HELLO).set('If-Unmodified-Since', lastModified)
        assertDownload(response, { content: 'Hello world!\n', size: 13 })
        expect(subject.opens()).toBe(opens)
      })

      it('answers 412 to If-Match with a stale ETag', async () => {
        expect((await via(HELLO).set('If-Match', '"stale"')).status).toBe(412)
      })
    })

    describe(`headers through ${name}`, () => {
      it('keeps the app’s validators and cache headers', async () => {
        const app = await direct(HELLO)
        const response = await via(HELLO)
        for (const header of [
          'etag',
          'last-modified',
          'cache-control',
          'x-content-type-options',
          'content-type',
          'repr-digest',
        ]) {
          expect([header, response.headers[header]]).toEqual([header, app.headers[header]])
        }
        // The row's SHA-256 (RFC 9530), which the server's bytes match.
        expect(response.headers['repr-digest']).toBe(
          `sha-256=:${createHash('sha256').update(response.body).digest('base64')}:`,
        )
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
        expect(subject.opens()).toBe(0)
      })

      it('keeps the sandbox policy of inline HTML', async () => {
        const response = await via('/object/inline-file/page/')
        assertDownload(response, { content: '<script>alert(1)</script>\n', attachment: false })
        expect(response.headers['content-security-policy']).toBe('sandbox')
        expect(subject.opens()).toBe(0)
      })

      it('keeps a header added by the view’s headers option', async () => {
        const response = await via('/custom-header/hello-world/')
        assertDownload(response, { content: 'Hello world!\n' })
        expect(response.headers['x-demo']).toBe('1')
        expect(subject.opens()).toBe(0)
      })

      const acceptRanges = subject.acceptRanges
        ? `one Accept-Ranges, ${name}’s own`
        : `no Accept-Ranges: ${name} adds none, and the app drops its own`
      it(`sends ${acceptRanges}`, async () => {
        const response = await via(HELLO)
        expect(response.status).toBe(200)
        expect(response.headers['accept-ranges']).toBe(subject.acceptRanges)
      })
    })
  })
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
