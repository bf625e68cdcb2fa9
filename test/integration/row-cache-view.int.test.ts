/**
 * ObjectDownloadView with a RowCache on real Postgres, two instances (two DataSources, two
 * listeners, two servers) on one database: a repeated request needs no query; a row changed through
 * the other instance (its save hook notifies) or by raw SQL (the trigger) is served new within one
 * notification; a killed listening connection leaves nothing stale served; the database down is a
 * 503 as without a cache; scopes and authorization are never answered from another request's entry.
 */
import express from 'express'
import { Client } from 'pg'
import {
  Column,
  DataSource,
  Entity,
  type MigrationInterface,
  PrimaryGeneratedColumn,
  type QueryRunner,
} from 'typeorm'
import { ChangeListener } from '../../src/cache/change-listener'
import { ContentCache } from '../../src/cache/content-cache'
import { RowCache } from '../../src/cache/row-cache'
import { dropChangeTrigger, installChangeTrigger } from '../../src/cache/trigger'
import { attachFile } from '../../src/columns/attach-file'
import { FileColumn } from '../../src/columns/file-column'
import { FileColumnSubscriber } from '../../src/columns/file-column-subscriber'
import type { StoredFile } from '../../src/columns/stored-file'
import { AccessDeniedError, ConfigurationError } from '../../src/errors'
import { downloadErrorHandler, toHandler } from '../../src/express'
import { storages } from '../../src/storage/registry'
import { ObjectDownloadView } from '../../src/views/object-view'
import { type AppServer, listen } from '../helpers/app-server'
import { emptyDatabase } from '../helpers/database'
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy'
import { recordingLogger } from '../helpers/recording-logger'
import { CountingStorage, temporaryStorage } from '../helpers/storage'

const WAIT_MS = 10_000

@Entity({ name: 'test_cached_memo' })
class Memo {
  @PrimaryGeneratedColumn({ type: 'integer' }) id!: number
  @Column({ type: 'text', unique: true }) slug!: string
  @Column({ type: 'integer' }) owner!: number
  @Column({ type: 'boolean', default: false }) secret!: boolean
  @FileColumn() file!: StoredFile | null
}

