/**
 * ObjectDownloadView lookups that follow TypeORM's metadata, on real Postgres: an entity in another
 * schema (beside a table of the same name in `public`), single-table inheritance (a child entity
 * finds only its own rows), a lookup column inside an embedded entity, uuid and bigint primary
 * keys, numeric and varchar unique columns; alone and batched. The CLI scans the same tables with
 * the same SQL builder.
 */
import type http from 'node:http'
import express from 'express'
import request from 'supertest'
import {
  ChildEntity,
  Column,
  type DataSource,
  Entity,
  type EntityMetadata,
  type MigrationInterface,
  PrimaryGeneratedColumn,
  type QueryRunner,
  TableInheritance,
} from 'typeorm'
import {
  FileColumn,
  ObjectDownloadView,
  type ObjectDownloadViewOptions,
  StoredFile,
  storages,
} from '../../src'
import type { BackfillOptions } from '../../src/cli/args'
import { parseArguments } from '../../src/cli/args'
import { runBackfill } from '../../src/cli/backfill'
import { findFileEntities, rawPages, ScanTable } from '../../src/cli/scan'
import { toHandler } from '../../src/express'
import type { LocalStorage } from '../../src/storage/local-storage'
import { binaryParser } from '../../src/testing'
import { createTestDataSource } from '../helpers/database'
import { temporaryStorage } from '../helpers/storage'

@Entity({ name: 'invoice', schema: 'media' })
class Invoice {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @FileColumn()
  file!: StoredFile | null
}

@Entity({ name: 'test_attachment' })
@TableInheritance({ column: { type: 'varchar', name: 'kind' } })
class Attachment {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text', unique: true })
  slug!: string

  @FileColumn()
  file!: StoredFile | null
}

@ChildEntity('photo')
class PhotoAttachment extends Attachment {}

@ChildEntity('scan')
class ScanAttachment extends Attachment {}

class SheetMeta {
  @Column({ type: 'int', unique: true })
  code!: number

  @Column({ type: 'text' })
  label!: string
}

@Entity({ name: 'test_sheet' })
class Sheet {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column(() => SheetMeta)
  meta!: SheetMeta

  @FileColumn()
  file!: StoredFile | null
}

@Entity({ name: 'test_upload' })
class Upload {
  @PrimaryGeneratedColumn('uuid')
  id!: string

  @FileColumn()
  file!: StoredFile | null
}

@Entity({ name: 'test_ticket' })
class Ticket {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string

  @Column({ type: 'numeric', precision: 12, scale: 0, unique: true })
  code!: string

  @Column({ type: 'varchar', length: 40, unique: true })
  slug!: string

  @FileColumn()
  file!: StoredFile | null
}

const FILE_COLUMNS = `"file_path" text, "file_name" text, "file_size" bigint, "file_content_type" text,
  "file_modified_at" TIMESTAMP WITH TIME ZONE, "file_sha256" character(64), "file_crc32" bigint`

class CreateTables1700000000001 implements MigrationInterface {
  name = 'CreateTables1700000000001'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('CREATE SCHEMA "media"')
    await queryRunner.query(`CREATE TABLE "media"."invoice" ("id" SERIAL PRIMARY KEY, ${FILE_COLUMNS})`)
    // A table of the same name in the default schema, which the entity is not.
    await queryRunner.query(`CREATE TABLE "public"."invoice" ("id" SERIAL PRIMARY KEY, ${FILE_COLUMNS})`)
    await queryRunner.query(`CREATE TABLE "test_attachment" (
      "id" SERIAL PRIMARY KEY, "slug" text NOT NULL UNIQUE, "kind" varchar NOT NULL, ${FILE_COLUMNS})`)
    await queryRunner.query(`CREATE TABLE "test_sheet" (
      "id" SERIAL PRIMARY KEY, "metaCode" integer NOT NULL UNIQUE, "metaLabel" text NOT NULL, ${FILE_COLUMNS})`)
    await queryRunner.query(`CREATE TABLE "test_upload" (
      "id" uuid PRIMARY KEY DEFAULT gen_random_uuid(), ${FILE_COLUMNS})`)
    await queryRunner.query(`CREATE TABLE "test_ticket" (
      "id" BIGSERIAL PRIMARY KEY, "code" numeric(12, 0) NOT NULL UNIQUE, "slug" varchar(40) NOT NULL UNIQUE,
      ${FILE_COLUMNS})`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['test_ticket', 'test_upload', 'test_sheet', 'test_attachment', 'public.invoice'])
      await queryRunner.query(`DROP TABLE ${table}`)
    await queryRunner.query('DROP SCHEMA "media" CASCADE')
  }
}

