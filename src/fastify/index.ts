/**
 * @module typeorm-downloadview/fastify: the Fastify 5 adapter. The only entry whose types need
 * `fastify`; it loads nothing of Fastify at run time (the app has it already), so it needs no
 * peer check.
 */

export type { ReceiveUploadOptions } from '../uploads/options'
export type { ReceivedUpload } from '../uploads/receive-upload'
export { DownloadHttpError } from './download-http-error'
export { downloadRoute, fastifyDownloads } from './download-route'
export { fastifyUploads, receiveUpload } from './receive-upload'
