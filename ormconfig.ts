/** @module The demo's DataSource: Postgres at DATABASE_URL, the demo entities, migrations, and the file column hook. */
import 'reflect-metadata'
import { DataSource } from 'typeorm'
import { Document } from './entities/Document'
import { CreateDocument1764000000000 } from './migrations/1764000000000-CreateDocument'
import { FileColumnSubscriber } from './src'

/** The demo's entities and migrations, for tests and tools that build their own DataSource. */
export const entities = [Document]
export const migrations = [CreateDocument1764000000000]

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

/** For the TypeORM CLI (`-d ormconfig.ts`): the database at DATABASE_URL. */
export default createDataSource(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