let dataSource: DataSource
let storage: LocalStorage
let removeMedia: () => Promise<void>
let upload: Upload
let spy: jest.SpyInstance | undefined

/** A StoredFile for `key`, whose content (`content of <key>`) is saved first. */
async function fileAt(key: string): Promise<StoredFile> {
  await storage.save(key, `content of ${key}`)
  return Object.assign(new StoredFile(), { path: key })
}

beforeAll(async () => {
  const media = await temporaryStorage()
  storage = media.storage
  removeMedia = media.remove
  storages.register('default', storage)
  dataSource = await createTestDataSource({
    entities: [Invoice, Attachment, PhotoAttachment, ScanAttachment, Sheet, Upload, Ticket],
    migrations: [CreateTables1700000000001],
  })
  await dataSource.getRepository(Invoice).save({ file: await fileAt('media/invoice-1.pdf') })
  await dataSource.query(`INSERT INTO "public"."invoice" ("file_path") VALUES ('public/invoice-1.pdf')`)
  await storage.save('public/invoice-1.pdf', 'the wrong table')
  for (const slug of ['sunset', 'beach']) {
    await dataSource.getRepository(PhotoAttachment).save({ slug, file: await fileAt(`photos/${slug}.jpg`) })
  }
  await dataSource
    .getRepository(ScanAttachment)
    .save({ slug: 'receipt', file: await fileAt('scans/receipt.pdf') })
  for (const code of [7, 8]) {
    await dataSource
      .getRepository(Sheet)
      .save({ meta: { code, label: `sheet ${code}` }, file: await fileAt(`sheets/${code}.csv`) })
  }
  upload = await dataSource.getRepository(Upload).save({ file: await fileAt('uploads/one.bin') })
  await dataSource.query(
    `INSERT INTO "test_ticket" ("id", "code", "slug", "file_path") VALUES (5000000000, 1001, 'first', 'tickets/1001.txt')`,
  )
  await storage.save('tickets/1001.txt', 'content of tickets/1001.txt')
})

afterEach(() => {
  spy?.mockRestore()
  spy = undefined
})

