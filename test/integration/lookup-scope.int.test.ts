/**
 * ObjectDownloadView's per-request scope (`where`), `authorize` hook and `query` escape hatch, on
 * real Postgres through Express: a row out of scope is a 404 like a missing one, the scope's values
 * go as parameters of one prepared statement per shape, and lookups batch per scope.
 */
import type http from 'node:http'
import express from 'express'
import request from 'supertest'
import {
  Column,
  type DataSource,
  Entity,
  In,
  IsNull,
  JoinColumn,
  ManyToOne,
  type MigrationInterface,
  PrimaryGeneratedColumn,
  type QueryRunner,
  Raw,
} from 'typeorm'
import {
  AccessDeniedError,
  ConfigurationError,
  type DownloadRequest,
  FileColumn,
  ObjectDownloadView,
  type ObjectDownloadViewOptions,
  StoredFile,
  storages,
} from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'
import { binaryParser } from '../../src/testing'
import { createTestDataSource } from '../helpers/database'
import { recordingLogger } from '../helpers/recording-logger'
import { temporaryStorage } from '../helpers/storage'

@Entity({ name: 'test_scope_member' })
class Member {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text' })
  name!: string
}

@Entity({ name: 'test_scope_report' })
class Report {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text', unique: true })
  slug!: string

  @Column({ type: 'boolean' })
  published!: boolean

  @Column({ type: 'integer', name: 'tenant_id' })
  tenantId!: number

  @Column({ type: 'timestamptz', name: 'archived_at', nullable: true })
  archivedAt!: Date | null

  @ManyToOne(() => Member, { nullable: true })
  @JoinColumn({ name: 'owner_id' })
  owner!: Member | null

  @FileColumn()
  pdf!: StoredFile | null
}

