/**
 * The NestJS adapter where Nest meets the library, on Nest's Express and Fastify platforms: an app
 * exception filter formats the library's 404, 503 keeps Retry-After, an unexpected error is Nest's
 * 500, a source that fails cuts the connection, an interceptor that replaces the file leaves no
 * file open, storages come and go with the app (forRootAsync), objectView() needs a DataSource.
 */
import { Agent, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import {
  All,
  type ArgumentsHost,
  type CallHandler,
  Catch,
  Controller,
  type DynamicModule,
  type ExceptionFilter,
  type ExecutionContext,
  Get,
  type INestApplication,
  Inject,
  Injectable,
  Module,
  type NestInterceptor,
  NotFoundException,
  Req,
  Res,
  UseInterceptors,
} from '@nestjs/common'
import { HttpAdapterHost, NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { map, type Observable } from 'rxjs'
import { Document } from '../../entities/Document'
import {
  ConfigurationError,
  type DownloadFile,
  DownloadView,
  FileNotFoundError,
  MemoryStorage,
  ServiceUnavailableError,
  StorageDownloadView,
  storages,
} from '../../src'
import { DownloadModule, Downloads, type PlatformRequest } from '../../src/nestjs'
import type { ByteRange } from '../../src/storage/storage'
import { FaultyStorage } from '../helpers/fault-storage'
import { exchange, exchangeOrHangUp, openSlowReader } from '../helpers/http-client'
import { settle } from '../helpers/process-stats'

type Platform = 'express' | 'fastify'

const quiet = { error: () => undefined, warn: () => undefined }
/** What the idle view logged. */
const idleLines: string[] = []
const idleLogger = {
  error: (message: string) => idleLines.push(message),
  warn: (message: string) => idleLines.push(message),
}

/** A view whose lookup throws `error`. */
class ThrowingView extends DownloadView {
  constructor(private readonly error: Error) {
    super({ logger: quiet })
  }

  async getFile(): Promise<DownloadFile> {
    throw this.error
  }
}

/** A MemoryStorage that keeps every stream it opened, to see that each was closed. */
class TrackingStorage extends MemoryStorage {
  readonly opened: Readable[] = []

  override async open(key: string, range?: ByteRange): Promise<Readable> {
    const stream = await super.open(key, range)
    this.opened.push(stream)
    return stream
  }
}

/** A storage whose files turned shorter since their size was taken: 5 bytes, whatever the size said. */
class TruncatedStorage extends MemoryStorage {
  override async open(): Promise<Readable> {
    return Readable.from([Buffer.from('12345')], { objectMode: false })
  }
}

/** Answers 404s of the library the app's way: problem+json, with the route that missed. */
@Catch(NotFoundException)
class ProblemFilter implements ExceptionFilter {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: NotFoundException, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost
    const response = host.switchToHttp().getResponse<object>()
    const library = exception.cause instanceof FileNotFoundError
    httpAdapter.setHeader(response, 'Content-Type', 'application/problem+json')
    const problem = { type: 'about:blank', title: library ? 'No such file' : 'Not Found', status: 404 }
    // A string: Nest's reply() gives an object error body JSON's Content-Type.
    httpAdapter.reply(response, JSON.stringify(problem), 404)
  }
}

/** Replaces whatever the handler returned: the file it opened is never sent. */
@Injectable()
class ReplacingInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map(() => 'replaced'))
  }
}

const MEDIA = Symbol('media')
const VIEWS = Symbol('views')

interface Views {
  media: DownloadView
  missing: DownloadView
  busy: DownloadView
  broken: DownloadView
  failing: DownloadView
  truncated: DownloadView
  slow: DownloadView
}

@Controller()
class ErrorsController {
  constructor(
    @Inject(Downloads) private readonly downloads: Downloads,
    @Inject(VIEWS) private readonly views: Views,
  ) {}

  @All('media/:path')
  media(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.media, req, res)
  }

  @Get('on-get/:path')
  onGet(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.media, req, res)
  }

  @All('missing')
  missing(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.missing, req, res)
  }

  @All('busy')
  busy(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.busy, req, res)
  }

  @All('broken')
  broken(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.broken, req, res)
  }

  @All('failing/:path')
  failing(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.failing, req, res)
  }

  @All('truncated/:path')
  truncated(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.truncated, req, res)
  }

  @All('slow/:path')
  slow(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.slow, req, res)
  }

  @All('replaced/:path')
  @UseInterceptors(ReplacingInterceptor)
  replaced(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.media, req, res)
  }
}

