/** HTTPDownloadView against real local upstream servers: proxying, relayed statuses, SSRF guard, limits. */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import net from 'node:net'
import { brotliCompressSync, gzipSync } from 'node:zlib'
import express from 'express'
import request from 'supertest'
import { toHandler } from '../../src/express'
import { serve } from '../../src/node/serve'
import { assertDownload, binaryParser } from '../../src/testing'
import type { DownloadRequest } from '../../src/views/download-view'
import { HTTPDownloadView, type HTTPDownloadViewOptions } from '../../src/views/http-view'

const NUMS = Buffer.from('123456789')
const ETAG = '"nums-v1"'
const MODIFIED = 'Tue, 02 Jan 2024 03:04:05 GMT'

/** One request as the upstream saw it. */
interface Seen {
  method: string
  path: string
  headers: http.IncomingHttpHeaders
}

type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>

/** A real node:http upstream on 127.0.0.1 that records every request and counts open responses. */
interface Upstream {
  port: number
  url(path: string): string
  seen: Seen[]
  /** Responses not yet closed (finished or destroyed). */
  open: number
  /** Bytes written to its sockets (status lines, headers and bodies), over every connection. */
  sent: number
  route(path: string, handler: Route): void
  close(): Promise<void>
}

const upstreams: Upstream[] = []
const views: HTTPDownloadView[] = []
const logged: string[] = []
const logger = {
  error: (message: string) => logged.push(message),
  warn: (message: string) => logged.push(message),
}

async function startUpstream(): Promise<Upstream> {
  const routes = new Map<string, Route>()
  const state = { open: 0 }
  const seen: Seen[] = []
  const sockets = new Set<net.Socket>()
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    seen.push({ method: req.method ?? 'GET', path, headers: req.headers })
    state.open++
    res.once('close', () => state.open--)
    const handler = routes.get(path)
    if (!handler) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('upstream: not here')
      return
    }
    Promise.resolve(handler(req, res)).catch(() => res.destroy())
  })
  server.on('connection', (socket: net.Socket) => sockets.add(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const upstream: Upstream = {
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    seen,
    get open() {
      return state.open
    },
    get sent() {
      let bytes = 0
      for (const socket of sockets) bytes += socket.bytesWritten
      return bytes
    },
    route: (path, handler) => routes.set(path, handler),
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  upstreams.push(upstream)
  return upstream
}

/** How the file route of an upstream behaves. */
interface FileBehaviour {
  body: Buffer
  etag?: string
  contentType?: string
  /** Honour a single Range (206 / 416). @default true */
  ranges?: boolean
  /** Honour If-Match / If-None-Match (412 / 304). @default true */
  conditionals?: boolean
  headers?: Record<string, string>
}

/** A small, independent origin server: one file, single ranges, entity-tag preconditions. */
function fileRoute(file: FileBehaviour): Route {
  return (req, res) => {
    const etag = file.etag ?? ETAG
    const size = file.body.length
    const headers: Record<string, string> = {
      'Content-Type': file.contentType ?? 'text/plain',
      ETag: etag,
      'Last-Modified': MODIFIED,
      ...file.headers,
    }
    const tags = (value: string | undefined) => value?.split(',').map((tag) => tag.trim()) ?? []
    if (file.conditionals !== false) {
      const ifMatch = req.headers['if-match']
      if (ifMatch !== undefined && ifMatch !== '*' && !tags(ifMatch).includes(etag)) {
        res.writeHead(412, { ETag: etag, 'Content-Length': '0' }).end()
        return
      }
      const ifNoneMatch = req.headers['if-none-match']
      if (ifNoneMatch !== undefined && (ifNoneMatch === '*' || tags(ifNoneMatch).includes(etag))) {
        res.writeHead(304, { ETag: etag, 'Last-Modified': MODIFIED }).end()
        return
      }
    }
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '')
    const ifRange = req.headers['if-range']
    if (
      file.ranges !== false &&
      req.method === 'GET' &&
      range &&
      (ifRange === undefined || ifRange === etag)
    ) {
      const [, first = '', last = ''] = range
      const start = first === '' ? Math.max(size - Number(last), 0) : Number(first)
      const end = first === '' || last === '' ? size - 1 : Math.min(Number(last), size - 1)
      if (start >= size) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': '0' }).end()
        return
      }
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`
      headers['Content-Length'] = String(end - start + 1)
      res.writeHead(206, headers).end(file.body.subarray(start, end + 1))
      return
    }
    headers['Content-Length'] = String(size)
    res.writeHead(200, headers)
    if (req.method === 'HEAD') res.end()
    else res.end(file.body)
  }
}

// A body of any size from a deterministic generator: a pattern of 65521 bytes (a prime, so that no
// power-of-two distance lands on the same byte) repeated; byte i is PATTERN[i % 65521].
const PERIOD = 65_521
const PATTERN = Buffer.from(
  Array.from({ length: PERIOD }, (_, index) => (index * 131 + (index >>> 7)) & 0xff),
)
const LARGE = 64 * 1024 * 1024
// What the proxy may pull from the upstream per range beyond the bytes the client gets: one
// answer's status line and headers, and a short gap read through between two close ranges.
const ALLOWANCE = 2048

/** Bytes `start` to `end` (inclusive) of the generated body. */
function generated(start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start + 1)
  for (let written = 0; written < out.length; ) {
    const offset = (start + written) % PERIOD
    written += PATTERN.copy(out, written, offset, Math.min(PERIOD, offset + out.length - written))
  }
  return out
}

/**
 * An origin serving `size` generated bytes, streamed with backpressure: single ranges (206 / 416),
 * If-Match (412) and If-Range, or no ranges at all with `ranges: false`. `etag()` may change.
 */
function generatedRoute(size: number, options: { ranges?: boolean; etag?: () => string } = {}): Route {
  return async (req, res) => {
    const etag = options.etag?.() ?? ETAG
    const ifMatch = req.headers['if-match']
    if (ifMatch !== undefined && ifMatch !== etag) {
      res.writeHead(412, { ETag: etag, 'Content-Length': '0' }).end()
      return
    }
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      ETag: etag,
      'Last-Modified': MODIFIED,
    }
    let start = 0
    let end = size - 1
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '')
    const ifRange = req.headers['if-range']
    if (options.ranges !== false && range && (ifRange === undefined || ifRange === etag)) {
      const [, first = '', last = ''] = range
      start = first === '' ? Math.max(size - Number(last), 0) : Number(first)
      end = first === '' || last === '' ? size - 1 : Math.min(Number(last), size - 1)
      if (start >= size) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': '0' }).end()
        return
      }
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`
    }
    headers['Content-Length'] = String(end - start + 1)
    res.writeHead(headers['Content-Range'] ? 206 : 200, headers)
    for (let offset = start; offset <= end && !res.destroyed; offset += 64 * 1024) {
      if (!res.write(generated(offset, Math.min(end, offset + 64 * 1024 - 1)))) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done)
            res.off('close', done)
            resolve()
          }
          res.once('drain', done)
          res.once('close', done)
        })
      }
    }
    res.end()
  }
}

