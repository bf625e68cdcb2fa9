/**
 * @module typeorm-downloadview: the public surface, what a user writes (cf. django-downloadview's
 * api.py). Re-exports only; internals stay unexported (tests import them by path). Optional parts
 * have their own entries, so that the root never loads them: `typeorm-downloadview/express`,
 * `/fastify` and `/nestjs` (the framework adapters), `/s3` (S3Storage, the AWS SDK), `/images`
 * (image columns and variants, sharp) and `/testing` (assertDownload).
 */

// File columns: declare, attach, save.
export { type AttachFileOptions, type AttachSource, attachFile } from './columns/attach-file'
export { FileColumn, type FileColumnOptions } from './columns/file-column'
export { FileColumnSubscriber } from './columns/file-column-subscriber'
export { hasFile, StoredFile } from './columns/stored-file'
export type { DeliveryOption } from './delivery/options'
// Errors, and the one table that maps them to statuses.
export {
  BadPathError,
  ConfigurationError,
  DeliveryError,
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
// What a view's getFile() returns.
export type { DownloadFile, FileLocation } from './files/download-file'
export { PathFile, type PathFileInfo } from './files/path-file'
export { StorageFile, type StoredFileInfo } from './files/storage-file'
export { type VirtualContent, VirtualFile, type VirtualFileInit } from './files/virtual-file'
export type { Logger } from './logger'
export { serve } from './node/serve'
// Hand-off: a reverse proxy or a bucket sends the bytes.
export { type XAccelRedirectOptions, type XAccelRule, xAccelRedirect } from './offload/nginx'
export type { Offload } from './offload/offload'
export {
  type LighttpdSendfileOptions,
  lighttpdSendfile,
  type SendfileOptions,
  type SendfileRule,
  xSendfile,
} from './offload/x-sendfile'
export type { RespondOptions } from './responder/options'
// Signed, expiring URLs.
export type { SignatureOptions, SigningKey } from './signing/options'
export { type SignUrlOptions, signUrl, verifySignature } from './signing/signed-url'
// Storages.
export { LocalStorage, type LocalStorageOptions } from './storage/local-storage'
export { MemoryStorage } from './storage/memory-storage'
export { storages } from './storage/registry'
export type { ByteRange, SaveSource, SignedUrlOptions, Storage, StorageStat } from './storage/storage'
// Views, and the one step that writes their answers on node's req/res.
export {
  type Decision,
  type Dotfiles,
  type DownloadRequest,
  DownloadView,
  type DownloadViewOptions,
  type RouteParams,
} from './views/download-view'
export { HTTPDownloadView, type HTTPDownloadViewOptions } from './views/http-view'
export { ObjectDownloadView, type ObjectDownloadViewOptions, type ObjectLookup } from './views/object-view'
export { PathDownloadView, type PathDownloadViewOptions } from './views/path-view'
export { StorageDownloadView, type StorageDownloadViewOptions } from './views/storage-view'
export { VirtualDownloadView, type VirtualDownloadViewOptions } from './views/virtual-view'