@Module({})
class ErrorsModule {}

/** An app on `platform` whose `media` storage is registered by DownloadModule.forRootAsync(). */
async function start(
  platform: Platform,
  media: TrackingStorage,
): Promise<{ port: number; app: INestApplication }> {
  const faulty = new FaultyStorage(media)
  faulty.failAfter = 0
  const truncated = new TruncatedStorage()
  await truncated.save('nums.txt', '123456789')
  const module: DynamicModule = {
    module: ErrorsModule,
    imports: [
      DownloadModule.forRootAsync({
        inject: [MEDIA],
        useFactory: async (storage: TrackingStorage) => ({ storages: { media: storage } }),
        imports: [
          {
            module: class MediaModule {},
            providers: [{ provide: MEDIA, useValue: media }],
            exports: [MEDIA],
          },
        ],
      }),
    ],
    controllers: [ErrorsController],
    providers: [
      {
        provide: VIEWS,
        // Built when the module is: the storage is registered by then.
        useFactory: (): Views => ({
          media: new StorageDownloadView({ storage: storages.get('media'), logger: quiet }),
          missing: new ThrowingView(new FileNotFoundError('No row "x" in the test')),
          busy: new ThrowingView(new ServiceUnavailableError('The test database is away')),
          broken: new ThrowingView(new TypeError('A bug')),
          failing: new StorageDownloadView({ storage: faulty, logger: quiet }),
          truncated: new StorageDownloadView({ storage: truncated, logger: quiet }),
          slow: new StorageDownloadView({
            storage: storages.get('media'),
            idleTimeout: 300,
            logger: idleLogger,
          }),
        }),
        inject: [Downloads],
      },
    ],
  }
  const adapter = platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter()
  const app = await NestFactory.create(module, adapter, { logger: false })
  app.useGlobalFilters(new ProblemFilter(app.get(HttpAdapterHost)))
  await app.listen(0, '127.0.0.1')
  return { port: ((app.getHttpServer() as Server).address() as AddressInfo).port, app }
}

