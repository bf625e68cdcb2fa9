/**
 * @module Uploads: the injectable of DownloadModule that receives a form's file into a file column
 * from a controller method, on Nest's Express or Fastify platform, with refusals as Nest exceptions.
 */
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'
import type { ObjectLiteral } from 'typeorm'
import type { ReceiveUploadOptions } from '../uploads/options'
import { type ReceivedUpload, receiveUpload } from '../uploads/receive-upload'
import { toHttpException } from './exceptions'
import { nodeRequest, type PlatformRequest } from './platform'

/** What this service needs of a Fastify instance (typed here, so that Fastify is not imported). */
interface FastifyLike {
  hasContentTypeParser(type: string): boolean
  addContentTypeParser(
    type: string,
    parser: (request: unknown, payload: unknown, done: (error: null) => void) => void,
  ): void
}

/**
 * Receives uploads from controller methods: `receive(req, entity, property, options)` streams the
 * request's multipart/form-data file into the entity's file column (the core `receiveUpload()`)
 * and resolves with the file and the form's text fields; save the entity then. A refused upload
 * becomes Nest's exception for its status (`BadRequestException`, `PayloadTooLargeException`,
 * `UnsupportedMediaTypeException`), which the app's filters format; the UploadError is its cause.
 *
 * On the Fastify platform it lets multipart/form-data bodies through unread (a content type parser
 * that reads nothing), unless the app has a parser for them already (`@fastify/multipart`).
 *
 * @example
 * @Post()
 * async create(@Req() req: Request): Promise<{ slug: string }> {
 *   const document = new Document()
 *   const { fields } = await this.uploads.receive(req, document, 'file', { fields: ['slug'] })
 *   document.slug = fields.slug ?? ''
 *   return this.documents.save(document)
 * }
 */
@Injectable()
export class Uploads implements OnModuleInit {
  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

  /** On Fastify: the content type parser, before the app starts listening. */
  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter
    if (adapter?.getType() !== 'fastify') return
    const fastify = adapter.getInstance<FastifyLike>()
    if (fastify.hasContentTypeParser('multipart/form-data')) return
    fastify.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null))
  }

  /**
   * Streams the file of the request's form into `entity[property]` and collects the text fields
   * `options.fields` names; nothing is saved to the database. `req` is the request of `@Req()`.
   *
   * @example
   * const { file, fields } = await this.uploads.receive(req, document, 'file', {
   *   allowedTypes: ['application/pdf', 'image/*'],
   *   maxBytes: 20 * 1024 * 1024,
   *   fields: ['title'],
   * })
   */
  async receive<E extends ObjectLiteral, F extends string = never>(
    req: PlatformRequest,
    entity: E,
    property: keyof E & string,
    options: ReceiveUploadOptions<F> = {},
  ): Promise<ReceivedUpload<F>> {
    try {
      return await receiveUpload(nodeRequest(req, 'Uploads.receive()'), entity, property, options)
    } catch (error) {
      throw toHttpException(error) ?? error
    }
  }
}