/** The parts of a multipart/byteranges body, checking its framing byte for byte. */
function multipartParts(
  body: Buffer,
  contentType: string | undefined,
): { start: number; end: number; data: Buffer }[] {
  const boundary = /boundary=(\S+)/.exec(contentType ?? '')?.[1] ?? ''
  const closing = `\r\n--${boundary}--\r\n`
  const parts: { start: number; end: number; data: Buffer }[] = []
  let opening = `--${boundary}\r\n`
  let offset = 0
  for (;;) {
    expect(body.subarray(offset, offset + opening.length).toString('latin1')).toBe(opening)
    offset += opening.length
    const headEnd = body.indexOf('\r\n\r\n', offset)
    const head = body.subarray(offset, headEnd).toString('latin1')
    const match = /Content-Range: bytes (\d+)-(\d+)\/\d+/.exec(head)
    expect(match).not.toBeNull()
    const start = Number(match?.[1])
    const end = Number(match?.[2])
    offset = headEnd + 4
    parts.push({ start, end, data: body.subarray(offset, offset + end - start + 1) })
    offset += end - start + 1
    if (offset + closing.length === body.length) {
      expect(body.subarray(offset).toString('latin1')).toBe(closing)
      return parts
    }
    opening = `\r\n--${boundary}\r\n`
  }
}

/** Checks that `actual` holds exactly `expected` (toEqual compares large buffers byte by byte, slowly). */
function expectBytes(actual: unknown, expected: Buffer): void {
  expect(Buffer.isBuffer(actual)).toBe(true)
  expect((actual as Buffer).length).toBe(expected.length)
  expect(Buffer.compare(actual as Buffer, expected)).toBe(0)
}

/** What the client should get for `ranges` of the generated body. */
const expectedParts = (ranges: [number, number][]) =>
  ranges.map(([start, end]) => ({ start, end, data: generated(start, end) }))

/** A view that trusts 127.0.0.1 (the upstreams live there) unless `options` says otherwise. */
function viewFor(url: string, options: Partial<HTTPDownloadViewOptions> = {}): HTTPDownloadView {
  const view = new HTTPDownloadView({ url, allowedHosts: ['127.0.0.1'], logger, ...options })
  views.push(view)
  return view
}

function appFor(view: HTTPDownloadView) {
  const app = express()
  app.all('/file', toHandler(view))
  app.all('/by/:name', toHandler(view))
  return app
}

/** The answer of a raw node:http GET, read to its end or its cut. */
interface RawAnswer {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
  /** Whether the whole message arrived (false: the connection was cut). */
  complete: boolean
  /** When the first body byte arrived, by `performance.now()`. */
  firstByteAt?: number
}

/** GETs `/file` of `view` over a real socket, so a cut connection shows as an incomplete message. */
async function rawGet(
  view: HTTPDownloadView,
  options: { headers?: Record<string, string>; onFirstByte?: () => void } = {},
): Promise<RawAnswer> {
  const server = http.createServer(appFor(view))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  try {
    return await new Promise<RawAnswer>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/file', headers: options.headers, agent: false })
      req.on('error', reject)
      req.on('response', (res) => {
        const chunks: Buffer[] = []
        let firstByteAt: number | undefined
        res.on('data', (chunk: Buffer) => {
          if (firstByteAt === undefined) {
            firstByteAt = performance.now()
            options.onFirstByte?.()
          }
          chunks.push(chunk)
        })
        res.on('error', () => {})
        res.on('close', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            complete: res.complete,
            firstByteAt,
          }),
        )
      })
    })
  } finally {
    server.closeAllConnections()
    server.close()
  }
}

