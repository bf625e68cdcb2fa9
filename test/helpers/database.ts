/**
 * Test databases: each test file gets its own database on the server that the jest global setup
 * chose (DATABASE_URL), with the migrations run (never `synchronize`), so files can run in parallel.
 */
import { randomBytes } from 'node:crypto'
import { Client } from 'pg'
import { DataSource, type DataSourceOptions } from 'typeorm'
import { createDataSource } from '../../ormconfig'
import { FileColumnSubscriber } from '../../src'

/** A test's own entities and the migrations that create their tables. */
export interface TestSchema {
  entities: NonNullable<DataSourceOptions['entities']>
  migrations: NonNullable<DataSourceOptions['migrations']>
}

/**
 * A migrated DataSource on a fresh database, with the file column hook, for `schema` or else the
 * demo's (`createDataSource` of ormconfig.ts); `destroy()` drops the database.
 * @example dataSource = await createTestDataSource({ entities: [Invoice], migrations: [CreateInvoice1700000000001] })
 */
export function createTestDataSource(schema?: TestSchema): Promise<DataSource> {
  return freshDataSource((url) =>
    schema
      ? new DataSource({ type: 'postgres', url, ...schema, subscribers: [FileColumnSubscriber] })
      : createDataSource(url),
  )
}

/**
 * A migrated DataSource that `build` makes on a fresh database; `destroy()` it in `afterAll` to
 * drop the database.
 */
export async function freshDataSource(build: (url: string) => DataSource): Promise<DataSource> {
  const database = await emptyDatabase()
  const dataSource = build(database.url)
  await dataSource.initialize()
  await dataSource.runMigrations()
  const destroy = dataSource.destroy.bind(dataSource)
  dataSource.destroy = async () => {
    await destroy()
    await database.drop()
  }
  return dataSource
}

/** An empty database of its own on the server at DATABASE_URL, and a function that drops it. */
export async function emptyDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const serverUrl = process.env.DATABASE_URL
  if (!serverUrl) throw new Error('DATABASE_URL is not set: the jest global setup did not run')
  const name = `downloadview_t_${randomBytes(5).toString('hex')}`
  await admin(serverUrl, `CREATE DATABASE "${name}"`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: () => admin(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  }
}

/** Empties every table of the demo schema. */
export async function resetDatabase(dataSource: DataSource): Promise<void> {
  const tables = dataSource.entityMetadatas.map((metadata) => `"${metadata.tableName}"`).join(', ')
  await dataSource.query(`TRUNCATE ${tables} RESTART IDENTITY CASCADE`)
}

async function admin(serverUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}
