/**
 * @module typeorm-downloadview/express: the Express adapter (Express 4.21+ and 5). The only entry
 * whose types need `@types/express`.
 */

// Uploads: Express's request is Node's, so the core's receiveUpload() is the adapter; its
// UploadErrors reach downloadErrorHandler() as 400, 413 or 415.
export type { ReceiveUploadOptions } from '../uploads/options'
export { type ReceivedUpload, receiveUpload } from '../uploads/receive-upload'
export { handoffMiddleware } from './handoff-middleware'
export { requireSignature, type SignatureMiddleware } from './require-signature'
export { type DownloadErrorHandlerOptions, downloadErrorHandler, toHandler } from './to-handler'
