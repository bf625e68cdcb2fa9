/**
 * @module Uploads on Fastify: a content type parser that leaves multipart/form-data bodies unread,
 * and receiveUpload() on the request it left them in, with the library's errors as Fastify's.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { ObjectLiteral } from 'typeorm'
import { statusForError } from '../errors'
import type { ReceiveUploadOptions } from '../uploads/options'
import { type ReceivedUpload, receiveUpload as receiveFromNode } from '../uploads/receive-upload'
import { DownloadHttpError } from './download-http-error'

/**
 * A Fastify plugin that lets multipart/form-data requests through to their routes with the body
 * unread, for {@link receiveUpload} to stream (Fastify itself answers 415 to a type it has no parser
 * for). Fastify's `bodyLimit` does not apply to them: `maxBytes` does. Like `fastifyDownloads` it is
 * not encapsulated; an app that registers `@fastify/multipart` does not need it, and cannot have
 * both.
 *
 * @example
 * await app.register(fastifyUploads)
 */
export const fastifyUploads: FastifyPluginAsync = Object.assign(
  async function fastifyUploads(app: FastifyInstance) {
    // The body stays in request.raw, unread, until the route's receiveUpload() streams it.
    app.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null))
  },
  {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'typeorm-downloadview-uploads',
    [Symbol.for('plugin-meta')]: { name: 'typeorm-downloadview-uploads', fastify: '5.x' },
  },
)

/**
 * Receives the form of a Fastify request into `entity[property]`: the core `receiveUpload()` on
 * `request.raw` (register {@link fastifyUploads} first). Refusals are thrown as
 * {@link DownloadHttpError}s with their status (400, 413, 415), for the app's error handler; the
 * UploadError, which says why, is the `cause`.
 *
 * @example
 * app.post('/documents', async (request, reply) => {
 *   const document = new Document()
 *   const { fields } = await receiveUpload(request, document, 'file', { fields: ['title'] })
 *   document.title = fields.title ?? ''
 *   await dataSource.getRepository(Document).save(document)
 *   return reply.redirect('/documents', 303)
 * })
 */
export async function receiveUpload<E extends ObjectLiteral, F extends string = never>(
  request: FastifyRequest,
  entity: E,
  property: keyof E & string,
  options: ReceiveUploadOptions<F> = {},
): Promise<ReceivedUpload<F>> {
  try {
    return await receiveFromNode(request.raw, entity, property, options)
  } catch (error) {
    const status = statusForError(error)
    throw status === undefined ? error : new DownloadHttpError(status, error)
  }
}
