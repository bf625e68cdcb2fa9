/**
 * @module typeorm-downloadview/express: the Express adapter (Express 4.21+ and 5). The only entry
 * whose types need `@types/express`.
 */

export { offloadMiddleware } from '../offload/offload'
export { requireSignature, type SignatureMiddleware } from './require-signature'
export { type DownloadErrorHandlerOptions, downloadErrorHandler, toHandler } from './to-handler'
