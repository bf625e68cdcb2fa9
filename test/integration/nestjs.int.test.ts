/**
 * The NestJS adapter on Nest's Express and Fastify platforms, each on a real server: the adapter
 * contract (a test controller that answers with `downloads.respond()`), then the example app of
 * example/nestjs (its guard, its interceptor, Nest's JSON for the library's 404).
 */
import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import {
  All,
  Controller,
  type DynamicModule,
  type INestApplication,
  Inject,
  Module,
  Req,
  Res,
} from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { DataSource } from 'typeorm'
import { Document } from '../../entities/Document'
import { AppModule } from '../../example/nestjs/app.module'
import { attachFile } from '../../src'
import { DownloadModule, Downloads, type PlatformRequest } from '../../src/nestjs'
import {
  type ContractServer,
  type ContractViews,
  describeAdapterContract,
} from '../contract/adapter.contract'
import { createTestDataSource } from '../helpers/database'
import { exchange } from '../helpers/http-client'
import { temporaryStorage } from '../helpers/storage'

type Platform = 'express' | 'fastify'
const PLATFORMS: Platform[] = ['express', 'fastify']

/** A Nest app of `module` on `platform`, quiet. */
function createApp(module: DynamicModule, platform: Platform): Promise<INestApplication> {
  const adapter = platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter()
  return NestFactory.create(module, adapter, { logger: false })
}

/** Listens on a free loopback port; `close()` cuts the open connections and closes the app. */
async function listen(app: INestApplication): Promise<ContractServer> {
  await app.listen(0, '127.0.0.1')
  const server = app.getHttpServer() as Server
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections()
      await app.close()
    },
  }
}

const VIEWS = Symbol('ContractViews')

/** The contract's routes, each answered with `downloads.respond()`; `@All` so other methods get 405. */
@Controller()
class ContractController {
  constructor(
    @Inject(Downloads) private readonly downloads: Downloads,
    @Inject(VIEWS) private readonly views: ContractViews,
  ) {}

  @All('documents/:slug')
  documents(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.documents, req, res)
  }

  @All('signed/:slug')
  signed(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.signed, req, res)
  }

  @All('failing/:name')
  failing(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.views.failing, req, res)
  }
}

@Module({})
class ContractModule {}

for (const platform of PLATFORMS) {
  describeAdapterContract(`NestJS (${platform})`, async (views) => {
    const module: DynamicModule = {
      module: ContractModule,
      // The contract registers its own storage: the module registers none.
      imports: [DownloadModule.forRoot()],
      controllers: [ContractController],
      providers: [{ provide: VIEWS, useValue: views }],
    }
    return listen(await createApp(module, platform))
  })
}

describe.each(PLATFORMS)('the NestJS example app on %s', (platform) => {
  const API_KEY = 'an-api-key-for-the-tests'
  let dataSource: DataSource
  let removeMedia: () => Promise<void>
  let server: ContractServer

  const get = (url: string, headers: Record<string, string> = {}, method = 'GET') =>
    exchange({ port: server.port, path: url, method, headers })
  const withKey = (headers: Record<string, string> = {}) => ({ 'X-Api-Key': API_KEY, ...headers })

  beforeAll(async () => {
    // The test's DataSource makes (and, destroyed, drops) a fresh database; the app connects to it.
    dataSource = await createTestDataSource()
    const media = await temporaryStorage()
    removeMedia = media.remove
    const databaseUrl = (dataSource.options as { url?: string }).url as string
    const app = await createApp(
      AppModule.forRoot({ databaseUrl, mediaRoot: media.root, apiKey: API_KEY }),
      platform,
    )
    await app.init()
    // Attached through the app: its DataSource, and the storage DownloadModule registered.
    const documents = app.get(DataSource).getRepository(Document)
    const hello = documents.create({ slug: 'hello' })
    await attachFile(hello, 'file', Buffer.from('Hello from NestJS!\n'), { name: 'hello.txt' })
    await documents.save(hello)
    server = await listen(app)
  })

  afterAll(async () => {
    await server?.close()
    await dataSource?.destroy()
    await removeMedia?.()
  })

  it('serves the file to a client with the API key, with the interceptor header', async () => {
    const response = await get('/documents/hello/download', withKey())
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('Hello from NestJS!\n')
    expect(response.headers).toMatchObject({
      'content-type': 'text/plain; charset=utf-8',
      'content-length': '19',
      'content-disposition': 'attachment; filename=hello.txt',
      'accept-ranges': 'bytes',
    })
    expect(response.headers['server-timing']).toMatch(/^app;dur=\d+(\.\d+)?$/)
  })

  it('refuses a client without the key with the guard: 403, Nest JSON, no file header', async () => {
    const response = await get('/documents/hello/download')
    expect(response.status).toBe(403)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    expect(JSON.parse(response.body.toString())).toEqual({
      statusCode: 403,
      message: 'Forbidden resource',
      error: 'Forbidden',
    })
    expect(response.headers['content-disposition']).toBeUndefined()
  })

  it("formats the library's 404 with Nest's exception filter: JSON, no file header", async () => {
    const response = await get('/documents/missing/download', withKey())
    expect(response.status).toBe(404)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    expect(JSON.parse(response.body.toString())).toEqual({ statusCode: 404, message: 'Not Found' })
    expect(response.headers['content-disposition']).toBeUndefined()
    expect(response.headers['server-timing']).toBeUndefined()
  })

  it('answers HEAD with GET’s headers and no body, also on the GET route', async () => {
    const response = await get('/documents/hello/download', withKey(), 'HEAD')
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('19')
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(response.body.length).toBe(0)
  })

  it('answers If-None-Match with 304 and a Range with 206, through the interceptor', async () => {
    const { etag } = (await get('/documents/hello/download', withKey(), 'HEAD')).headers
    const notModified = await get('/documents/hello/download', withKey({ 'If-None-Match': etag as string }))
    expect(notModified.status).toBe(304)
    expect(notModified.body.length).toBe(0)
    expect(notModified.headers.etag).toBe(etag)
    expect(notModified.headers['content-type']).toBeUndefined()
    const partial = await get('/documents/hello/download', withKey({ Range: 'bytes=0-4' }))
    expect(partial.status).toBe(206)
    expect(partial.headers['content-range']).toBe('bytes 0-4/19')
    expect(partial.body.toString()).toBe('Hello')
    expect(partial.headers['server-timing']).toBeDefined()
  })
})

describe('the README section on NestJS', () => {
  it('shows the controller of example/nestjs as it is there', () => {
    const root = path.join(__dirname, '..', '..')
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('\n### NestJS\n'))
    const snippet = /^```ts\n([\s\S]*?)^```$/m.exec(section)?.[1]
    expect(snippet).toBeDefined()
    const controller = readFileSync(path.join(root, 'example/nestjs/documents.controller.ts'), 'utf8')
    // The imports differ (the package's names there, the repository's paths here): the code does not.
    const code = (snippet ?? '').replace(/^import [\s\S]*? from '[^']+'\n/gm, '').trim()
    expect(code).toContain('downloads.respond(this.file, req, res)')
    expect(controller).toContain(code)
  })
})