class CreateReports1700000000001 implements MigrationInterface {
  name = 'CreateReports1700000000001'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "test_scope_member" ("id" SERIAL PRIMARY KEY, "name" text NOT NULL)`,
    )
    await queryRunner.query(`
      CREATE TABLE "test_scope_report" (
        "id" SERIAL PRIMARY KEY,
        "slug" text NOT NULL UNIQUE,
        "published" boolean NOT NULL,
        "tenant_id" integer NOT NULL,
        "archived_at" TIMESTAMP WITH TIME ZONE,
        "owner_id" integer REFERENCES "test_scope_member" ("id"),
        "pdf_path" text, "pdf_name" text, "pdf_size" bigint, "pdf_content_type" text,
        "pdf_modified_at" TIMESTAMP WITH TIME ZONE, "pdf_sha256" character(64), "pdf_crc32" bigint
      )`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE "test_scope_report"')
    await queryRunner.query('DROP TABLE "test_scope_member"')
  }
}

let dataSource: DataSource
let removeMedia: () => Promise<void>
let alice: Member
let bob: Member

/**
 * The rows: `a` (published, tenant 1, Alice's), `b` (unpublished, tenant 1, Bob's), `c`
 * (published, tenant 2, nobody's, archived); each file holds `%PDF-<slug>`.
 */
beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  storages.register('default', media.storage)
  dataSource = await createTestDataSource({
    entities: [Member, Report],
    migrations: [CreateReports1700000000001],
  })
  const members = dataSource.getRepository(Member)
  alice = await members.save(members.create({ name: 'alice' }))
  bob = await members.save(members.create({ name: 'bob' }))
  const reports = dataSource.getRepository(Report)
  const rows: Partial<Report>[] = [
    { slug: 'a', published: true, tenantId: 1, owner: alice, archivedAt: null },
    { slug: 'b', published: false, tenantId: 1, owner: bob, archivedAt: null },
    { slug: 'c', published: true, tenantId: 2, owner: null, archivedAt: new Date() },
  ]
  for (const row of rows) {
    await media.storage.save(`reports/${row.slug}.pdf`, `%PDF-${row.slug}`)
    const pdf = Object.assign(new StoredFile(), { path: `reports/${row.slug}.pdf` })
    await reports.save(reports.create({ ...row, pdf }))
  }
})

afterAll(async () => {
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

/** A request header as a string (`x-user`, `x-tenant`): who asks, as an auth middleware would say. */
function header(req: http.IncomingMessage, name: string): string {
  return String(req.headers[name] ?? '')
}

type ReportOptions = Partial<ObjectDownloadViewOptions<Report>>

function viewOf(options: ReportOptions = {}) {
  return new ObjectDownloadView<Report>({
    dataSource,
    entity: Report,
    lookup: 'slug',
    file: 'pdf',
    ...options,
  })
}

/** An app that serves `options`' view at /r/:slug, with the error handler that answers 500s. */
function appFor(options: ReportOptions = {}, handlerLogger = recordingLogger()) {
  const app = express()
  app.get('/r/:slug', toHandler(viewOf(options)))
  app.use(downloadErrorHandler({ logger: handlerLogger }))
  return app
}

/** GET /r/<slug> as `user` of `tenant`: status and body. */
async function get(app: express.Express, slug: string, who: { user?: Member; tenant?: number } = {}) {
  const response = await request(app)
    .get(`/r/${slug}`)
    .set('X-User', String(who.user?.id ?? ''))
    .set('X-Tenant', String(who.tenant ?? ''))
    .buffer(true)
    .parse(binaryParser)
  return {
    status: response.status,
    body: String(response.body),
    contentType: response.headers['content-type'],
    contentLength: response.headers['content-length'],
  }
}

/** The statuses of GET /r/a, /r/b, /r/c. */
async function statuses(app: express.Express, who: { user?: Member; tenant?: number } = {}) {
  return {
    a: (await get(app, 'a', who)).status,
    b: (await get(app, 'b', who)).status,
    c: (await get(app, 'c', who)).status,
  }
}

/** The driver's pg pool, to watch the statements the lookups send. */
function pool(): { query: (...args: unknown[]) => unknown } {
  return (dataSource.driver as unknown as { master: { query: (...args: unknown[]) => unknown } }).master
}

describe('ObjectDownloadView with a where scope', () => {
  it('serves the rows in scope, and none outside ({ published: true })', async () => {
    const app = appFor({ where: () => ({ published: true }) })
    expect(await get(app, 'a')).toMatchObject({ status: 200, body: '%PDF-a' })
    expect(await statuses(app)).toEqual({ a: 200, b: 404, c: 200 })
  })

  it('answers a row out of scope exactly as a missing one', async () => {
    const app = appFor({ where: () => ({ published: true }) })
    const outOfScope = await get(app, 'b')
    const missing = await get(app, 'nope')
    expect(outOfScope.status).toBe(404)
    expect(outOfScope).toEqual(missing)
  })

  it('scopes by a value of the request ({ tenantId })', async () => {
    const app = appFor({ where: ({ req }) => ({ tenantId: Number(header(req, 'x-tenant')) }) })
    expect(await statuses(app, { tenant: 1 })).toEqual({ a: 200, b: 200, c: 404 })
    expect(await statuses(app, { tenant: 2 })).toEqual({ a: 404, b: 404, c: 200 })
  })

  it("scopes by a many-to-one relation's id through its join column ({ owner: { id } })", async () => {
    const app = appFor({ where: ({ req }) => ({ owner: { id: Number(header(req, 'x-user')) } }) })
    expect(await statuses(app, { user: alice })).toEqual({ a: 200, b: 404, c: 404 })
    expect(await statuses(app, { user: bob })).toEqual({ a: 404, b: 200, c: 404 })
  })

  it('matches NULL with IsNull()', async () => {
    expect(await statuses(appFor({ where: () => ({ archivedAt: IsNull() }) }))).toEqual({
      a: 200,
      b: 200,
      c: 404,
    })
    expect(await statuses(appFor({ where: () => ({ owner: IsNull() }) }))).toEqual({ a: 404, b: 404, c: 200 })
  })

  it('matches a list with In(), and nothing with an empty one', async () => {
    expect(await statuses(appFor({ where: () => ({ tenantId: In([2, 3]) }) }))).toEqual({
      a: 404,
      b: 404,
      c: 200,
    })
    expect(await statuses(appFor({ where: () => ({ tenantId: In([]) }) }))).toEqual({
      a: 404,
      b: 404,
      c: 404,
    })
  })

  it('ORs an array of scopes, and matches nothing with an empty array', async () => {
    const either = appFor({ where: () => [{ tenantId: 2 }, { owner: { id: bob.id } }] })
    expect(await statuses(either)).toEqual({ a: 404, b: 200, c: 200 })
    expect(await statuses(appFor({ where: () => [] }))).toEqual({ a: 404, b: 404, c: 404 })
  })

  it('awaits a scope that a promise gives', async () => {
    const app = appFor({ where: async () => ({ published: false }) })
    expect(await statuses(app)).toEqual({ a: 404, b: 200, c: 404 })
  })

  it('scopes the same way without the prepared statement (prepare: false)', async () => {
    const app = appFor({
      prepare: false,
      where: ({ req }) => ({ tenantId: Number(header(req, 'x-tenant')) }),
    })
    expect(await statuses(app, { tenant: 2 })).toEqual({ a: 404, b: 404, c: 200 })
  })

  describe('on the prepared statement', () => {
    let spy: jest.SpyInstance

    beforeEach(() => {
      spy = jest.spyOn(pool(), 'query')
    })

    afterEach(() => spy.mockRestore())

    /** The statements sent to the pool so far: name, text and values. */
    const sent = () =>
      spy.mock.calls.map(([config]) => config as { name: string; text: string; values: unknown[] })

    it('sends the values as parameters, and one statement name for one shape', async () => {
      const app = appFor({
        where: ({ req }) => ({ tenantId: Number(header(req, 'x-tenant')), published: true }),
      })
      await get(app, 'a', { tenant: 1 })
      await get(app, 'c', { tenant: 2 })
      const [first, second] = sent()
      expect(first?.text).toBe(second?.text)
      expect(first?.name).toBe(second?.name)
      expect(first?.text).toMatch(/"entity"\."tenant_id" = \$2 AND "entity"\."published" = \$3/)
      expect(first?.values).toEqual(['a', 1, true])
      expect(second?.values).toEqual(['c', 2, true])
    })

    it('gives another shape another statement', async () => {
      await get(appFor({ where: () => ({ tenantId: 1 }) }), 'a')
      await get(appFor({ where: () => ({ tenantId: In([1]) }) }), 'a')
      const [equal, list] = sent()
      expect(equal?.name).not.toBe(list?.name)
      expect(list?.text).toMatch(/"entity"\."tenant_id" = ANY\(\$2\)/)
    })

    it('batches the lookups of one turn by scope values, each answered by its own row', async () => {
      const view = viewOf({ where: ({ req }) => ({ tenantId: Number(header(req, 'x-tenant')) }) })
      const asked: [slug: string, tenant: number][] = []
      for (let i = 0; i < 10; i++) asked.push(['a', 1], ['b', 1], ['c', 1], ['a', 2], ['c', 2])
      const found = await Promise.all(
        asked.map(([slug, tenant]) =>
          view
            .getObject({
              req: { headers: { 'x-tenant': String(tenant) } } as unknown as http.IncomingMessage,
              params: { slug },
            })
            .then(
              (row) => row.pdf?.path,
              () => 'none',
            ),
        ),
      )
      const expected = asked.map(([slug, tenant]) =>
        (tenant === 1 ? ['a', 'b'] : ['c']).includes(slug) ? `reports/${slug}.pdf` : 'none',
      )
      expect(found).toEqual(expected)
      // One batched query per scope value: tenant 1, tenant 2.
      expect(sent().map((config) => config.values.slice(1))).toEqual([[1], [2]])
      expect(sent().every((config) => config.text.includes('unnest($1::text[])'))).toBe(true)
    })
  })

  describe('when the scope cannot be compiled', () => {
    it('answers 500, logs the reason once, and keeps serving', async () => {
      const logger = recordingLogger()
      const app = appFor({ logger, where: () => ({ slug: Raw((alias) => `${alias} <> ''`) }) })
      for (let i = 0; i < 3; i++) expect((await get(app, 'a')).status).toBe(500)
      expect(logger.errors).toEqual([
        expect.stringMatching(
          /^ObjectDownloadView: option "where": the scope of Report has raw\(\) on "slug"/,
        ),
      ])
      expect((await get(appFor(), 'a')).status).toBe(200)
    })

    it('answers 500 for a where that returns nothing, rather than serving every row', async () => {
      const where = (() => undefined) as unknown as ReportOptions['where']
      expect(await statuses(appFor({ logger: recordingLogger(), where }))).toEqual({ a: 500, b: 500, c: 500 })
      const query: ReportOptions['query'] = (builder) => builder
      expect(await statuses(appFor({ logger: recordingLogger(), where, query }))).toEqual({
        a: 500,
        b: 500,
        c: 500,
      })
    })

    it('answers 500 for an undefined value rather than serving every row', async () => {
      const app = appFor({ logger: recordingLogger(), where: () => ({ tenantId: undefined }) })
      expect(await statuses(app)).toEqual({ a: 500, b: 500, c: 500 })
    })
  })
})

describe('ObjectDownloadView with an authorize hook', () => {
  const asked = (req: http.IncomingMessage) => Number(header(req, 'x-user'))

  it('serves the row when the hook returns true or nothing', async () => {
    expect((await get(appFor({ authorize: () => true }), 'a')).status).toBe(200)
    expect((await get(appFor({ authorize: () => undefined }), 'a')).status).toBe(200)
    expect((await get(appFor({ authorize: async () => {} }), 'a')).status).toBe(200)
  })

  it('answers 404, as for a missing row, when the hook returns false', async () => {
    const app = appFor({ select: ['owner'], authorize: ({ req }, row) => row.owner?.id === asked(req) })
    expect(await get(app, 'a', { user: alice })).toMatchObject({ status: 200, body: '%PDF-a' })
    const refused = await get(app, 'a', { user: bob })
    expect(refused.status).toBe(404)
    expect(refused).toEqual(await get(app, 'nope', { user: bob }))
  })

  it('answers 403 when the hook throws AccessDeniedError', async () => {
    const app = appFor({
      select: ['owner'],
      authorize: ({ req }, row) => {
        if (row.owner?.id !== asked(req)) throw new AccessDeniedError(`${row.slug} is not yours`)
        return true
      },
    })
    expect((await get(app, 'b', { user: alice })).status).toBe(403)
    expect((await get(app, 'b', { user: bob })).status).toBe(200)
  })

  it('sees the row with what `select` loads (a relation as { id }), and only that', async () => {
    const seen: Report[] = []
    const app = appFor({
      select: ['owner', 'published'],
      authorize: (_request, row) => {
        seen.push(row)
        return true
      },
    })
    await get(app, 'a')
    expect(seen[0]).toMatchObject({
      owner: { id: alice.id },
      published: true,
      pdf: { path: 'reports/a.pdf' },
    })
    expect(seen[0]?.tenantId).toBeUndefined()
  })

  it('is never asked about a row out of scope', async () => {
    const hook = jest.fn(() => true)
    const app = appFor({ where: () => ({ published: true }), authorize: hook })
    expect((await get(app, 'b')).status).toBe(404)
    expect(hook).not.toHaveBeenCalled()
  })

  it('throws a ConfigurationError naming "authorize" for a hook that is not a function', () => {
    expect(() => viewOf({ authorize: true as unknown as ReportOptions['authorize'] })).toThrow(
      new ConfigurationError(
        'ObjectDownloadView: option "authorize" must be a function of the request and the row',
      ),
    )
  })
})

describe('ObjectDownloadView with a query hook', () => {
  /** Only the reports whose owner's name is the `x-user` header, through a join. */
  const ownedByName: ReportOptions['query'] = (query, { req }: DownloadRequest) =>
    query
      .innerJoin(`${query.alias}.owner`, 'owner')
      .andWhere('owner.name = :name', { name: header(req, 'x-user-name') })

  async function getAs(app: express.Express, slug: string, name: string) {
    return (await request(app).get(`/r/${slug}`).set('X-User-Name', name)).status
  }

  it('runs the lookup through the QueryBuilder the hook changed (a join)', async () => {
    const app = appFor({ query: ownedByName })
    expect(await getAs(app, 'a', 'alice')).toBe(200)
    expect(await getAs(app, 'b', 'alice')).toBe(404)
    expect(await getAs(app, 'b', 'bob')).toBe(200)
    expect(await getAs(app, 'c', 'bob')).toBe(404)
  })

  it('keeps the where scope on that QueryBuilder', async () => {
    const app = appFor({ query: ownedByName, where: () => ({ published: true }) })
    expect(await getAs(app, 'a', 'alice')).toBe(200)
    expect(await getAs(app, 'b', 'bob')).toBe(404)
  })

  it('takes a hook that changes the QueryBuilder and returns nothing', async () => {
    const app = appFor({
      query: (query) => {
        query.andWhere(`${query.alias}.tenantId = :tenant`, { tenant: 2 })
      },
    })
    expect(await statuses(app)).toEqual({ a: 404, b: 404, c: 200 })
  })

  it('loads the whole entity for the authorize hook', async () => {
    const seen: Report[] = []
    const app = appFor({
      query: (query) => query,
      authorize: (_request, row) => {
        seen.push(row)
        return true
      },
    })
    expect((await get(app, 'c')).status).toBe(200)
    expect(seen[0]).toMatchObject({ slug: 'c', tenantId: 2, published: true })
  })

  it.each<[string, NonNullable<ReportOptions['query']>]>([
    ['replaces the lookup with where()', (query) => query.where('1 = 1')],
    ['widens it with orWhere()', (query) => query.orWhere(`${query.alias}.published = true`)],
    ['returns another QueryBuilder', () => dataSource.createQueryBuilder(Report, 'report')],
  ])('answers 500 and logs it once when the hook %s', async (_how, query) => {
    const logger = recordingLogger()
    const app = appFor({ logger, query, where: () => ({ tenantId: 2 }) })
    expect((await get(app, 'a')).status).toBe(500)
    expect((await get(app, 'b')).status).toBe(500)
    expect(logger.errors).toEqual([
      'ObjectDownloadView: option "query" replaced or widened the lookup\'s conditions (with where() or orWhere()); add conditions with andWhere()',
    ])
  })

  it('answers a value that cannot match the column 404 without a query', async () => {
    const hook = jest.fn((query: Parameters<NonNullable<ReportOptions['query']>>[0]) => query)
    const view = new ObjectDownloadView<Report>({ dataSource, entity: Report, file: 'pdf', query: hook })
    const app = express()
    app.get('/i/:id', toHandler(view))
    expect((await request(app).get('/i/not-a-number')).status).toBe(404)
    expect(hook).not.toHaveBeenCalled()
    expect((await request(app).get('/i/1')).status).toBe(200)
    expect(hook).toHaveBeenCalledTimes(1)
  })
})
