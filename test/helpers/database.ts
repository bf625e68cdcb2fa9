/**
 * Test databases: each integration test file gets its own database on the server that global
 * setup chose, with the migrations run (never `synchronize`), so files can run in parallel.
 */
import { randomBytes } from 'node:crypto'
import { Client } from 'pg'
import type { DataSource } from 'typeorm'
import { createDataSource } from '../../ormconfig'

/** A migrated DataSource on a fresh database; `destroy()` it in `afterAll` to drop the database. */
export async function createTestDataSource(): Promise<DataSource> {
  const serverUrl = process.env.DATABASE_URL
  if (!serverUrl) throw new Error('DATABASE_URL is not set: the jest global setup did not run')
  const name = `downloadview_t_${randomBytes(5).toString('hex')}`
  await admin(serverUrl, `CREATE DATABASE "${name}"`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  const dataSource = createDataSource(url.toString())
  await dataSource.initialize()
  await dataSource.runMigrations()
  const destroy = dataSource.destroy.bind(dataSource)
  dataSource.destroy = async () => {
    await destroy()
    await admin(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  }
  return dataSource
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
