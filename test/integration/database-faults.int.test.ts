/**
 * Database faults that are not a lost connection, on real Postgres: a database that refuses
 * connections (55000), one that no longer exists under its name (3D000), a role that may no longer
 * log in (28000). Each is a 503 with Retry-After, never a 500; the last two are configuration
 * faults, logged at error level once per burst. Service comes back by itself once they are fixed.
 */
import { randomBytes } from 'node:crypto'
import express from 'express'
import { Client } from 'pg'
import request from 'supertest'
import type { DataSource } from 'typeorm'
import { Document } from '../../entities/Document'
import { createDataSource } from '../../ormconfig'
import { ObjectDownloadView, StoredFile, storages } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'
import { createTestDataSource } from '../helpers/database'
import { temporaryStorage } from '../helpers/storage'

let admin: Client
let removeMedia: () => Promise<void>

beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  storages.register('default', media.storage)
  await media.storage.save('docs/nums.txt', '123456789')
  admin = new Client({ connectionString: process.env.DATABASE_URL })
  await admin.connect()
})

afterAll(async () => {
  await admin.end()
  await removeMedia()
  storages.clear()
})

/** A migrated database with one document, `nums`; its name. */
async function seededDatabase(): Promise<{ dataSource: DataSource; name: string }> {
  const dataSource = await createTestDataSource()
  const documents = dataSource.getRepository(Document)
  await documents.save(
    documents.create({ slug: 'nums', file: Object.assign(new StoredFile(), { path: 'docs/nums.txt' }) }),
  )
  const name = String(
    await dataSource.query('SELECT current_database() AS name').then((rows) => rows[0].name),
  )
  return { dataSource, name }
}

/** Ends every session on database `name` (or of role `role`), as a restart or an operator would. */
async function terminate(where: { database?: string; role?: string }): Promise<void> {
  await admin.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE pid <> pg_backend_pid() AND (datname = $1 OR usename = $2)`,
    [where.database ?? null, where.role ?? null],
  )
}

/** An app on `dataSource` whose view and error handler log into `lines`. */
function appOn(dataSource: DataSource, lines: string[]) {
  const logger = {
    error: (message: string) => lines.push(message),
    warn: (message: string) => lines.push(message),
  }
  const app = express()
  const view = new ObjectDownloadView({ dataSource, entity: Document, lookup: 'slug', file: 'file', logger })
  app.all('/d/:slug', toHandler(view))
  app.use(downloadErrorHandler({ logger }))
  return app
}

/** The statuses and Retry-After of `count` GETs of the document, one after the other. */
async function answers(app: express.Express, count: number): Promise<string[]> {
  const seen: string[] = []
  for (let i = 0; i < count; i++) {
    const response = await request(app).get('/d/nums')
    seen.push(`${response.status} ${response.headers['retry-after'] ?? '-'}`)
  }
  return seen
}

/** Waits until the app serves the document again, as it must once the fault is fixed. */
async function servesAgain(app: express.Express): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if ((await request(app).get('/d/nums')).status === 200) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the app did not serve the document again')
}

describe('a database that refuses connections (ALLOW_CONNECTIONS false, SQLSTATE 55000)', () => {
  it('answers 503 with Retry-After while it lasts, then serves again', async () => {
    const { dataSource, name } = await seededDatabase()
    const lines: string[] = []
    const app = appOn(dataSource, lines)
    try {
      expect((await request(app).get('/d/nums')).status).toBe(200)
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`)
      await terminate({ database: name })
      expect(await answers(app, 5)).toEqual(Array(5).fill('503 5'))
      // A passing fault is no alarm: nothing at error level, and no 500 for the error handler to log.
      expect(lines).toEqual([])
    } finally {
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`)
    }
    await servesAgain(app)
    await dataSource.destroy()
  })
})

describe('a database that no longer exists under its name (SQLSTATE 3D000)', () => {
  it('answers 503 and logs the configuration fault once for the burst', async () => {
    const { dataSource, name } = await seededDatabase()
    const lines: string[] = []
    const app = appOn(dataSource, lines)
    const moved = `${name}_moved`
    expect((await request(app).get('/d/nums')).status).toBe(200)
    await terminate({ database: name })
    await admin.query(`ALTER DATABASE "${name}" RENAME TO "${moved}"`)
    try {
      expect(await answers(app, 5)).toEqual(Array(5).fill('503 5'))
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/ObjectDownloadView \(Document\): The database is unavailable: .*\[3D000\]/)
    } finally {
      await terminate({ database: moved })
      await admin.query(`ALTER DATABASE "${moved}" RENAME TO "${name}"`)
    }
    await servesAgain(app)
    await dataSource.destroy()
  })
})

describe('a role that may no longer log in (SQLSTATE 28000)', () => {
  it('answers 503 and logs the configuration fault once for the burst', async () => {
    const { dataSource, name } = await seededDatabase()
    const role = `downloadview_role_${randomBytes(4).toString('hex')}`
    await admin.query(`CREATE ROLE "${role}" LOGIN SUPERUSER`)
    const url = new URL(process.env.DATABASE_URL ?? '')
    url.username = role
    url.pathname = `/${name}`
    const asRole = createDataSource(url.toString())
    await asRole.initialize()
    const lines: string[] = []
    const app = appOn(asRole, lines)
    try {
      expect((await request(app).get('/d/nums')).status).toBe(200)
      await admin.query(`ALTER ROLE "${role}" NOLOGIN`)
      await terminate({ role })
      expect(await answers(app, 5)).toEqual(Array(5).fill('503 5'))
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/\[28000\]$/)
      await admin.query(`ALTER ROLE "${role}" LOGIN`)
      await servesAgain(app)
    } finally {
      await asRole.destroy()
      await admin.query(`DROP ROLE IF EXISTS "${role}"`)
      await dataSource.destroy()
    }
  })
})

describe('downloadErrorHandler()', () => {
  it('logs every 5xx it writes, with the method and the path without its query', async () => {
    const lines: string[] = []
    const app = express()
    app.get('/bug', () => {
      throw new Error('a bug')
    })
    app.use(downloadErrorHandler({ logger: { error: (message) => lines.push(message) } }))
    const response = await request(app).get('/bug?sig=secret')
    expect(response.status).toBe(500)
    expect(lines).toEqual(['GET /bug: 500'])
  })
})
