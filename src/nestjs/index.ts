/**
 * @module typeorm-downloadview/nestjs: the NestJS 11 adapter (Express and Fastify platforms):
 * DownloadModule, the Downloads service, and library errors as Nest HttpExceptions. Its Nest
 * packages are optional peer dependencies, checked before they load.
 */
import { requirePeers } from '../optional-peers'

requirePeers('typeorm-downloadview/nestjs', ['@nestjs/common', '@nestjs/core'])

export type { ReceiveUploadOptions } from '../uploads/options'
export type { ReceivedUpload } from '../uploads/receive-upload'
export { DownloadModule } from './download-module'
export { Downloads, type ObjectViewOptions } from './downloads'
export { toHttpException } from './exceptions'
export {
  DOWNLOAD_MODULE_OPTIONS,
  type DownloadModuleAsyncOptions,
  type DownloadModuleOptions,
} from './options'
export type { PlatformRequest } from './platform'
export { Uploads } from './uploads'