afterAll(async () => {
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

/** An app that serves a view of `entity` with `options` at `route`. */
function appFor<E extends object>(
  entity: new () => E,
  route: string,
  options: Partial<ObjectDownloadViewOptions<E>>,
) {
  const app = express()
  app.get(
    route,
    toHandler(
      new ObjectDownloadView<E>({ dataSource, entity, file: 'file' as keyof E & string, ...options }),
    ),
  )
  return app
}

/** GET `path`: its status and body. */
async function get(app: express.Express, path: string): Promise<{ status: number; body: string }> {
  const response = await request(app).get(path).buffer(true).parse(binaryParser)
  return { status: response.status, body: response.status === 200 ? String(response.body) : '' }
}

/**
 * The file path each of `values` finds through one view, all looked up in the same turn of the
 * event loop (`'none'` for a 404), and how many statements went to the pool for them.
 */
async function lookUpTogether<E extends object>(
  entity: new () => E,
  options: Partial<ObjectDownloadViewOptions<E>>,
  param: string,
  values: string[],
): Promise<{ found: string[]; queries: number }> {
  const view = new ObjectDownloadView<E>({ dataSource, entity, file: 'file' as keyof E & string, ...options })
  const pool = (dataSource.driver as unknown as { master: { query: () => unknown } }).master
  spy = jest.spyOn(pool, 'query')
  const found = await Promise.all(
    values.map((value) =>
      view.getObject({ req: {} as http.IncomingMessage, params: { [param]: value } }).then(
        (row) => ((row as { file?: StoredFile | null }).file?.path ?? 'empty') as string,
        () => 'none',
      ),
    ),
  )
  return { found, queries: spy.mock.calls.length }
}

describe('ObjectDownloadView on an entity in another schema', () => {
  it('finds the row in its schema, not in the table of the same name in public', async () => {
    const app = appFor(Invoice, '/invoices/:id', { lookup: 'id' })
    expect(await get(app, '/invoices/1')).toEqual({ status: 200, body: 'content of media/invoice-1.pdf' })
    expect((await get(app, '/invoices/2')).status).toBe(404)
  })

  it('does the same batched', async () => {
    const { found, queries } = await lookUpTogether(Invoice, { lookup: 'id' }, 'id', ['1', '2', '1'])
    expect(found).toEqual(['media/invoice-1.pdf', 'none', 'media/invoice-1.pdf'])
    expect(queries).toBe(1)
  })
})

describe('ObjectDownloadView on a child entity of single-table inheritance', () => {
  const photos = () => appFor(PhotoAttachment, '/photos/:slug', { lookup: 'slug' })

  it('finds the rows of its own type', async () => {
    expect(await get(photos(), '/photos/sunset')).toEqual({
      status: 200,
      body: 'content of photos/sunset.jpg',
    })
  })

  it("answers 404 for another child's row, as for a missing one", async () => {
    expect((await get(photos(), '/photos/receipt')).status).toBe(404)
    expect(
      (await get(appFor(ScanAttachment, '/scans/:slug', { lookup: 'slug' }), '/scans/sunset')).status,
    ).toBe(404)
  })

  it('does the same batched, and without the prepared statement', async () => {
    const { found, queries } = await lookUpTogether(PhotoAttachment, { lookup: 'slug' }, 'slug', [
      'sunset',
      'receipt',
      'beach',
    ])
    expect(found).toEqual(['photos/sunset.jpg', 'none', 'photos/beach.jpg'])
    expect(queries).toBe(1)
    const plain = appFor(PhotoAttachment, '/photos/:slug', { lookup: 'slug', prepare: false })
    expect((await get(plain, '/photos/receipt')).status).toBe(404)
    expect((await get(plain, '/photos/beach')).status).toBe(200)
  })

  it("serves every child's rows through the root entity, each as an instance of its child", async () => {
    const app = appFor(Attachment, '/attachments/:slug', { lookup: 'slug' })
    expect((await get(app, '/attachments/sunset')).status).toBe(200)
    expect((await get(app, '/attachments/receipt')).status).toBe(200)
    const view = new ObjectDownloadView({ dataSource, entity: Attachment, lookup: 'slug', file: 'file' })
    const row = await view.getObject({ req: {} as http.IncomingMessage, params: { slug: 'receipt' } })
    expect(row).toBeInstanceOf(ScanAttachment)
  })

  it('keeps the discriminator in the query of the query hook too', async () => {
    const app = appFor(PhotoAttachment, '/photos/:slug', { lookup: 'slug', query: (query) => query })
    expect((await get(app, '/photos/receipt')).status).toBe(404)
    expect((await get(app, '/photos/sunset')).status).toBe(200)
  })
})

describe('ObjectDownloadView with the lookup column inside an embedded entity', () => {
  const sheets = (options: Partial<ObjectDownloadViewOptions<Sheet>> = {}) =>
    appFor(Sheet, '/sheets/:code', { lookup: { param: 'code', column: 'meta.code' }, ...options })

  it('finds the row by the embedded column', async () => {
    expect(await get(sheets(), '/sheets/8')).toEqual({ status: 200, body: 'content of sheets/8.csv' })
    expect((await get(sheets(), '/sheets/9')).status).toBe(404)
  })

  it('answers 404 for a value of another type, without an error', async () => {
    expect((await get(sheets(), '/sheets/eight')).status).toBe(404)
  })

  it('does the same batched', async () => {
    const { found, queries } = await lookUpTogether(
      Sheet,
      { lookup: { param: 'code', column: 'meta.code' } },
      'code',
      ['7', '8', '9', 'x'],
    )
    expect(found).toEqual(['sheets/7.csv', 'sheets/8.csv', 'none', 'none'])
    expect(queries).toBe(1)
  })

  it('scopes by an embedded column, and selects the embedded entity for the hooks', async () => {
    const seen: Sheet[] = []
    const app = sheets({
      select: ['meta'],
      where: () => ({ meta: { label: 'sheet 7' } }),
      authorize: (_request, row) => {
        seen.push(row)
        return true
      },
    })
    expect((await get(app, '/sheets/7')).status).toBe(200)
    expect((await get(app, '/sheets/8')).status).toBe(404)
    expect(seen.map((row) => row.meta)).toEqual([{ code: 7, label: 'sheet 7' }])
  })
})

describe('ObjectDownloadView with a uuid primary key', () => {
  const uploads = () => appFor(Upload, '/uploads/:id', { lookup: 'id' })

  it('finds the row by its uuid, in either case', async () => {
    expect(await get(uploads(), `/uploads/${upload.id}`)).toEqual({
      status: 200,
      body: 'content of uploads/one.bin',
    })
    expect((await get(uploads(), `/uploads/${upload.id.toUpperCase()}`)).status).toBe(200)
  })

  it('answers 404 for a malformed uuid and a missing one', async () => {
    expect((await get(uploads(), '/uploads/not-a-uuid')).status).toBe(404)
    expect((await get(uploads(), '/uploads/00000000-0000-4000-8000-000000000000')).status).toBe(404)
  })

  it('does the same batched', async () => {
    const { found, queries } = await lookUpTogether(Upload, { lookup: 'id' }, 'id', [
      upload.id,
      '00000000-0000-4000-8000-000000000000',
      'nope',
    ])
    expect(found).toEqual(['uploads/one.bin', 'none', 'none'])
    expect(queries).toBe(1)
  })
})

describe('ObjectDownloadView by other unique columns', () => {
  it('finds a row by a numeric code, and answers 404 for a value that is no number', async () => {
    const app = appFor(Ticket, '/tickets/:code', { lookup: { param: 'code' } })
    expect(await get(app, '/tickets/1001')).toEqual({ status: 200, body: 'content of tickets/1001.txt' })
    expect((await get(app, '/tickets/1001.5')).status).toBe(404)
    expect((await get(app, '/tickets/abc')).status).toBe(404)
  })

  it('finds a row by a varchar slug', async () => {
    const app = appFor(Ticket, '/tickets/:slug', { lookup: 'slug' })
    expect((await get(app, '/tickets/first')).status).toBe(200)
    expect((await get(app, '/tickets/second')).status).toBe(404)
  })

  it('finds a row by a bigint key above 2^31, and gives the key as TypeORM does', async () => {
    const app = appFor(Ticket, '/tickets/:id', { lookup: 'id' })
    expect((await get(app, '/tickets/5000000000')).status).toBe(200)
    expect((await get(app, '/tickets/9223372036854775808')).status).toBe(404)
    const view = new ObjectDownloadView({ dataSource, entity: Ticket, lookup: 'id', file: 'file' })
    const row = await view.getObject({ req: {} as http.IncomingMessage, params: { id: '5000000000' } })
    expect(row.id).toEqual((await dataSource.getRepository(Ticket).findOneByOrFail({ slug: 'first' })).id)
  })

  it('does the same batched, each column with its own type', async () => {
    for (const [lookup, values] of [
      ['code', ['1001', '1002', 'abc']],
      ['slug', ['first', 'second', 'third']],
      ['id', ['5000000000', '1', 'x']],
    ] as const) {
      const { found, queries } = await lookUpTogether(
        Ticket,
        { lookup: { param: 'v', column: lookup } },
        'v',
        [...values],
      )
      expect([lookup, found]).toEqual([lookup, ['tickets/1001.txt', 'none', 'none']])
      expect([lookup, queries]).toEqual([lookup, 1])
      spy?.mockRestore()
    }
  })
})

describe('The CLI on the same tables', () => {
  const metadataOf = (entity: Function): EntityMetadata => dataSource.getMetadata(entity)
  const scan = (entity: Function) => {
    const found = findFileEntities(dataSource).find((each) => each.metadata === metadataOf(entity))
    if (!found) throw new Error(`${entity.name} has no file columns`)
    return new ScanTable(dataSource, found)
  }

  it("pages through a child entity's rows only", async () => {
    const photos = scan(PhotoAttachment)
    expect(await photos.count([photos.anyFile()], undefined)).toBe(2)
    const keys: unknown[] = []
    for await (const page of rawPages(photos, [photos.anyFile()], 1)) keys.push(...page.map((row) => row.key))
    const ids = await dataSource.getRepository(PhotoAttachment).find({ order: { id: 'ASC' } })
    expect(keys).toEqual(ids.map((row) => [row.id]))
  })

  it('reads the table in its schema', async () => {
    const invoices = scan(Invoice)
    const paths: unknown[] = []
    for await (const page of rawPages(invoices, [invoices.anyFile()], 10))
      for (const row of page) paths.push(...[...row.files.values()].map((fields) => fields.path))
    expect(paths).toEqual(['media/invoice-1.pdf'])
  })

  it('backfills the metadata of rows in another schema and of a child entity', async () => {
    await dataSource.query('UPDATE "media"."invoice" SET "file_size" = NULL')
    await dataSource.query(`UPDATE "test_attachment" SET "file_sha256" = NULL WHERE "slug" = 'beach'`)
    let stdout = ''
    const options = parseArguments(['backfill', '-d', 'unused', '--json', '--quiet']) as BackfillOptions
    const status = await runBackfill(
      { ...options, entities: ['Invoice', 'PhotoAttachment'] },
      {
        dataSource,
        entities: findFileEntities(dataSource),
        stdout: { write: (text: string) => (stdout += text) },
        stderr: { write: () => true },
        now: Date.now,
      },
    )
    expect(status).toBe(0)
    expect(JSON.parse(stdout)).toMatchObject({ ok: true })
    const [invoice] = await dataSource.query('SELECT "file_size" FROM "media"."invoice"')
    expect(Number(invoice.file_size)).toBe('content of media/invoice-1.pdf'.length)
    const [beach] = await dataSource.query(
      `SELECT "file_sha256" FROM "test_attachment" WHERE "slug" = 'beach'`,
    )
    expect(beach.file_sha256).toMatch(/^[0-9a-f]{64}$/)
  })
})
