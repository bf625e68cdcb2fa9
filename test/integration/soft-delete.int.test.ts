/**
 * ObjectDownloadView on an entity with `@DeleteDateColumn()`, on real Postgres: a row that
 * `softRemove()` marked is a 404, as TypeORM's own `findOneBy` has it, unless the view says
 * `withDeleted: true`; both the single and the batched lookup, prepared or not.
 */
import express from 'express'
import request from 'supertest'
import {
  Column,
  type DataSource,
  DeleteDateColumn,
  Entity,
  type MigrationInterface,
  PrimaryGeneratedColumn,
  type QueryRunner,
} from 'typeorm'
import { ConfigurationError, FileColumn, ObjectDownloadView, StoredFile, storages } from '../../src'
import { toHandler } from '../../src/express'
import { binaryParser } from '../../src/testing'
import { createTestDataSource } from '../helpers/database'
import { temporaryStorage } from '../helpers/storage'

@Entity({ name: 'test_soft_invoice' })
class Invoice {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text', unique: true })
  slug!: string

  @FileColumn()
  pdf!: StoredFile | null

  @DeleteDateColumn({ type: 'timestamptz', name: 'deleted_at' })
  deletedAt!: Date | null
}

class CreateInvoice1700000000001 implements MigrationInterface {
  name = 'CreateInvoice1700000000001'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "test_soft_invoice" (
        "id" SERIAL PRIMARY KEY,
        "slug" text NOT NULL UNIQUE,
        "pdf_path" text, "pdf_name" text, "pdf_size" bigint, "pdf_content_type" text,
        "pdf_modified_at" TIMESTAMP WITH TIME ZONE, "pdf_sha256" character(64), "pdf_crc32" bigint,
        "deleted_at" TIMESTAMP WITH TIME ZONE
      )`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE "test_soft_invoice"')
  }
}

let dataSource: DataSource
let removeMedia: () => Promise<void>

beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  storages.register('default', media.storage)
  await media.storage.save('invoices/a.pdf', '%PDF-a')
  await media.storage.save('invoices/b.pdf', '%PDF-b')
  dataSource = await createTestDataSource({ entities: [Invoice], migrations: [CreateInvoice1700000000001] })
  const invoices = dataSource.getRepository(Invoice)
  for (const slug of ['a', 'b']) {
    await invoices.save(
      invoices.create({ slug, pdf: Object.assign(new StoredFile(), { path: `invoices/${slug}.pdf` }) }),
    )
  }
  await invoices.softRemove(await invoices.findOneByOrFail({ slug: 'b' }))
})

afterAll(async () => {
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

function appFor(options: { withDeleted?: boolean; prepare?: boolean } = {}) {
  const app = express()
  const view = new ObjectDownloadView({
    dataSource,
    entity: Invoice,
    lookup: 'slug',
    file: 'pdf',
    ...options,
  })
  app.all('/invoices/:slug', toHandler(view))
  return app
}

describe('ObjectDownloadView on a soft-deletable entity', () => {
  it('sees the row as TypeORM does: gone for findOneBy, there with withDeleted', async () => {
    const invoices = dataSource.getRepository(Invoice)
    expect(await invoices.findOneBy({ slug: 'b' })).toBeNull()
    expect(await invoices.findOne({ where: { slug: 'b' }, withDeleted: true })).not.toBeNull()
  })

  it.each([
    ['prepared and batched', {}],
    ['through DataSource.query()', { prepare: false }],
  ])('answers a soft-deleted row 404 and a live one 200 (%s)', async (_how, options) => {
    const app = appFor(options)
    expect((await request(app).get('/invoices/b')).status).toBe(404)
    const live = await request(app).get('/invoices/a').buffer(true).parse(binaryParser)
    expect(live.status).toBe(200)
    expect(String(live.body)).toBe('%PDF-a')
  })

  it('answers lookups that go to Postgres together (one batch) each by its own row', async () => {
    const app = appFor()
    const [a, b] = await Promise.all([request(app).get('/invoices/a'), request(app).get('/invoices/b')])
    expect([a.status, b.status]).toEqual([200, 404])
  })

  it('serves a soft-deleted row with withDeleted: true', async () => {
    const response = await request(appFor({ withDeleted: true }))
      .get('/invoices/b')
      .buffer(true)
      .parse(binaryParser)
    expect(response.status).toBe(200)
    expect(String(response.body)).toBe('%PDF-b')
  })

  it('throws a ConfigurationError naming "withDeleted" for a value that is not a boolean', () => {
    expect(() => appFor({ withDeleted: 'yes' as unknown as boolean })).toThrow(
      new ConfigurationError('ObjectDownloadView: option "withDeleted" must be true or false'),
    )
  })
})
