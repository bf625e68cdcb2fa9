/**
 * Test databases: each integration test file gets its own database on the server that global
 * setup chose, with the migrations run (never `synchronize`), so files can run in parallel.
 */
import type { DataSource } from 'typeorm'
import { createDataSource } from '../../ormconfig'
import { freshDataSource } from './fresh-database'

/** A migrated DataSource for the demo schema on a fresh database; `destroy()` drops the database. */
export function createTestDataSource(): Promise<DataSource> {
  return freshDataSource(createDataSource)
}

/** Empties every table of the demo schema. */
export async function resetDatabase(dataSource: DataSource): Promise<void> {
  const tables = dataSource.entityMetadatas.map((metadata) => `"${metadata.tableName}"`).join(', ')
  await dataSource.query(`TRUNCATE ${tables} RESTART IDENTITY CASCADE`)
}
