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
// Errors, and the one table that maps them to statuses.
export {
  AccessDeniedError,
  BadPathError,
  ConfigurationError,
  DestinationNotAllowedError,
  DownloadError,
  FileColumnError,
  FileNotFoundError,
  HandoffError,
  InvalidParameterError,
  MissingChecksumError,
  ServiceUnavailableError,
  SignatureError,
  statusForError,
  UnsafePathError,
  UploadError,
  type UploadErrorStatus,
  UpstreamError,
} from './errors'
// What a view's getFile() returns.
export type { DownloadFile, FileLocation } from './files/download-file'
export { PathFile, type PathFileInfo } from './files/path-file'
export { StorageFile, type StoredFileInfo } from './files/storage-file'
export { type VirtualContent, VirtualFile, type VirtualFileInit } from './files/virtual-file'
// Hand-off: a reverse proxy or a bucket sends the bytes.
export {
  type RedirectStatus,
  type RedirectToBucketOptions,
  redirectToBucket,
} from './handoff/bucket-redirect'
export type { Handoff, HandoffOption, ProxyHandoff } from './handoff/handoff'
export { type XAccelRedirectOptions, type XAccelRule, xAccelRedirect } from './handoff/nginx'
export { type NginxFromBucketOptions, nginxFromBucket } from './handoff/nginx-bucket'
export {
  type LighttpdSendfileOptions,
  lighttpdSendfile,
  type SendfileOptions,
  type SendfileRule,
  xSendfile,
} from './handoff/x-sendfile'
export type { RespondOptions } from './http/options'
export type { Logger } from './logger'
export { serve } from './node/serve'
// Signed, expiring URLs.
export type { SignatureOptions, SigningKey } from './signing/options'
export { type SignUrlOptions, signUrl, verifySignature } from './signing/signed-url'
// Storages.
export { LocalStorage, type LocalStorageOptions } from './storage/local-storage'
export { MemoryStorage } from './storage/memory-storage'
export { storages } from './storage/registry'
export type { ByteRange, SaveSource, SignedUrlOptions, Storage, StorageStat } from './storage/storage'
// Uploads: a form's file streamed into a file column.
export type { ReceiveUploadOptions } from './uploads/options'
export { type ReceivedUpload, receiveUpload, type UploadRequest } from './uploads/receive-upload'
// Views, and the one step that writes their answers on node's req/res.
export type {
  DownloadEvent,
  DownloadEventFile,
  DownloadEventLocation,
  DownloadHook,
} from './views/download-event'
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
export {
  ZipDownloadView,
  type ZipDownloadViewOptions,
  type ZipEntrySource,
  type ZipRowsLookup,
} from './views/zip-view'