class CreateMemo1700000000060 implements MigrationInterface {
  name = 'CreateMemo1700000000060'
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "test_cached_memo" (
        "id" SERIAL PRIMARY KEY, "slug" text NOT NULL UNIQUE, "owner" integer NOT NULL,
        "secret" boolean NOT NULL DEFAULT false,
        "file_path" text, "file_name" text, "file_size" bigint, "file_content_type" text,
        "file_modified_at" timestamptz, "file_sha256" text, "file_crc32" bigint
      )`)
  }
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE "test_cached_memo"')
  }
}

/** One app instance: its DataSource, cache, listener, views and server. */
interface Instance {
  dataSource: DataSource
  cache: RowCache<Record<string, unknown>>
  listener: ChangeListener
  server: AppServer
  authorized: string[]
}

let database: { url: string; drop(): Promise<void> }
let folder: Awaited<ReturnType<typeof temporaryStorage>>
let media: CountingStorage
let proxy: FaultProxy
let a: Instance
let b: Instance
const denied = new Set<string>()

function dataSourceAt(url: string): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities: [Memo],
    migrations: [CreateMemo1700000000060],
    subscribers: [FileColumnSubscriber],
  })
}

async function instance(url: string): Promise<Instance> {
  const dataSource = dataSourceAt(url)
  await dataSource.initialize()
  const cache = new RowCache<Record<string, unknown>>()
  const listener = new ChangeListener({ dataSource, caches: [cache], logger: recordingLogger() })
  await listener.start()
  const authorized: string[] = []
  const common = { dataSource, entity: Memo, lookup: 'slug', file: 'file', cache } as const
  const app = express()
  app.all('/memos/:slug', toHandler(new ObjectDownloadView(common)))
  // Small files' bytes too: a repeated download touches neither the database nor the storage.
  const contentCache = new ContentCache()
  app.all('/small/:slug', toHandler(new ObjectDownloadView({ ...common, contentCache })))
  // Scoped to the user of the X-User header; authorize() refuses what `denied` names (403).
  app.all(
    '/mine/:slug',
    toHandler(
      new ObjectDownloadView({
        ...common,
        select: ['slug', 'secret'],
        where: ({ req }) => ({ owner: Number(req.headers['x-user']) }),
        authorize: ({ req }, memo) => {
          authorized.push(`${String(req.headers['x-user'])}:${memo.slug}`)
          if (denied.has(memo.slug)) throw new AccessDeniedError(`${memo.slug} is denied`)
          return !memo.secret
        },
      }),
    ),
  )
  app.use(downloadErrorHandler({ logger: recordingLogger() }))
  return { dataSource, cache, listener, server: await listen(app), authorized }
}

async function stop(it: Instance | undefined): Promise<void> {
  if (!it) return
  await it.server.close()
  await it.listener.close()
  await it.dataSource.destroy()
}

/** Saves a memo (with a file of `text`) through `on`, so its save hook notifies. */
async function saveMemo(on: Instance, slug: string, owner: number, text: string): Promise<Memo> {
  const memos = on.dataSource.getRepository(Memo)
  const memo = (await memos.findOneBy({ slug })) ?? memos.create({ slug, owner })
  memo.owner = owner
  await attachFile(memo, 'file', Buffer.from(text), { name: `${slug}.txt` })
  return memos.save(memo)
}

async function get(on: Instance, path: string, user?: number): Promise<{ status: number; text: string }> {
  const response = await fetch(`${on.server.url}${path}`, {
    headers: user === undefined ? {} : { 'x-user': String(user) },
  })
  return { status: response.status, text: await response.text() }
}

/** Polls until `check` holds; how long it took, in ms. */
async function until(check: () => Promise<boolean>): Promise<number> {
  const start = performance.now()
  while (!(await check())) {
    if (performance.now() - start > WAIT_MS) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  return performance.now() - start
}

beforeAll(async () => {
  folder = await temporaryStorage()
  media = new CountingStorage(folder.storage)
  storages.register('default', media)
  database = await emptyDatabase()
  const migrator = dataSourceAt(database.url)
  await migrator.initialize()
  await migrator.runMigrations()
  await migrator.destroy()
  // Instance A reaches the database through a proxy the tests can cut.
  const url = new URL(database.url)
  proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port || 5432) })
  url.port = String(proxy.port)
  a = await instance(url.toString())
  b = await instance(database.url)
  await until(async () => a.cache.available && b.cache.available)
})

afterAll(async () => {
  await stop(a)
  await stop(b)
  await proxy?.close()
  await database?.drop()
  await folder?.remove()
  storages.clear()
})

beforeEach(() => denied.clear())

describe('a repeated request', () => {
  it('is answered from the cache, without a query', async () => {
    const heard = a.listener.stats.notifications
    await saveMemo(b, 'repeat', 1, 'first\n')
    await until(async () => a.listener.stats.notifications > heard)
    expect(await get(a, '/memos/repeat')).toEqual({ status: 200, text: 'first\n' })
    const before = a.cache.stats
    expect(await get(a, '/memos/repeat')).toEqual({ status: 200, text: 'first\n' })
    const after = a.cache.stats
    expect(after.hits - before.hits).toBe(1)
    expect(after.stores - before.stores).toBe(0)
  })

  it('with a ContentCache, touches the storage only the first time', async () => {
    const heard = a.listener.stats.notifications
    await saveMemo(b, 'small', 1, 'small bytes\n')
    // The save's notification reaches A first, so that no entry A makes is dropped by it later.
    await until(async () => a.listener.stats.notifications > heard)
    media.reset()
    expect(await get(a, '/small/small')).toEqual({ status: 200, text: 'small bytes\n' })
    const rowHits = a.cache.stats.hits
    for (let i = 0; i < 3; i++)
      expect(await get(a, '/small/small')).toEqual({ status: 200, text: 'small bytes\n' })
    expect(media.calls).toMatchObject({ open: 1, stat: 0 })
    expect(a.cache.stats.hits - rowHits).toBe(3)
  })

  it('remembers a miss, and forgets it when the row is inserted', async () => {
    expect((await get(a, '/memos/later')).status).toBe(404)
    const hits = a.cache.stats.hits
    expect((await get(a, '/memos/later')).status).toBe(404)
    expect(a.cache.stats.hits).toBe(hits + 1)
    await saveMemo(b, 'later', 1, 'now here\n')
    await until(async () => (await get(a, '/memos/later')).status === 200)
  })
})

describe('a row changed elsewhere', () => {
  it('is served new by the other instance within one notification (save hook)', async () => {
    await saveMemo(b, 'moving', 1, 'old\n')
    expect((await get(a, '/memos/moving')).text).toBe('old\n')
    const latencies: number[] = []
    for (let round = 0; round < 20; round++) {
      await saveMemo(b, 'moving', 1, `v${round}\n`)
      latencies.push(await until(async () => (await get(a, '/memos/moving')).text === `v${round}\n`))
    }
    latencies.sort((x, y) => x - y)
    process.stdout.write(
      `[row-cache-view] save through B -> new bytes from A: median ${latencies[10]?.toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms over 20\n`,
    )
  })

  it('is served new after a raw SQL update, with the trigger installed', async () => {
    const runner = b.dataSource.createQueryRunner()
    await installChangeTrigger(runner, Memo)
    try {
      await saveMemo(b, 'raw', 1, 'raw bytes\n')
      await saveMemo(b, 'raw-other', 1, 'other bytes\n')
      expect((await get(a, '/memos/raw')).text).toBe('raw bytes\n')
      // The row now points at another memo's file, by SQL: no save hook ran.
      await b.dataSource.query(
        `UPDATE "test_cached_memo" SET (file_path, file_size, file_sha256, file_name) =
           (SELECT file_path, file_size, file_sha256, file_name FROM "test_cached_memo" WHERE slug = 'raw-other')
         WHERE slug = 'raw'`,
      )
      await until(async () => (await get(a, '/memos/raw')).text === 'other bytes\n')
    } finally {
      await dropChangeTrigger(runner, Memo)
      await runner.release()
    }
  })
})

describe('the listening connection killed', () => {
  it('serves nothing stale: the cache stops at once, and comes back by itself', async () => {
    await saveMemo(b, 'cut', 1, 'before\n')
    expect((await get(a, '/memos/cut')).text).toBe('before\n')
    expect((await get(a, '/memos/cut')).text).toBe('before\n')
    const pid = a.listener.backendPid
    const admin = new Client({ connectionString: database.url })
    await admin.connect()
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [pid])
    } finally {
      await admin.end()
    }
    await until(async () => !a.cache.available)
    // A change A cannot hear now: its next answer still comes from the database.
    await saveMemo(b, 'cut', 1, 'after\n')
    expect((await get(a, '/memos/cut')).text).toBe('after\n')
    await until(async () => a.cache.available)
    expect((await get(a, '/memos/cut')).text).toBe('after\n')
    expect((await get(a, '/memos/cut')).text).toBe('after\n')
  })
})

describe('the database down', () => {
  it('is a 503, as without a cache, and the cache serves again once it is back', async () => {
    await saveMemo(b, 'down', 1, 'down\n')
    expect((await get(a, '/memos/down')).status).toBe(200)
    await proxy.refuse()
    try {
      await until(async () => !a.cache.available)
      expect((await get(a, '/memos/down')).status).toBe(503)
    } finally {
      await proxy.forward()
    }
    await until(async () => a.cache.available && (await get(a, '/memos/down')).status === 200)
  })
})

describe('scopes and authorization', () => {
  it('never answer one user from another user’s entry', async () => {
    await saveMemo(b, 'owned', 1, 'of user 1\n')
    expect(await get(a, '/mine/owned', 1)).toEqual({ status: 200, text: 'of user 1\n' })
    expect((await get(a, '/mine/owned', 2)).status).toBe(404)
    expect(await get(a, '/mine/owned', 1)).toEqual({ status: 200, text: 'of user 1\n' })
    expect((await get(a, '/mine/owned', 2)).status).toBe(404)
    // The row changes hands through B: A's entries of both scopes follow.
    await saveMemo(b, 'owned', 2, 'of user 2\n')
    await until(async () => (await get(a, '/mine/owned', 1)).status === 404)
    expect(await get(a, '/mine/owned', 2)).toEqual({ status: 200, text: 'of user 2\n' })
  })

  it('runs authorize() on every request, cached or not', async () => {
    await saveMemo(b, 'checked', 3, 'checked\n')
    a.authorized.length = 0
    expect((await get(a, '/mine/checked', 3)).status).toBe(200)
    expect((await get(a, '/mine/checked', 3)).status).toBe(200)
    expect(a.authorized).toEqual(['3:checked', '3:checked'])
    denied.add('checked')
    expect((await get(a, '/mine/checked', 3)).status).toBe(403)
  })

  it('sees a change of what authorize() reads (a column the view selects)', async () => {
    await saveMemo(b, 'hidden', 4, 'hidden\n')
    expect((await get(a, '/mine/hidden', 4)).status).toBe(200)
    const memos = b.dataSource.getRepository(Memo)
    const memo = await memos.findOneByOrFail({ slug: 'hidden' })
    memo.secret = true
    await memos.save(memo)
    await until(async () => (await get(a, '/mine/hidden', 4)).status === 404)
  })
})

describe('option "cache"', () => {
  it('must be a RowCache, not with "query", and of the view’s own DataSource', () => {
    const common = { dataSource: a.dataSource, entity: Memo, lookup: 'slug', file: 'file' } as const
    expect(
      () => new ObjectDownloadView({ ...common, cache: {} as RowCache<Record<string, unknown>> }),
    ).toThrow(
      new ConfigurationError(
        'ObjectDownloadView: option "cache" must be a RowCache (typeorm-downloadview/cache)',
      ),
    )
    expect(() => new ObjectDownloadView({ ...common, cache: a.cache, query: (query) => query })).toThrow(
      /option "cache" cannot be used with option "query"/,
    )
    expect(() => new ObjectDownloadView({ ...common, cache: b.cache })).toThrow(
      /option "cache" is kept by the ChangeListener of another DataSource/,
    )
  })
})
