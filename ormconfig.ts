/**
 * @module The demo's DataSource: Postgres at DATABASE_URL, the demo entities, migrations, the file
 * column hook, and the media storage the file columns live in.
 */
import 'reflect-metadata'
import path from 'node:path'
import { DataSource } from 'typeorm'
import { Document } from './entities/Document'
import { DownloadEventRecord } from './entities/DownloadEventRecord'
import { Photo } from './entities/Photo'
import { CreateDocument1764000000000 } from './migrations/1764000000000-CreateDocument'
import { CreatePhoto1764100000000 } from './migrations/1764100000000-CreatePhoto'
import { AddPhotoThumbhash1764200000000 } from './migrations/1764200000000-AddPhotoThumbhash'
import { AddFileCrc321764300000000 } from './migrations/1764300000000-AddFileCrc32'
import { CreateDownloadEvent1764416000000 } from './migrations/1764416000000-CreateDownloadEvent'
import { ConfigurationError, FileColumnSubscriber, LocalStorage, type Storage, storages } from './src'
import { S3Storage } from './src/s3'

/** The demo's entities and migrations, for tests and tools that build their own DataSource. */
export const entities = [Document, Photo, DownloadEventRecord]
export const migrations = [
  CreateDocument1764000000000,
  CreatePhoto1764100000000,
  AddPhotoThumbhash1764200000000,
  AddFileCrc321764300000000,
  CreateDownloadEvent1764416000000,
]

/** Where the demo keeps its media: `MEDIA_ROOT`, else `media/` beside this file. */
export function mediaRoot(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.MEDIA_ROOT ?? path.join(__dirname, 'media'))
}

/**
 * The demo's media storage, chosen by `STORAGE`:
 * - `local` (the default): the folder at MEDIA_ROOT (see {@link mediaRoot});
 * - `s3`: the bucket S3_BUCKET (required) on S3_ENDPOINT (default: AWS S3) in S3_REGION (default
 *   us-east-1), under the prefix S3_PREFIX (default: none), with path-style addressing when
 *   S3_FORCE_PATH_STYLE is `true` (what MinIO and most S3-compatible servers need). Credentials and
 *   checksum settings come from the AWS SDK's own chain and variables (AWS_ACCESS_KEY_ID,
 *   AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_REQUEST_CHECKSUM_CALCULATION, ...).
 *
 * A wrong value throws a ConfigurationError that names the variable, at startup.
 */
export function mediaStorage(env: NodeJS.ProcessEnv = process.env): Storage {
  const kind = env.STORAGE || 'local'
  if (kind === 'local') return new LocalStorage({ root: mediaRoot(env) })
  if (kind === 's3') return s3MediaStorage(env)
  throw new ConfigurationError(`STORAGE must be "local" or "s3", not "${kind}"`)
}

/** The S3 variables, by the S3Storage option each one sets. */
const S3_VARIABLES: Record<string, string> = {
  bucket: 'S3_BUCKET',
  endpoint: 'S3_ENDPOINT',
  region: 'S3_REGION',
  prefix: 'S3_PREFIX',
  forcePathStyle: 'S3_FORCE_PATH_STYLE',
}

function s3MediaStorage(env: NodeJS.ProcessEnv): S3Storage {
  if (!env.S3_BUCKET)
    throw new ConfigurationError('STORAGE=s3 needs S3_BUCKET: the bucket that holds the media')
  const pathStyle = env.S3_FORCE_PATH_STYLE
  if (pathStyle && !['true', 'false', '1', '0'].includes(pathStyle))
    throw new ConfigurationError(`S3_FORCE_PATH_STYLE must be "true" or "false", not "${pathStyle}"`)
  try {
    return new S3Storage({
      bucket: env.S3_BUCKET,
      region: env.S3_REGION || 'us-east-1',
      ...(env.S3_ENDPOINT && { endpoint: env.S3_ENDPOINT }),
      ...(env.S3_PREFIX && { prefix: env.S3_PREFIX }),
      forcePathStyle: pathStyle === 'true' || pathStyle === '1',
    })
  } catch (error) {
    // S3Storage names its option; the person starting the demo set a variable.
    const option = /option "(\w+)"/.exec((error as Error).message)?.[1]
    const variable = option === undefined ? undefined : S3_VARIABLES[option]
    if (error instanceof ConfigurationError && variable)
      throw new ConfigurationError(`${variable} is not valid: ${error.message}`, { cause: error })
    throw error
  }
}

/**
 * Registers the demo's media storage ({@link mediaStorage}) as the `default` storage, unless the app
 * (or a test) has registered one already.
 */
export function registerMediaStorage(env: NodeJS.ProcessEnv = process.env): void {
  if (!storages.tryGet('default')) storages.register('default', mediaStorage(env))
}

/**
 * A DataSource for the demo schema on the Postgres at `url`. Migrations, never `synchronize`.
 * Timeouts, so that a database that stops answering gives 503s within seconds instead of requests
 * that hang for minutes (pg's defaults wait forever): 5 s to connect, 30 s for a query.
 */
export function createDataSource(url: string): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities,
    migrations,
    subscribers: [FileColumnSubscriber],
    synchronize: false,
    migrationsRun: false,
    connectTimeoutMS: 5000,
    extra: { query_timeout: 30_000 },
  })
}

/**
 * For the TypeORM CLI and `npx typeorm-downloadview … -d ormconfig.ts`: the database at
 * DATABASE_URL, with the media storage registered.
 */
function defaultDataSource(): DataSource {
  registerMediaStorage()
  return createDataSource(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
}

export default defaultDataSource()
