/**
 * @module typeorm-downloadview/s3: S3Storage, a Storage in an Amazon S3 bucket or on an
 * S3-compatible server. Its AWS SDK packages are optional peer dependencies, checked before they load.
 */
import { requirePeers } from '../optional-peers'

requirePeers('typeorm-downloadview/s3', [
  '@aws-sdk/client-s3',
  '@aws-sdk/lib-storage',
  '@aws-sdk/s3-request-presigner',
])

export { S3Storage, type S3StorageOptions } from './s3-storage'
