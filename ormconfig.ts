/**
 * @module The demo's DataSource: Postgres at DATABASE_URL, the demo entities, migrations, the file
 * column hook, and the media storage the file columns live in.
 */
import 'reflect-metadata'
import path from 'node:path'
import { DataSource } from 'typeorm'
import { Document } from './entities/Document'
import { Photo } from './entities/Photo'
import { CreateDocument1764000000000 } from './migrations/1764000000000-CreateDocument'
import { CreatePhoto1764100000000 } from './migrations/1764100000000-CreatePhoto'
import { FileColumnSubscriber, LocalStorage, storages } from './src'

/** The demo's entities and migrations, for tests and tools that build their own DataSource. */
export const entities = [Document, Photo]
export const migrations = [CreateDocument1764000000000, CreatePhoto1764100000000]

/** Where the demo keeps its media: `MEDIA_ROOT`, else `media/` beside this file. */
export function mediaRoot(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.MEDIA_ROOT ?? path.join(__dirname, 'media'))
}

/**
 * Registers the demo's media folder as the `default` storage, unless the app (or a test) has
 * registered one already.
 */
export function registerMediaStorage(root = mediaRoot()): void {
  if (!storages.tryGet('default')) storages.register('default', new LocalStorage({ root }))
}

/** A DataSource for the demo schema on the Postgres at `url`. Migrations, never `synchronize`. */
export function createDataSource(url: string): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities,
    migrations,
    subscribers: [FileColumnSubscriber],
    synchronize: false,
    migrationsRun: false,
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
