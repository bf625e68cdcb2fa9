/**
 * A fresh database per test file on the server that the jest global setup chose, so files run in
 * parallel: created, migrated by the DataSource `build` makes, and dropped by its `destroy()`.
 */
import { randomBytes } from 'node:crypto'
import { Client } from 'pg'
import type { DataSource } from 'typeorm'

/** A migrated DataSource on a new database; `destroy()` it in `afterAll` to drop the database. */
export async function freshDataSource(build: (url: string) => DataSource): Promise<DataSource> {
  const serverUrl = process.env.DATABASE_URL
  if (!serverUrl) throw new Error('DATABASE_URL is not set: the jest global setup did not run')
  const name = `downloadview_t_${randomBytes(5).toString('hex')}`
  await admin(serverUrl, `CREATE DATABASE "${name}"`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  const dataSource = build(url.toString())
  await dataSource.initialize()
  await dataSource.runMigrations()
  const destroy = dataSource.destroy.bind(dataSource)
  dataSource.destroy = async () => {
    await destroy()
    await admin(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  }
  return dataSource
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