/** Waits until `condition` holds, polling; fails after `ms`. */
async function eventually(condition: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('the condition did not hold in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The requests an upstream saw for `path`. */
const seenAt = (upstream: Upstream, path: string) => upstream.seen.filter((seen) => seen.path === path)

let upstream: Upstream

beforeEach(async () => {
  logged.length = 0
  upstream = await startUpstream()
  upstream.route('/nums.txt', fileRoute({ body: NUMS }))
})

afterEach(async () => {
  for (const view of views.splice(0)) view.destroy()
  await Promise.all(upstreams.splice(0).map((server) => server.close()))
})

describe('HTTPDownloadView', () => {
  describe('when the upstream answers 200', () => {
    it('returns the same bytes, with the upstream type', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { content: NUMS, basename: 'nums.txt', contentType: 'text/plain', size: 9 })
    })

    it('returns the upstream ETag and Last-Modified', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt')))).get('/file')
      expect(response.headers.etag).toBe(ETAG)
      expect(response.headers['last-modified']).toBe(MODIFIED)
    })

    it('asks the upstream with Accept-Encoding: identity', async () => {
      await request(appFor(viewFor(upstream.url('/nums.txt')))).get('/file')
      expect(seenAt(upstream, '/nums.txt')[0]?.headers['accept-encoding']).toBe('identity')
    })

    it('relays no other upstream header (Set-Cookie, hop-by-hop ones)', async () => {
      upstream.route(
        '/cookie.txt',
        fileRoute({
          body: NUMS,
          headers: { 'Set-Cookie': 'session=upstream', 'X-Upstream': 'secret', 'Keep-Alive': 'timeout=1' },
        }),
      )
      const response = await request(appFor(viewFor(upstream.url('/cookie.txt')))).get('/file')
      expect(response.headers['set-cookie']).toBeUndefined()
      expect(response.headers['x-upstream']).toBeUndefined()
      expect(response.headers['keep-alive']).not.toBe('timeout=1')
    })

    it('returns an invalid upstream ETag as none', async () => {
      upstream.route('/bad-etag.txt', fileRoute({ body: NUMS, etag: 'not-quoted' }))
      const response = await request(appFor(viewFor(upstream.url('/bad-etag.txt')))).get('/file')
      expect(response.headers.etag).not.toBe('not-quoted')
    })
  })

  describe('when the request is HEAD', () => {
    it('returns the headers of the file', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt')))).head('/file')
      expect(response.status).toBe(200)
      expect(response.headers['content-length']).toBe('9')
    })

    it('asks the upstream with HEAD, so no body is transferred', async () => {
      await request(appFor(viewFor(upstream.url('/nums.txt')))).head('/file')
      expect(seenAt(upstream, '/nums.txt').map((seen) => seen.method)).toEqual(['HEAD'])
    })

    it.each([403, 405, 501])(
      'asks again with GET when the upstream answers HEAD with %i (a URL made for GET only)',
      async (refusal) => {
        const serve = fileRoute({ body: NUMS })
        upstream.route(`/get-only-${refusal}.txt`, (req, res) => {
          if (req.method === 'HEAD') res.writeHead(refusal).end()
          else return serve(req, res)
        })
        const response = await request(appFor(viewFor(upstream.url(`/get-only-${refusal}.txt`)))).head(
          '/file',
        )
        expect(response.status).toBe(200)
        expect(response.headers['content-length']).toBe('9')
        expect(seenAt(upstream, `/get-only-${refusal}.txt`).map((seen) => seen.method)).toEqual([
          'HEAD',
          'GET',
        ])
      },
    )

    it('answers 502 when the GET is refused too', async () => {
      upstream.route('/forbidden.txt', (_req, res) => {
        res.writeHead(403).end()
      })
      const response = await request(appFor(viewFor(upstream.url('/forbidden.txt')))).head('/file')
      expect(response.status).toBe(502)
      expect(seenAt(upstream, '/forbidden.txt').map((seen) => seen.method)).toEqual(['HEAD', 'GET'])
    })
  })

  describe('when the request has one Range', () => {
    it('returns 206 with the requested bytes', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Range', 'bytes=2-5')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { status: 206, content: '3456', size: 4 })
      expect(response.headers['content-range']).toBe('bytes 2-5/9')
    })

    it('forwards the Range upstream, so only those bytes are transferred', async () => {
      await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Range', 'bytes=2-5')
      expect(seenAt(upstream, '/nums.txt').map((seen) => seen.headers.range)).toEqual(['bytes=2-5'])
    })

    it('returns a suffix range', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Range', 'bytes=-3')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { status: 206, content: '789' })
    })
  })

  describe('when the request has several ranges', () => {
    it('returns multipart/byteranges with each part', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Range', 'bytes=0-1,7-8')
        .buffer(true)
        .parse(binaryParser)
      expect(response.status).toBe(206)
      expect(response.headers['content-type']).toMatch(/^multipart\/byteranges; boundary=/)
      const text = (response.body as Buffer).toString()
      expect(text).toContain('Content-Range: bytes 0-1/9\r\n\r\n12\r\n')
      expect(text).toContain('Content-Range: bytes 7-8/9\r\n\r\n89\r\n')
    })

    it('asks the upstream for close ranges with one Range that spans them', async () => {
      await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Range', 'bytes=0-1,7-8')
      expect(seenAt(upstream, '/nums.txt').map((seen) => seen.headers.range)).toEqual(['bytes=0-8'])
    })

    it('asks the longest suffix when all the ranges are suffixes', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Range', 'bytes=-2,-5')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { status: 206, content: '56789' })
      expect(seenAt(upstream, '/nums.txt').map((seen) => seen.headers.range)).toEqual(['bytes=-5'])
    })

    it('serves a suffix when the first range asked upstream is beyond the end (416 not relayed)', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Range', 'bytes=100-200,-3')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { status: 206, content: '789' })
      expect(seenAt(upstream, '/nums.txt').map((seen) => seen.headers.range)).toEqual([
        'bytes=100-200',
        'bytes=6-8',
      ])
    })

    it('answers 416 with the complete length when no range can be satisfied', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Range', 'bytes=100-200,300-400')
      expect(response.status).toBe(416)
      expect(response.headers['content-range']).toBe('bytes */9')
    })

    it('sends no Range upstream for a header the responder ignores, and returns 200', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Range', 'bytes=0-1,5-2')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { status: 200, content: NUMS })
      expect(seenAt(upstream, '/nums.txt')[0]?.headers.range).toBeUndefined()
    })
  })

  describe('when several ranges are far apart in a large upstream file', () => {
    beforeEach(() => {
      upstream.route('/large.bin', generatedRoute(LARGE))
    })

    /** GETs /large.bin through the view with `range`; the parts, and the bytes each side sent. */
    async function getRanges(range: string, options: Partial<HTTPDownloadViewOptions> = {}) {
      const response = await request(appFor(viewFor(upstream.url('/large.bin'), options)))
        .get('/file')
        .set('Range', range)
        .buffer(true)
        .parse(binaryParser)
      const body = response.body as Buffer
      return { response, body, upstreamBytes: upstream.sent, seen: seenAt(upstream, '/large.bin') }
    }

    it('pulls from the upstream the bytes it sends, not all the bytes up to the last range', async () => {
      const { response, body, upstreamBytes } = await getRanges(`bytes=0-0,${LARGE - 1}-${LARGE - 1}`)
      expect(response.status).toBe(206)
      expect(multipartParts(body, response.headers['content-type'])).toEqual(
        expectedParts([
          [0, 0],
          [LARGE - 1, LARGE - 1],
        ]),
      )
      expect(upstreamBytes).toBeLessThanOrEqual(body.length + ALLOWANCE * 2)
    })

    it('asks each far range with its own Range, pinned to the first answer with If-Match', async () => {
      const { seen } = await getRanges(`bytes=0-0,${LARGE - 1}-${LARGE - 1}`)
      expect(seen.map(({ headers }) => [headers.range, headers['if-match']])).toEqual([
        ['bytes=0-0', undefined],
        [`bytes=${LARGE - 1}-${LARGE - 1}`, ETAG],
      ])
    })

    it('serves many small ranges with at most one upstream request each', async () => {
      const ranges = Array.from({ length: 16 }, (_, index): [number, number] => {
        const start = index * 4 * 1024 * 1024 + 12_345
        return [start, start + 99]
      })
      const { response, body, upstreamBytes, seen } = await getRanges(
        `bytes=${ranges.map(([start, end]) => `${start}-${end}`).join(',')}`,
      )
      expect(multipartParts(body, response.headers['content-type'])).toEqual(expectedParts(ranges))
      expect(seen.length).toBeLessThanOrEqual(ranges.length)
      expect(upstreamBytes).toBeLessThanOrEqual(body.length + ALLOWANCE * ranges.length)
    })

    it('serves ranges closer than the gap allowance from one upstream request', async () => {
      const ranges: [number, number][] = [
        [1_000_000, 1_000_009],
        [1_000_100, 1_000_109],
        [1_000_200, 1_000_209],
      ]
      const { response, body, upstreamBytes, seen } = await getRanges(
        `bytes=${ranges.map(([start, end]) => `${start}-${end}`).join(',')}`,
      )
      expect(multipartParts(body, response.headers['content-type'])).toEqual(expectedParts(ranges))
      expect(seen.map(({ headers }) => headers.range)).toEqual(['bytes=1000000-1000209'])
      expect(upstreamBytes).toBeLessThanOrEqual(body.length + ALLOWANCE * ranges.length)
    })

    it('coalesces overlapping and adjacent ranges, then asks the far one separately', async () => {
      const { response, body, upstreamBytes, seen } = await getRanges(
        'bytes=1000-1999,1500-2999,3000-3999,50000000-50000999',
      )
      expect(multipartParts(body, response.headers['content-type'])).toEqual(
        expectedParts([
          [1000, 3999],
          [50_000_000, 50_000_999],
        ]),
      )
      expect(seen.map(({ headers }) => headers.range)).toEqual(['bytes=1000-3999', 'bytes=50000000-50000999'])
      expect(upstreamBytes).toBeLessThanOrEqual(body.length + ALLOWANCE * 2)
    })

    it('serves a suffix range with its own upstream request', async () => {
      const { response, body, upstreamBytes } = await getRanges('bytes=0-9,-10')
      expect(multipartParts(body, response.headers['content-type'])).toEqual(
        expectedParts([
          [0, 9],
          [LARGE - 10, LARGE - 1],
        ]),
      )
      expect(upstreamBytes).toBeLessThanOrEqual(body.length + ALLOWANCE * 2)
    })

    it('serves a range before the first one asked upstream (a suffix that starts lower)', async () => {
      const { response, body, upstreamBytes } = await getRanges(`bytes=${LARGE - 5}-${LARGE - 1},-100`)
      expect(response.status).toBe(206)
      expect(response.headers['content-range']).toBe(`bytes ${LARGE - 100}-${LARGE - 1}/${LARGE}`)
      expectBytes(body, generated(LARGE - 100, LARGE - 1))
      expect(upstreamBytes).toBeLessThanOrEqual(body.length + ALLOWANCE * 2)
    })

    it('answers the whole file when more ranges are asked than maxRanges, read once', async () => {
      upstream.route('/small.bin', generatedRoute(1_000_000))
      const view = viewFor(upstream.url('/small.bin'), { maxRanges: 2 })
      const response = await request(appFor(view))
        .get('/file')
        .set('Range', 'bytes=0-0,500000-500000,999999-999999')
        .buffer(true)
        .parse(binaryParser)
      expect(response.status).toBe(200)
      expectBytes(response.body, generated(0, 999_999))
      expect(upstream.sent).toBeLessThanOrEqual(1_000_000 + ALLOWANCE * 3)
    })

    it('cuts the response when the file changed between two upstream requests', async () => {
      let version = 0
      upstream.route('/changing.bin', generatedRoute(LARGE, { etag: () => `"v${++version}"` }))
      const answer = await rawGet(viewFor(upstream.url('/changing.bin')), {
        headers: { Range: `bytes=0-0,${LARGE - 1}-${LARGE - 1}` },
      })
      expect(answer.status).toBe(206)
      expect(answer.complete).toBe(false)
      expect(seenAt(upstream, '/changing.bin')[1]?.headers['if-match']).toBe('"v1"')
    })
  })

  describe('when the upstream ignores Range and the ranges are far apart', () => {
    it('answers 200 with the whole file, read once', async () => {
      const size = 4 * 1024 * 1024
      upstream.route('/plain.bin', generatedRoute(size, { ranges: false }))
      const response = await request(appFor(viewFor(upstream.url('/plain.bin'))))
        .get('/file')
        .set('Range', `bytes=0-0,${size - 1}-${size - 1}`)
        .buffer(true)
        .parse(binaryParser)
      expect(response.status).toBe(200)
      expect(response.headers['accept-ranges']).toBe('none')
      expectBytes(response.body, generated(0, size - 1))
      expect(upstream.sent).toBeLessThanOrEqual(size + ALLOWANCE)
    })

    it('answers 200 with the whole file for one far range too', async () => {
      const size = 4 * 1024 * 1024
      upstream.route('/plain.bin', generatedRoute(size, { ranges: false }))
      const response = await request(appFor(viewFor(upstream.url('/plain.bin'))))
        .get('/file')
        .set('Range', `bytes=${size - 1}-`)
        .buffer(true)
        .parse(binaryParser)
      expect(response.status).toBe(200)
      expectBytes(response.body, generated(0, size - 1))
    })
  })

  describe('when the upstream ignores Range', () => {
    beforeEach(() => {
      upstream.route('/plain.txt', fileRoute({ body: NUMS, ranges: false }))
    })

    it('still returns 206 with the requested bytes', async () => {
      const response = await request(appFor(viewFor(upstream.url('/plain.txt'))))
        .get('/file')
        .set('Range', 'bytes=2-5')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { status: 206, content: '3456' })
      expect(response.headers['content-range']).toBe('bytes 2-5/9')
    })

    it('cuts several ranges from one upstream body', async () => {
      const response = await request(appFor(viewFor(upstream.url('/plain.txt'))))
        .get('/file')
        .set('Range', 'bytes=1-2,6-7')
        .buffer(true)
        .parse(binaryParser)
      const text = (response.body as Buffer).toString()
      expect(text).toContain('Content-Range: bytes 1-2/9\r\n\r\n23\r\n')
      expect(text).toContain('Content-Range: bytes 6-7/9\r\n\r\n78\r\n')
      expect(seenAt(upstream, '/plain.txt')).toHaveLength(1)
    })
  })

  describe('when the upstream answers a Range with other bytes than the responder needs', () => {
    it('asks again for the exact range, pinned with If-Match', async () => {
      // An origin that answers any Range with its first three bytes only (allowed by RFC 9110 §14.2).
      upstream.route('/short.txt', (req, res) => {
        const exact =
          req.headers['if-match'] === ETAG ? /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') : null
        const start = exact ? Number(exact[1]) : 0
        const end = exact ? Number(exact[2]) : 2
        res
          .writeHead(206, {
            ETag: ETAG,
            'Content-Range': `bytes ${start}-${end}/9`,
            'Content-Length': String(end - start + 1),
          })
          .end(NUMS.subarray(start, end + 1))
      })
      const response = await request(appFor(viewFor(upstream.url('/short.txt'))))
        .get('/file')
        .set('Range', 'bytes=4-')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { status: 206, content: '56789' })
      expect(seenAt(upstream, '/short.txt').map((seen) => seen.headers.range)).toEqual([
        'bytes=4-',
        'bytes=4-8',
      ])
    })

    it('returns 502 when the second answer gives another complete length', async () => {
      // The first answer says 9 bytes, the second 10: not the same representation.
      upstream.route('/grown.txt', (req, res) => {
        const second = req.headers['if-match'] !== undefined
        res
          .writeHead(206, {
            ETag: ETAG,
            'Content-Range': second ? 'bytes 4-8/10' : 'bytes 0-2/9',
            'Content-Length': second ? '5' : '3',
          })
          .end(second ? NUMS.subarray(4) : NUMS.subarray(0, 3))
      })
      const response = await request(appFor(viewFor(upstream.url('/grown.txt'))))
        .get('/file')
        .set('Range', 'bytes=4-')
      expect(response.status).toBe(502)
      expect(seenAt(upstream, '/grown.txt')).toHaveLength(2)
    })
  })

  describe('when If-None-Match matches', () => {
    it('relays the upstream 304 with the validators', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('If-None-Match', ETAG)
      expect(response.status).toBe(304)
      expect(response.headers.etag).toBe(ETAG)
      expect(seenAt(upstream, '/nums.txt')[0]?.headers['if-none-match']).toBe(ETAG)
    })
  })

  describe('when If-Match does not match', () => {
    it('relays the upstream 412', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('If-Match', '"other"')
      expect(response.status).toBe(412)
      expect(seenAt(upstream, '/nums.txt')[0]?.headers['if-match']).toBe('"other"')
    })
  })

  describe('when the Range cannot be satisfied', () => {
    it('relays the upstream 416 with the complete length', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Range', 'bytes=100-200')
      expect(response.status).toBe(416)
      expect(response.headers['content-range']).toBe('bytes */9')
    })
  })

  describe('when If-Range is stale', () => {
    it('returns 200 and the full body', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Range', 'bytes=2-5')
        .set('If-Range', '"old"')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { status: 200, content: NUMS })
    })
  })

  describe('when the upstream ignores conditional headers', () => {
    it('answers 304 itself from the upstream validators', async () => {
      upstream.route('/unconditional.txt', fileRoute({ body: NUMS, conditionals: false }))
      const response = await request(appFor(viewFor(upstream.url('/unconditional.txt'))))
        .get('/file')
        .set('If-None-Match', ETAG)
      expect(response.status).toBe(304)
    })
  })

  describe('when the upstream answers 404', () => {
    it('returns 404', async () => {
      const response = await request(appFor(viewFor(upstream.url('/missing.txt')))).get('/file')
      expect(response.status).toBe(404)
      expect(response.text).toBe('Not Found\n')
    })
  })

  describe('when the upstream answers 410', () => {
    it('returns 404', async () => {
      upstream.route('/gone.txt', (_req, res) => {
        res.writeHead(410).end('gone')
      })
      expect((await request(appFor(viewFor(upstream.url('/gone.txt')))).get('/file')).status).toBe(404)
    })
  })

  describe('when the upstream answers 500', () => {
    it('returns 502 with our own short body, not the upstream error page', async () => {
      upstream.route('/broken.txt', (_req, res) => {
        res.writeHead(500, { 'Content-Type': 'text/html' }).end('<h1>upstream stack trace</h1>')
      })
      const response = await request(appFor(viewFor(upstream.url('/broken.txt')))).get('/file')
      expect(response.status).toBe(502)
      expect(response.text).toBe('Bad Gateway\n')
    })
  })

  describe('when the upstream answers 206 with fewer bytes than its Content-Range names', () => {
    it('returns 502 before any header, not a 206 cut short', async () => {
      upstream.route('/short-206.txt', (_req, res) => {
        res.writeHead(206, { 'Content-Range': 'bytes 2-5/9', 'Content-Length': '2' }).end('34')
      })
      const answer = await rawGet(viewFor(upstream.url('/short-206.txt')), {
        headers: { Range: 'bytes=2-5' },
      })
      expect(answer.status).toBe(502)
    })
  })

  describe('when the upstream answers 206 without being asked for a range', () => {
    it('returns 502', async () => {
      upstream.route('/odd.txt', (_req, res) => {
        res.writeHead(206, { 'Content-Range': 'bytes 0-1/9', 'Content-Length': '2' }).end('12')
      })
      expect((await request(appFor(viewFor(upstream.url('/odd.txt')))).get('/file')).status).toBe(502)
    })
  })

  describe('when the upstream redirects', () => {
    it('follows the redirect and names the file after the final URL', async () => {
      upstream.route('/go', (_req, res) => {
        res.writeHead(302, { Location: '/nums.txt' }).end()
      })
      const response = await request(appFor(viewFor(upstream.url('/go'))))
        .get('/file')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { content: NUMS, basename: 'nums.txt' })
    })

    it('refuses a redirect to a disallowed address with 403, before contacting it', async () => {
      upstream.route('/to-localhost', (_req, res) => {
        res.writeHead(302, { Location: `http://localhost:${upstream.port}/nums.txt` }).end()
      })
      const response = await request(appFor(viewFor(upstream.url('/to-localhost')))).get('/file')
      expect(response.status).toBe(403)
      expect(seenAt(upstream, '/nums.txt')).toHaveLength(0)
    })

    it('refuses a redirect to another scheme with 403', async () => {
      upstream.route('/to-file', (_req, res) => {
        res.writeHead(301, { Location: 'file:///etc/passwd' }).end()
      })
      expect((await request(appFor(viewFor(upstream.url('/to-file')))).get('/file')).status).toBe(403)
    })

    it('returns 502 after more than maxRedirects', async () => {
      upstream.route('/loop', (_req, res) => {
        res.writeHead(307, { Location: '/loop' }).end()
      })
      const response = await request(appFor(viewFor(upstream.url('/loop'), { maxRedirects: 2 }))).get('/file')
      expect(response.status).toBe(502)
      expect(seenAt(upstream, '/loop')).toHaveLength(3)
    })

    it('returns 502 for a redirect when maxRedirects is 0', async () => {
      upstream.route('/go', (_req, res) => {
        res.writeHead(302, { Location: '/nums.txt' }).end()
      })
      const response = await request(appFor(viewFor(upstream.url('/go'), { maxRedirects: 0 }))).get('/file')
      expect(response.status).toBe(502)
    })

    it('drops Authorization on a redirect to another origin', async () => {
      const other = await startUpstream()
      other.route('/nums.txt', fileRoute({ body: NUMS }))
      upstream.route('/away', (_req, res) => {
        res.writeHead(302, { Location: other.url('/nums.txt') }).end()
      })
      const view = viewFor(upstream.url('/away'), {
        allowedHosts: ['127.0.0.1', `127.0.0.1:${other.port}`],
        requestHeaders: { Authorization: 'Bearer secret', 'X-Client': 'app' },
      })
      expect((await request(appFor(view)).get('/file')).status).toBe(200)
      expect(seenAt(upstream, '/away')[0]?.headers.authorization).toBe('Bearer secret')
      expect(seenAt(other, '/nums.txt')[0]?.headers.authorization).toBeUndefined()
      expect(seenAt(other, '/nums.txt')[0]?.headers['x-client']).toBe('app')
    })
  })

  describe('with the default SSRF guard', () => {
    it('refuses 127.0.0.1 with 403, and the upstream receives no request', async () => {
      const view = viewFor(upstream.url('/nums.txt'), { allowedHosts: [] })
      const response = await request(appFor(view)).get('/file')
      expect(response.status).toBe(403)
      expect(response.text).toBe('Forbidden\n')
      expect(upstream.seen).toHaveLength(0)
    })

    it('refuses a name that resolves to loopback (localhost)', async () => {
      const view = viewFor(`http://localhost:${upstream.port}/nums.txt`, { allowedHosts: [] })
      expect((await request(appFor(view)).get('/file')).status).toBe(403)
      expect(upstream.seen).toHaveLength(0)
    })

    it('refuses an IPv4-mapped IPv6 loopback literal', async () => {
      const view = viewFor(`http://[::ffff:127.0.0.1]:${upstream.port}/nums.txt`, { allowedHosts: [] })
      expect((await request(appFor(view)).get('/file')).status).toBe(403)
    })

    it('refuses what getUrl() computes from the route', async () => {
      class Computed extends HTTPDownloadView {
        override getUrl(request: DownloadRequest) {
          return `http://169.254.169.254/latest/meta-data/${String(request.params.name)}`
        }
      }
      const view = new Computed({ logger })
      views.push(view)
      expect((await request(appFor(view)).get('/by/iam')).status).toBe(403)
    })
  })

  describe('when the host is in allowedHosts', () => {
    it('serves it even though it is loopback', async () => {
      const view = viewFor(`http://localhost:${upstream.port}/nums.txt`, { allowedHosts: ['localhost'] })
      const response = await request(appFor(view)).get('/file').buffer(true).parse(binaryParser)
      assertDownload(response, { content: NUMS })
    })
  })

  describe('when allowedHosts names a host without a port', () => {
    let other: Upstream

    beforeEach(async () => {
      other = await startUpstream()
      other.route('/nums.txt', fileRoute({ body: NUMS }))
      upstream.route('/to-other-port', (_req, res) => {
        res.writeHead(302, { Location: other.url('/nums.txt') }).end()
      })
    })

    it('refuses a redirect to another port of that host with 403, before contacting it', async () => {
      const view = viewFor(upstream.url('/to-other-port'), {
        allowedHosts: ['127.0.0.1'],
        onlyAllowedHosts: true,
      })
      expect((await request(appFor(view)).get('/file')).status).toBe(403)
      expect(other.seen).toHaveLength(0)
    })

    it('refuses it without onlyAllowedHosts too: the loopback address is then not trusted', async () => {
      const view = viewFor(upstream.url('/to-other-port'), { allowedHosts: ['127.0.0.1'] })
      expect((await request(appFor(view)).get('/file')).status).toBe(403)
      expect(other.seen).toHaveLength(0)
    })

    it('follows the redirect when an entry names that port', async () => {
      const view = viewFor(upstream.url('/to-other-port'), {
        allowedHosts: ['127.0.0.1', `127.0.0.1:${other.port}`],
        onlyAllowedHosts: true,
      })
      const response = await request(appFor(view)).get('/file').buffer(true).parse(binaryParser)
      assertDownload(response, { content: NUMS })
    })

    it('serves the port of the URL the view was given', async () => {
      const view = viewFor(upstream.url('/nums.txt'), { allowedHosts: ['127.0.0.1'], onlyAllowedHosts: true })
      expect((await request(appFor(view)).get('/file')).status).toBe(200)
    })
  })

  describe('when onlyAllowedHosts is on', () => {
    it('refuses a host that is not listed', async () => {
      const view = viewFor(upstream.url('/nums.txt'), {
        allowedHosts: ['files.example.com'],
        onlyAllowedHosts: true,
      })
      expect((await request(appFor(view)).get('/file')).status).toBe(403)
      expect(upstream.seen).toHaveLength(0)
    })

    it('serves a listed host', async () => {
      const view = viewFor(upstream.url('/nums.txt'), { onlyAllowedHosts: true })
      expect((await request(appFor(view)).get('/file')).status).toBe(200)
    })
  })

  describe('when getUrl() is overridden', () => {
    it('serves the URL it computes, async', async () => {
      const base = upstream.url('/')
      class Computed extends HTTPDownloadView {
        override async getUrl(request: DownloadRequest) {
          return new URL(`${String(request.params.name)}.txt`, base)
        }
      }
      const view = new Computed({ allowedHosts: ['127.0.0.1'], logger })
      views.push(view)
      const response = await request(appFor(view)).get('/by/nums').buffer(true).parse(binaryParser)
      assertDownload(response, { content: NUMS, basename: 'nums.txt' })
    })
  })

  describe('when the upstream does not complete the connection', () => {
    it('returns 504 after connectTimeout', async () => {
      // A TCP server that never answers the TLS handshake: the connection is never established.
      const sockets = new Set<net.Socket>()
      const silent = net.createServer((socket) => {
        sockets.add(socket)
        socket.on('error', () => {})
      })
      silent.listen(0, '127.0.0.1')
      await once(silent, 'listening')
      const { port } = silent.address() as AddressInfo
      try {
        const view = viewFor(`https://127.0.0.1:${port}/file.bin`, { connectTimeout: 200, timeout: 20_000 })
        const started = Date.now()
        const response = await request(appFor(view)).get('/file')
        expect(response.status).toBe(504)
        expect(Date.now() - started).toBeLessThan(5000)
      } finally {
        for (const socket of sockets) socket.destroy()
        silent.close()
      }
    })
  })

  describe('when the upstream sends no headers', () => {
    it('returns 504 after timeout', async () => {
      upstream.route('/silent', () => {})
      const started = Date.now()
      const response = await request(appFor(viewFor(upstream.url('/silent'), { timeout: 200 }))).get('/file')
      expect(response.status).toBe(504)
      expect(Date.now() - started).toBeLessThan(5000)
    })
  })

  describe('when the upstream closed a kept-alive connection', () => {
    it('sends the request again on a new connection', async () => {
      // The first connection answers once, then resets when it is reused; later ones answer.
      const sockets = new Set<net.Socket>()
      let connections = 0
      let resets = 0
      const flaky = net.createServer((socket) => {
        sockets.add(socket)
        socket.on('error', () => {})
        const number = ++connections
        let answered = 0
        socket.on('data', () => {
          if (number === 1 && answered === 1) {
            resets++
            socket.resetAndDestroy()
            return
          }
          answered++
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: keep-alive\r\n\r\n123456789')
        })
      })
      flaky.listen(0, '127.0.0.1')
      await once(flaky, 'listening')
      const { port } = flaky.address() as AddressInfo
      try {
        const app = appFor(viewFor(`http://127.0.0.1:${port}/nums.txt`))
        expect((await request(app).get('/file')).status).toBe(200)
        const response = await request(app).get('/file').buffer(true).parse(binaryParser)
        assertDownload(response, { content: NUMS })
        // The second request did go out on the kept-alive connection, and was sent again.
        expect(resets).toBe(1)
        expect(connections).toBe(2)
      } finally {
        for (const socket of sockets) socket.destroy()
        flaky.close()
      }
    })
  })

  describe('when the upstream stalls mid-body', () => {
    beforeEach(() => {
      upstream.route('/stall', (_req, res) => {
        res.writeHead(200, { 'Content-Length': '1000', 'Content-Type': 'application/octet-stream' })
        res.write(Buffer.alloc(10, 1))
      })
    })

    it('cuts the client connection instead of completing a short body', async () => {
      const answer = await rawGet(viewFor(upstream.url('/stall'), { timeout: 200 }))
      expect(answer.status).toBe(200)
      expect(answer.complete).toBe(false)
      expect(answer.body.length).toBeLessThan(1000)
    })

    it('logs the failure once', async () => {
      await rawGet(viewFor(upstream.url('/stall'), { timeout: 200 }))
      await eventually(() => logged.length > 0)
      expect(logged).toEqual(['Download of "stall" failed after the headers were sent'])
    })
  })

  describe('with maxSize', () => {
    beforeEach(() => {
      // A body of unknown length (chunked): 64 chunks of 16 KiB.
      upstream.route('/chunked', async (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
        for (let index = 0; index < 64; index++) {
          if (!res.write(Buffer.alloc(16 * 1024, index)) && !res.destroyed) await once(res, 'drain')
          if (res.destroyed) return
        }
        res.end()
      })
    })

    it('returns 502 before any header when the declared length is larger', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'), { maxSize: 8 }))).get('/file')
      expect(response.status).toBe(502)
    })

    it('returns 502 before any header when the declared length is too large for a number', async () => {
      upstream.route('/huge', (_req, res) => {
        // Node accepts a Content-Length up to 2^64 - 1; JavaScript numbers are exact up to 2^53.
        res.writeHead(200, { 'Content-Length': '18000000000000000000' }).write('123')
      })
      const view = viewFor(upstream.url('/huge'), { maxSize: 8, timeout: 1000 })
      const response = await request(appFor(view)).get('/file')
      expect(response.status).toBe(502)
    })

    it('serves a file of exactly maxSize bytes', async () => {
      const response = await request(appFor(viewFor(upstream.url('/nums.txt'), { maxSize: 9 })))
        .get('/file')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { content: NUMS })
    })

    it('cuts a body of unknown length once it grows past maxSize', async () => {
      const answer = await rawGet(viewFor(upstream.url('/chunked'), { maxSize: 100_000 }))
      expect(answer.status).toBe(200)
      expect(answer.complete).toBe(false)
      expect(answer.body.length).toBeLessThanOrEqual(100_000)
    })
  })

  describe('without maxSize', () => {
    it('serves a body of unknown length whole', async () => {
      upstream.route('/chunked', (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
        for (let index = 0; index < 64; index++) res.write(Buffer.alloc(16 * 1024, index))
        res.end()
      })
      const answer = await rawGet(viewFor(upstream.url('/chunked')))
      expect(answer.complete).toBe(true)
      expect(answer.body.length).toBe(64 * 16 * 1024)
      expect(answer.headers['accept-ranges']).toBe('none')
    })
  })

  describe('with client credentials', () => {
    it('forwards neither Cookie nor Authorization by default', async () => {
      await request(appFor(viewFor(upstream.url('/nums.txt'))))
        .get('/file')
        .set('Cookie', 'session=abc')
        .set('Authorization', 'Bearer user-token')
      const headers = seenAt(upstream, '/nums.txt')[0]?.headers
      expect(headers?.cookie).toBeUndefined()
      expect(headers?.authorization).toBeUndefined()
    })

    it('forwards those listed in forwardHeaders', async () => {
      const view = viewFor(upstream.url('/nums.txt'), { forwardHeaders: ['Cookie', 'Authorization'] })
      await request(appFor(view)).get('/file').set('Cookie', 'session=abc').set('Authorization', 'Bearer t')
      const headers = seenAt(upstream, '/nums.txt')[0]?.headers
      expect(headers?.cookie).toBe('session=abc')
      expect(headers?.authorization).toBe('Bearer t')
    })
  })

  describe('with hop-by-hop request headers', () => {
    it('does not forward a listed header that the client Connection header names', async () => {
      const view = viewFor(upstream.url('/nums.txt'), { forwardHeaders: ['X-Hop', 'X-Tenant'] })
      await request(appFor(view))
        .get('/file')
        .set('Connection', 'close, X-Hop')
        .set('X-Hop', 'one-connection')
        .set('X-Tenant', 'acme')
        .set('TE', 'trailers')
      const headers = seenAt(upstream, '/nums.txt')[0]?.headers
      expect(headers?.['x-hop']).toBeUndefined()
      expect(headers?.te).toBeUndefined()
      expect(headers?.['x-tenant']).toBe('acme')
    })
  })

  describe('with requestHeaders', () => {
    it('sends them upstream', async () => {
      const view = viewFor(upstream.url('/nums.txt'), {
        requestHeaders: { 'User-Agent': 'downloadview-test' },
      })
      await request(appFor(view)).get('/file')
      expect(seenAt(upstream, '/nums.txt')[0]?.headers['user-agent']).toBe('downloadview-test')
    })
  })

  describe('when the upstream encodes the body despite Accept-Encoding: identity', () => {
    const text = Buffer.from('hello gzip world\n'.repeat(200))

    beforeEach(() => {
      upstream.route('/gzip.txt', (_req, res) => {
        const gz = gzipSync(text)
        res
          .writeHead(200, {
            'Content-Type': 'text/plain',
            'Content-Encoding': 'gzip',
            'Content-Length': String(gz.length),
            ETag: '"gz1"',
          })
          .end(gz)
      })
    })

    it('returns the decoded bytes', async () => {
      const response = await request(appFor(viewFor(upstream.url('/gzip.txt'))))
        .get('/file')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { content: text })
      expect(response.headers['content-encoding']).toBeUndefined()
    })

    it('treats the size as unknown: no Content-Length, no ranges', async () => {
      const response = await request(appFor(viewFor(upstream.url('/gzip.txt'))))
        .get('/file')
        .set('Range', 'bytes=0-3')
      expect(response.status).toBe(200)
      expect(response.headers['content-length']).toBeUndefined()
      expect(response.headers['accept-ranges']).toBe('none')
    })

    it('makes the strong ETag weak', async () => {
      const response = await request(appFor(viewFor(upstream.url('/gzip.txt')))).get('/file')
      expect(response.headers.etag).toBe('W/"gz1"')
    })

    it('decodes a chain of codings, the last applied first', async () => {
      upstream.route('/chain.txt', (_req, res) => {
        res
          .writeHead(200, { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip, br' })
          .end(brotliCompressSync(gzipSync(text)))
      })
      const response = await request(appFor(viewFor(upstream.url('/chain.txt'))))
        .get('/file')
        .buffer(true)
        .parse(binaryParser)
      assertDownload(response, { content: text })
    })

    it('returns 502 for more than five codings, before building a decoder for each', async () => {
      upstream.route('/six.txt', (_req, res) => {
        let body = text
        for (let index = 0; index < 6; index++) body = gzipSync(body)
        res
          .writeHead(200, {
            'Content-Type': 'text/plain',
            'Content-Encoding': Array(6).fill('gzip').join(', '),
          })
          .end(body)
      })
      expect((await request(appFor(viewFor(upstream.url('/six.txt')))).get('/file')).status).toBe(502)
    })

    it('frees the upstream connection when the decoded body ends before the response', async () => {
      // Zero padding after a gzip member ends the decoder; the upstream then stalls, unfinished.
      upstream.route('/padded.txt', (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip' })
        res.write(Buffer.concat([gzipSync(text), Buffer.alloc(16)]))
      })
      const answer = await rawGet(viewFor(upstream.url('/padded.txt')))
      expect(answer.complete).toBe(true)
      expect(answer.body.equals(text)).toBe(true)
      await eventually(() => upstream.open === 0)
    })
  })

  describe('file name', () => {
    it('comes from the upstream Content-Disposition', async () => {
      upstream.route(
        '/dl',
        fileRoute({
          body: NUMS,
          headers: { 'Content-Disposition': `attachment; filename*=UTF-8''na%C3%AFve.txt` },
        }),
      )
      const response = await request(appFor(viewFor(upstream.url('/dl')))).get('/file')
      assertDownload(response, { basename: 'naïve.txt' })
    })

    it('comes from the decoded URL path otherwise', async () => {
      upstream.route('/caf%C3%A9.txt', fileRoute({ body: NUMS }))
      const response = await request(appFor(viewFor(upstream.url('/caf%C3%A9.txt')))).get('/file')
      assertDownload(response, { basename: 'café.txt' })
    })

    it('is the basename option when set', async () => {
      const response = await request(
        appFor(viewFor(upstream.url('/nums.txt'), { basename: 'report.txt' })),
      ).get('/file')
      assertDownload(response, { basename: 'report.txt' })
    })

    it('is "download" when the URL has no name', async () => {
      upstream.route('/', fileRoute({ body: NUMS }))
      const response = await request(appFor(viewFor(upstream.url('/')))).get('/file')
      assertDownload(response, { basename: 'download' })
    })
  })

  describe('with a large body', () => {
    it('streams it: the client gets bytes before the upstream has sent them all', async () => {
      const chunk = 64 * 1024
      const chunks = 512 // 32 MiB
      const pattern = (index: number) => Buffer.alloc(chunk, index % 251)
      const expected = createHash('sha256')
      for (let index = 0; index < chunks; index++) expected.update(pattern(index))
      let openGate: () => void = () => {}
      let fallback: NodeJS.Timeout | undefined
      const gate = new Promise<void>((resolve) => {
        openGate = resolve
        // Never hang: a proxy that buffers fails the ordering check below instead.
        fallback = setTimeout(resolve, 10_000)
      })
      let upstreamFinishedAt = Number.POSITIVE_INFINITY
      upstream.route('/big.bin', async (_req, res) => {
        res.writeHead(200, {
          'Content-Type': 'application/octet-stream',
          'Content-Length': String(chunk * chunks),
        })
        for (let index = 0; index < chunks; index++) {
          // The last 31 MiB wait until the client has received its first byte.
          if (index === 16) await gate
          if (!res.write(pattern(index))) await once(res, 'drain')
        }
        res.end()
        upstreamFinishedAt = performance.now()
      })
      const answer = await rawGet(viewFor(upstream.url('/big.bin')), {
        onFirstByte: () => openGate(),
      }).finally(() => clearTimeout(fallback))
      expect(answer.complete).toBe(true)
      expect(answer.body.length).toBe(chunk * chunks)
      expect(createHash('sha256').update(answer.body).digest('hex')).toBe(expected.digest('hex'))
      expect(answer.firstByteAt).toBeLessThan(upstreamFinishedAt)
    })
  })

  describe('after aborted downloads, HEAD requests and 304s', () => {
    it('leaves no upstream response open and no socket in use', async () => {
      const big = Buffer.alloc(16 * 1024 * 1024, 7)
      upstream.route('/big.bin', fileRoute({ body: big }))
      upstream.route('/big-unconditional.bin', fileRoute({ body: big, conditionals: false }))
      const agent = new http.Agent({ keepAlive: true })
      const viewOf = (path: string) => viewFor(upstream.url(path), { agent: { http: agent } })
      const bigView = viewOf('/big.bin')
      const unconditional = viewOf('/big-unconditional.bin')
      const server = http.createServer((req, res) => {
        const view = req.url === '/unconditional' ? unconditional : bigView
        serve(view, req, res).catch(() => res.destroy())
      })
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      const { port } = server.address() as AddressInfo
      const abortAfterFirstByte = () =>
        new Promise<void>((resolve) => {
          const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
            res.once('data', () => {
              req.destroy()
              resolve()
            })
          })
          req.on('error', () => {})
        })
      try {
        await Promise.all(Array.from({ length: 5 }, abortAfterFirstByte))
        for (let index = 0; index < 5; index++) {
          expect((await request(server).head('/')).status).toBe(200)
          expect((await request(server).get('/').set('If-None-Match', ETAG)).status).toBe(304)
          expect((await request(server).get('/unconditional').set('If-None-Match', ETAG)).status).toBe(304)
        }
        await eventually(() => upstream.open === 0)
        await eventually(() => Object.values(agent.sockets).flat().length === 0)
        expect(upstream.seen).toHaveLength(20)
      } finally {
        server.closeAllConnections()
        server.close()
        agent.destroy()
      }
    })
  })
})
