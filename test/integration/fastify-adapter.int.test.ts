/**
 * The Fastify adapter (`typeorm-downloadview/fastify`) beyond the shared contract
 * (fastify.int.test.ts), on a real Fastify 5 server over loopback: the app's hooks and error
 * handler run for downloads, HEAD through Fastify's exposeHeadRoutes keeps GET's length,
 * `reply.download()`, a source that breaks its length, and a client that stops reading.
 */
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import {
  type DownloadFile,
  DownloadView,
  FileNotFoundError,
  ServiceUnavailableError,
  StorageDownloadView,
  signUrl,
  VirtualDownloadView,
} from '../../src'
import { DownloadHttpError, downloadRoute, fastifyDownloads } from '../../src/fastify'
import type { Logger } from '../../src/logger'
import type { LocalStorage } from '../../src/storage/local-storage'
import { exchange, exchangeOrHangUp, openSlowReader } from '../helpers/http-client'
import { descriptorsOn, settle } from '../helpers/process-stats'
import { temporaryStorage } from '../helpers/storage'

const KEY = { id: 'fastify', secret: 'a-secret-for-the-fastify-adapter-tests-0123456789' }
const MiB = 1024 * 1024

/** A logger that keeps what it is told. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    error: (message) => lines.push(`error: ${message}`),
    warn: (message) => lines.push(`warn: ${message}`),
  }
}

/** A view whose lookup fails with `failure`. */
class FailingView extends DownloadView {
  constructor(private readonly failure: Error) {
    super({})
  }

  override async getFile(): Promise<DownloadFile> {
    throw this.failure
  }
}

let storage: LocalStorage
let root: string
let removeMedia: () => Promise<void>

beforeAll(async () => {
  const media = await temporaryStorage()
  storage = media.storage
  root = media.root
  removeMedia = media.remove
  await storage.save('nums.txt', '123456789')
  await storage.save('sub/dir/nested.txt', 'nested')
  await storage.save('big.bin', Buffer.alloc(32 * MiB, 7))
})

afterAll(async () => {
  await removeMedia()
})