describe.each<Platform>(['express', 'fastify'])('the NestJS adapter with Nest features on %s', (platform) => {
  let media: TrackingStorage
  let app: INestApplication
  let port: number

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    exchange({ port, path, method, headers })

  beforeAll(async () => {
    media = new TrackingStorage({ name: 'media' })
    await media.save('nums.txt', '123456789')
    await media.save('big.bin', Buffer.alloc(32 * 1024 * 1024, 7))
    ;({ app, port } = await start(platform, media))
  })

  afterAll(async () => {
    ;(app?.getHttpServer() as Server | undefined)?.closeAllConnections()
    await app?.close()
  })

  it('cuts a client that stops reading after idleTimeout: its connection is closed by the server', async () => {
    idleLines.length = 0
    const server = app.getHttpServer() as Server
    const connections = () =>
      new Promise<number>((resolve, reject) =>
        server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      )
    const reader = await openSlowReader({ port, path: '/slow/big.bin' })
    try {
      expect(reader.status).toBe(200)
      expect(await connections()).toBe(1)
      // The client is still there, reading nothing: the server cuts it after idleTimeout.
      expect(await settle(connections, (count) => count === 0, { timeoutMs: 10_000 })).toBe(0)
      expect(idleLines).toEqual([
        expect.stringMatching(/^Cut a download whose client took no byte for 300 ms/),
      ])
    } finally {
      reader.socket.destroy()
    }
  })

  it('registers the storages of forRootAsync() while the app runs', async () => {
    expect(storages.tryGet('media')).toBe(media)
    const response = await get('/media/nums.txt')
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('123456789')
  })

  it("lets the app's exception filter format the library's 404", async () => {
    for (const path of ['/missing', '/media/nothing-here.txt']) {
      const response = await get(path)
      expect(response.status).toBe(404)
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(JSON.parse(response.body.toString())).toEqual({
        type: 'about:blank',
        title: 'No such file',
        status: 404,
      })
    }
  })

  it('answers a database that is away with 503, Retry-After and Nest JSON', async () => {
    const response = await get('/busy')
    expect(response.status).toBe(503)
    expect(response.headers['retry-after']).toBe('5')
    expect(JSON.parse(response.body.toString())).toEqual({ statusCode: 503, message: 'Service Unavailable' })
  })

  it("leaves an unexpected error to Nest: its 500, nothing of the error's message", async () => {
    const response = await get('/broken')
    expect(response.status).toBe(500)
    expect(JSON.parse(response.body.toString())).toEqual({
      statusCode: 500,
      message: 'Internal server error',
    })
  })

  it('cuts the connection when the source fails before its first byte', async () => {
    const response = await exchangeOrHangUp({ port, path: '/failing/nums.txt' })
    if ('hungUp' in response) expect(response.hungUp).toBe(true)
    else {
      expect(response.complete).toBe(false)
      expect(response.body.length).toBeLessThan(9)
    }
    // And the server goes on.
    expect((await get('/media/nums.txt')).status).toBe(200)
  })

  it('cuts the connection when the file gives fewer bytes than its Content-Length', async () => {
    // On a kept-alive connection, where a short body that ends normally would leave the client waiting.
    const agent = new Agent({ keepAlive: true })
    try {
      const target = { port, path: '/truncated/nums.txt', agent }
      const response = await exchangeOrHangUp(target, { timeoutMs: 3000 })
      if ('hungUp' in response) expect(response.hungUp).toBe(true)
      else {
        expect(response.headers['content-length']).toBe('9')
        expect(response.complete).toBe(false)
      }
    } finally {
      agent.destroy()
    }
  })

  it('closes the file an interceptor replaced, and sends what it returned', async () => {
    const before = media.opened.length
    const response = await get('/replaced/nums.txt')
    expect(response.body.toString()).toBe('replaced')
    expect(media.opened.length).toBe(before + 1)
    const closed = await settle(
      () => media.opened.every((stream) => stream.destroyed),
      (all) => all,
    )
    expect(closed).toBe(true)
  })

  it.each(['/on-get/nums.txt', '/media/nums.txt'])(
    'answers HEAD on %s (@Get and @All) with the length of GET, and 304 with no length or type',
    async (path) => {
      const head = await get(path, {}, 'HEAD')
      expect(head.status).toBe(200)
      expect(head.headers['content-length']).toBe('9')
      expect(head.body.length).toBe(0)
      for (const method of ['HEAD', 'GET']) {
        const notModified = await get(path, { 'If-None-Match': head.headers.etag as string }, method)
        expect(notModified.status).toBe(304)
        expect(notModified.headers['content-length']).toBeUndefined()
        expect(notModified.headers['content-type']).toBeUndefined()
        expect(notModified.headers.etag).toBe(head.headers.etag)
      }
    },
  )
})

describe('DownloadModule and Downloads', () => {
  it('forgets the storages it registered when the app closes', async () => {
    const storage = new MemoryStorage({ name: 'short-lived' })
    const app = await NestFactory.create(
      { module: ErrorsModule, imports: [DownloadModule.forRoot({ storages: { 'short-lived': storage } })] },
      new ExpressAdapter(),
      { logger: false },
    )
    await app.init()
    expect(storages.tryGet('short-lived')).toBe(storage)
    await app.close()
    expect(storages.tryGet('short-lived')).toBeUndefined()
  })

  it('refuses objectView() without a DataSource, naming the way out', async () => {
    const app = await NestFactory.create(
      { module: ErrorsModule, imports: [DownloadModule.forRoot()] },
      new ExpressAdapter(),
      { logger: false },
    )
    await app.init()
    try {
      const downloads = app.get(Downloads)
      expect(() => downloads.objectView(Document, { lookup: 'slug', file: 'file' })).toThrow(
        ConfigurationError,
      )
      expect(() => downloads.objectView(Document, { lookup: 'slug', file: 'file' })).toThrow(
        /TypeOrmModule\.forRoot\(\).*"dataSource"/,
      )
    } finally {
      await app.close()
    }
  })

  it('refuses storages that are not an object of storages', async () => {
    await expect(
      NestFactory.create(
        { module: ErrorsModule, imports: [DownloadModule.forRoot({ storages: [] as never })] },
        new ExpressAdapter(),
        { logger: false, abortOnError: false },
      ),
    ).rejects.toThrow(/option "storages"/)
  })
})
