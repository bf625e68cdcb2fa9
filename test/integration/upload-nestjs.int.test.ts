/**
 * Uploads into a file column through the NestJS adapter (the Uploads service of DownloadModule), on
 * Nest's Express and Fastify platforms, each on a real server: the upload contract, and refusals
 * as Nest's exceptions (JSON from its filter).
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { All, Controller, type DynamicModule, HttpCode, Inject, Module, Post, Req, Res } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { Document } from '../../entities/Document'
import { MemoryStorage, storages, VirtualDownloadView } from '../../src'
import { DownloadModule, Downloads, type PlatformRequest, Uploads } from '../../src/nestjs'
import type { ContractServer } from '../contract/adapter.contract'
import { describeUploadContract, type UploadContext } from '../contract/upload.contract'
import { postForm } from '../helpers/multipart-client'

type Platform = 'express' | 'fastify'
const PLATFORMS: Platform[] = ['express', 'fastify']

const CONTEXT = Symbol('UploadContext')

/** The contract's routes: each upload received with `uploads.receive()`, then saved. */
@Controller()
class UploadController {
  constructor(
    @Inject(Uploads) private readonly uploads: Uploads,
    @Inject(Downloads) private readonly downloads: Downloads,
    @Inject(CONTEXT) private readonly context: UploadContext,
  ) {}

  @Post('documents')
  @HttpCode(201)
  async documents(@Req() req: PlatformRequest) {
    const document = new Document()
    const { fields } = await this.uploads.receive(
      req,
      document,
      'file',
      this.context.routes.documents.options,
    )
    return this.context.save(document, fields)
  }

  @Post('large')
  @HttpCode(201)
  async large(@Req() req: PlatformRequest) {
    const document = new Document()
    const { fields } = await this.uploads.receive(req, document, 'file', this.context.routes.large.options)
    return this.context.save(document, fields)
  }

  @All('documents/:slug')
  download(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: object) {
    return this.downloads.respond(this.context.download, req, res)
  }
}

@Module({})
class UploadModule {}

/** The app on `platform`, listening on a free loopback port. */
async function start(platform: Platform, context: UploadContext): Promise<ContractServer> {
  const module: DynamicModule = {
    module: UploadModule,
    // The contract registers its own storage: the module registers none.
    imports: [DownloadModule.forRoot()],
    controllers: [UploadController],
    providers: [{ provide: CONTEXT, useValue: context }],
  }
  const adapter = platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter()
  const app = await NestFactory.create(module, adapter, { logger: false })
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

for (const platform of PLATFORMS) {
  describeUploadContract(`NestJS (${platform})`, (context) => start(platform, context))
}

describe.each(PLATFORMS)('a refused upload on NestJS (%s)', (platform) => {
  let server: ContractServer

  beforeAll(async () => {
    // Nothing is stored: each upload is refused before its first byte reaches the storage.
    storages.register('default', new MemoryStorage())
    server = await start(platform, {
      routes: {
        documents: { path: '/documents', options: { allowedTypes: ['application/pdf'], maxBytes: 16 } },
        large: { path: '/large', options: {} },
      },
      save: () => Promise.reject(new Error('nothing is saved here')),
      download: new VirtualDownloadView({ name: 'unused.txt', content: '' }),
    })
  })

  afterAll(async () => {
    await server?.close()
    storages.clear()
  })

  it.each([
    [413, 'Payload Too Large', Buffer.from('%PDF-1.7\nmore than sixteen bytes\n')],
    [415, 'Unsupported Media Type', Buffer.from('plain text\n')],
  ])('is Nest’s JSON %i, with the status text only', async (status, message, content) => {
    const answer = await postForm({
      port: server.port,
      path: '/documents',
      parts: [{ name: 'file', filename: 'a.pdf', contentType: 'application/pdf', content }],
    })
    expect(answer.status).toBe(status)
    expect(answer.headers['content-type']).toMatch(/^application\/json/)
    expect(JSON.parse(answer.body.toString())).toEqual({ statusCode: status, message })
  })
})