/** A Fastify app, set up by `build`, listening on a free loopback port. */
async function started(build: (app: FastifyInstance) => void | Promise<void>) {
  const app = Fastify()
  await build(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  return {
    app,
    get: (target: string, headers: Record<string, string> = {}, method = 'GET') =>
      exchange({ port, path: target, method, headers }),
    port,
    close: async () => {
      app.server.closeAllConnections()
      await app.close()
    },
  }
}

type Started = Awaited<ReturnType<typeof started>>

describe('downloadRoute() with the app’s hooks', () => {
  let server: Started
  const seen: string[] = []

  beforeAll(async () => {
    server = await started((app) => {
      app.addHook('onRequest', async () => {
        seen.push('onRequest')
      })
      app.addHook('preHandler', async (request, reply) => {
        seen.push('preHandler')
        if (request.headers.authorization !== 'Bearer ok') await reply.code(401).send({ status: 401 })
      })
      app.addHook('onSend', async (_request, reply, payload) => {
        seen.push(
          `onSend ${payload && typeof payload === 'object' && 'pipe' in payload ? 'stream' : 'bytes'}`,
        )
        reply.header('X-Served-By', 'fastify')
        return payload
      })
      app.addHook('onResponse', async (_request, reply) => {
        seen.push(`onResponse ${reply.statusCode}`)
      })
      app.all('/files/:path', downloadRoute(new StorageDownloadView({ storage })))
    })
  })

  afterAll(() => server.close())

  beforeEach(() => {
    seen.length = 0
  })

  it('runs onRequest, preHandler, onSend and onResponse for a download', async () => {
    const response = await server.get('/files/nums.txt', { Authorization: 'Bearer ok' })
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('123456789')
    expect(response.headers['x-served-by']).toBe('fastify')
    expect(response.headers['content-length']).toBe('9')
    await settle(
      () => seen.length,
      (count) => count === 4,
    )
    expect(seen).toEqual(['onRequest', 'preHandler', 'onSend bytes', 'onResponse 200'])
  })

  it('hands onSend a stream for a large file', async () => {
    const response = await server.get('/files/big.bin', { Authorization: 'Bearer ok' })
    expect(response.status).toBe(200)
    expect(response.body.length).toBe(32 * MiB)
    expect(seen).toContain('onSend stream')
  })

  it('lets a preHandler refuse the request before the view looks the file up', async () => {
    const response = await server.get('/files/missing.txt')
    expect(response.status).toBe(401)
    expect(JSON.parse(response.body.toString())).toEqual({ status: 401 })
  })
})

describe('downloadRoute() errors', () => {
  describe("with Fastify's default error handler", () => {
    let server: Started
    beforeAll(async () => {
      server = await started((app) => {
        app.all('/files/:path', downloadRoute(new StorageDownloadView({ storage })))
        app.all('/unavailable', downloadRoute(new FailingView(new ServiceUnavailableError('db down'))))
        app.all('/bug', downloadRoute(new FailingView(new Error('a bug at /srv/secret/path'))))
      })
    })
    afterAll(() => server.close())

    it('answers a missing file with a JSON 404 that names no path', async () => {
      const response = await server.get('/files/missing.txt')
      expect(response.status).toBe(404)
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(response.headers['cache-control']).toBe('no-store')
      expect(JSON.parse(response.body.toString())).toEqual({
        statusCode: 404,
        error: 'Not Found',
        message: 'Not Found',
      })
    })

    it('answers 503 with Retry-After', async () => {
      const response = await server.get('/unavailable')
      expect(response.status).toBe(503)
      expect(response.headers['retry-after']).toBe('5')
    })

    it('lets Fastify answer an unexpected error with 500', async () => {
      const response = await server.get('/bug')
      expect(response.status).toBe(500)
    })
  })

  describe('with a custom setErrorHandler', () => {
    let server: Started
    const handled: unknown[] = []
    const bug = new Error('a bug')
    const signedLog = recordingLogger()
    beforeAll(async () => {
      server = await started((app) => {
        app.setErrorHandler((error, _request, reply) => {
          handled.push(error)
          const status = error instanceof DownloadHttpError ? error.statusCode : 500
          return reply.code(status).send({ status, problem: error instanceof DownloadHttpError })
        })
        app.all('/files/:path', downloadRoute(new StorageDownloadView({ storage })))
        app.all('/unavailable', downloadRoute(new FailingView(new ServiceUnavailableError('db down'))))
        app.all('/bug', downloadRoute(new FailingView(bug)))
        app.all(
          '/signed/:path',
          downloadRoute(new StorageDownloadView({ storage, signature: { keys: [KEY] }, logger: signedLog })),
        )
      })
    })
    afterAll(() => server.close())
    beforeEach(() => {
      handled.length = 0
    })

    it('formats a 404 from the view, with the library error as the cause', async () => {
      const response = await server.get('/files/missing.txt')
      expect(response.status).toBe(404)
      expect(JSON.parse(response.body.toString())).toEqual({ status: 404, problem: true })
      const [error] = handled
      expect(error).toBeInstanceOf(DownloadHttpError)
      expect((error as DownloadHttpError).cause).toBeInstanceOf(FileNotFoundError)
      expect((error as DownloadHttpError).message).toBe('Not Found')
    })

    it('keeps Retry-After on a 503', async () => {
      const response = await server.get('/unavailable')
      expect(response.status).toBe(503)
      expect(response.headers['retry-after']).toBe('5')
      expect(JSON.parse(response.body.toString())).toEqual({ status: 503, problem: true })
    })

    it('hands it an unexpected error as it is', async () => {
      const response = await server.get('/bug')
      expect(response.status).toBe(500)
      expect(handled).toEqual([bug])
    })

    it("logs a refused signature with the view's logger, and answers 403", async () => {
      signedLog.lines.length = 0
      const response = await server.get('/signed/nums.txt')
      expect(response.status).toBe(403)
      expect(signedLog.lines).toHaveLength(1)
      expect(signedLog.lines[0]).toMatch(/^warn: /)
      const signed = await server.get(signUrl('/signed/nums.txt', { key: KEY, expiresIn: 60 }))
      expect(signed.body.toString()).toBe('123456789')
    })
  })
})

describe("HEAD through Fastify's exposeHeadRoutes (app.get)", () => {
  let server: Started
  beforeAll(async () => {
    server = await started((app) => {
      app.get('/files/:path', downloadRoute(new StorageDownloadView({ storage })))
      app.get(
        '/generated',
        downloadRoute(
          new VirtualDownloadView({
            name: 'rows.csv',
            content: async function* () {
              yield 'a,b\n'
            },
          }),
        ),
      )
    })
  })
  afterAll(() => server.close())

  it("answers HEAD with GET's Content-Length and no body", async () => {
    const response = await server.get('/files/big.bin', {}, 'HEAD')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe(String(32 * MiB))
    expect(response.headers['accept-ranges']).toBe('bytes')
    expect(response.body.length).toBe(0)
  })

  it('answers HEAD of content of unknown size without a Content-Length', async () => {
    const response = await server.get('/generated', {}, 'HEAD')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBeUndefined()
    expect(response.body.length).toBe(0)
    const get = await server.get('/generated')
    expect(get.body.toString()).toBe('a,b\n')
  })

  it('answers a conditional HEAD with 304', async () => {
    const etag = (await server.get('/files/nums.txt', {}, 'HEAD')).headers.etag as string
    const response = await server.get('/files/nums.txt', { 'If-None-Match': etag }, 'HEAD')
    expect(response.status).toBe(304)
    expect(response.headers['content-length']).toBeUndefined()
  })

  it('leaves other methods to Fastify (404), unlike app.all()', async () => {
    expect((await server.get('/files/nums.txt', {}, 'POST')).status).toBe(404)
  })
})

describe("a wildcard route (Fastify's `*` parameter)", () => {
  let server: Started
  beforeAll(async () => {
    server = await started((app) => {
      app.all('/media/*', downloadRoute(new StorageDownloadView({ storage, param: '*' })))
    })
  })
  afterAll(() => server.close())

  it('serves the key under the wildcard, and refuses one that leaves the storage', async () => {
    const response = await server.get('/media/sub/dir/nested.txt')
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('nested')
    expect((await server.get('/media/sub/%2e%2e/%2e%2e/%2e%2e/etc/passwd')).status).toBe(404)
  })
})

describe('reply.download() (the fastifyDownloads plugin)', () => {
  let server: Started
  beforeAll(async () => {
    const files = new StorageDownloadView({ storage })
    server = await started(async (app) => {
      await app.register(fastifyDownloads)
      app.get('/latest', (_request, reply) => reply.download(files, { path: 'nums.txt' }))
      app.get('/files/:path', async (_request, reply) => reply.download(files))
    })
  })
  afterAll(() => server.close())

  it('serves a view with the parameters the handler gives', async () => {
    const response = await server.get('/latest', { Range: 'bytes=2-5' })
    expect(response.status).toBe(206)
    expect(response.body.toString()).toBe('3456')
  })

  it("takes the route's parameters by default, and its errors reach the error handler", async () => {
    expect((await server.get('/files/nums.txt')).body.toString()).toBe('123456789')
    expect((await server.get('/files/missing.txt')).status).toBe(404)
  })
})

describe('a download that cannot be completed', () => {
  let server: Started
  const logger = recordingLogger()
  beforeAll(async () => {
    server = await started((app) => {
      app.get(
        '/short',
        downloadRoute(
          new VirtualDownloadView({
            name: 'short.bin',
            size: 10 * MiB,
            content: async function* () {
              yield Buffer.alloc(MiB)
            },
            logger,
          }),
        ),
      )
      app.get('/slow/:path', downloadRoute(new StorageDownloadView({ storage, idleTimeout: 300, logger })))
    })
  })
  afterAll(() => server.close())
  beforeEach(() => {
    logger.lines.length = 0
  })

  it('cuts a source shorter than its Content-Length, never a complete short body, and logs it', async () => {
    const response = await exchangeOrHangUp({ port: server.port, path: '/short' })
    if ('status' in response) {
      expect(response.status).toBe(200)
      expect(response.complete).toBe(false)
    }
    expect(logger.lines).toEqual([expect.stringMatching(/^error: Download of "short.bin" failed/)])
  })

  it('cuts a client that stops reading after idleTimeout, and closes the file', async () => {
    const file = path.join(root, 'big.bin')
    const reader = await openSlowReader({ port: server.port, path: '/slow/big.bin' })
    expect(reader.status).toBe(200)
    expect(descriptorsOn(file)).toBe(1)
    const open = await settle(
      () => descriptorsOn(file),
      (count) => count === 0,
    )
    reader.destroy()
    expect(open).toBe(0)
    expect(logger.lines).toEqual([expect.stringMatching(/^warn: Cut a download whose client took no byte/)])
  })
})
