/**
 * @module typeorm-downloadview: the public surface. Re-exports only. Optional parts have their own
 * entries, so that the root never loads them: `typeorm-downloadview/express` (the Express adapter),
 * `typeorm-downloadview/s3` (S3Storage, the AWS SDK), `typeorm-downloadview/images` (image columns
 * and variants, sharp) and `typeorm-downloadview/testing` (assertDownload).
 */
export { type AttachFileOptions, type AttachSource, attachFile } from './columns/attach-file'
export {
  FileColumn,
  type FileColumnMetadata,
  type FileColumnOptions,
  getFileColumn,
  getFileColumns,
} from './columns/file-column'
export { FileColumnSubscriber, fillFileColumns } from './columns/file-column-subscriber'
export { hasFile, StoredFile } from './columns/stored-file'
export { type DeliveryContext, deliver } from './delivery/deliver'
export {
  type Delivery,
  type DeliveryMode,
  type DeliveryOption,
  MAX_EXPIRES_IN,
  type RedirectDeliveryOptions,
  type RedirectStatus,
  resolveDelivery,
  type XAccelDeliveryOptions,
} from './delivery/options'
export { canSign, DeliveryError, type SigningStorage } from './delivery/presigned'
export { BUCKET_RANGE_HEADER } from './delivery/x-accel'
export {
  BadPathError,
  ConfigurationError,
  DestinationNotAllowedError,
  DownloadError,
  FileColumnError,
  FileNotFoundError,
  InvalidParameterError,
  ServiceUnavailableError,
  SignatureError,
  statusForError,
  UnsafePathError,
  UpstreamError,
} from './errors'
export type { DownloadFile, FileLocation } from './files/download-file'
export { HTTPFile, type HTTPFileRequest } from './files/http-file'
export { PathFile, type PathFileInfo } from './files/path-file'
export { StorageFile, type StoredFileInfo } from './files/storage-file'
export { type VirtualContent, VirtualFile, type VirtualFileInit } from './files/virtual-file'
export { serve } from './node/serve'
export { type XAccelRedirectOptions, type XAccelRule, xAccelRedirect } from './offload/nginx'
export { applyOffload, type Offload, offloadMiddleware, requestOffloads } from './offload/offload'
export {
  type LighttpdSendfileOptions,
  lighttpdSendfile,
  type SendfileOptions,
  type SendfileRule,
  xSendfile,
} from './offload/x-sendfile'
export { contentDisposition } from './responder/disposition'
export { type ResolvedRespondOptions, type RespondOptions, resolveRespondOptions } from './responder/options'
export {
  methodNotAllowed,
  planResponse,
  type RequestLike,
  type ResponsePlan,
  respond,
} from './responder/respond'
export { type Logger, sendPlan, stderrLogger } from './responder/send'
export {
  KEY_ID,
  MIN_SECRET_BYTES,
  type ResolvedSignatureOptions,
  resolveSignatureOptions,
  type SignatureOptions,
  type SigningKey,
  type SigningKeys,
} from './signing/options'
export { requireSignature, type SignatureMiddleware, signatureCheck } from './signing/require-signature'
export {
  SIGNATURE_PARAMS,
  type SignedRequest,
  type SignUrlOptions,
  signUrl,
  type VerifiedSignature,
  verifySignature,
} from './signing/signed-url'
export { LocalStorage, type LocalStorageOptions } from './storage/local-storage'
export { MemoryStorage } from './storage/memory-storage'
export { DEFAULT_STORAGE, StorageRegistry, storages } from './storage/registry'
export type { ByteRange, SaveSource, SignedUrlOptions, Storage, StorageStat } from './storage/storage'
export {
  type Decision,
  type Dotfiles,
  type DownloadRequest,
  DownloadView,
  type DownloadViewOptions,
  type RouteParams,
  routeParam,
  VIEW_OPTIONS,
} from './views/download-view'
export { HTTPDownloadView, type HTTPDownloadViewOptions } from './views/http-view'
export { ObjectDownloadView, type ObjectDownloadViewOptions, type ObjectLookup } from './views/object-view'
export { PathDownloadView, type PathDownloadViewOptions } from './views/path-view'
export { StorageDownloadView, type StorageDownloadViewOptions } from './views/storage-view'
export { VirtualDownloadView, type VirtualDownloadViewOptions } from './views/virtual-view'
