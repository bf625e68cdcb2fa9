/**
 * ObjectDownloadView and the CLI on a DataSource with a snake_case naming strategy, as apps write
 * it (or take it from typeorm-naming-strategies): table, column, embedded and join column names all
 * come from the strategy, and every query follows TypeORM's metadata, on real Postgres.
 */
import type http from 'node:http'
import express from 'express'
import request from 'supertest'
import {
  Column,
  DataSource,
  DefaultNamingStrategy,
  Entity,
  ManyToOne,
  type MigrationInterface,
  type NamingStrategyInterface,
  PrimaryGeneratedColumn,
  type QueryRunner,
} from 'typeorm'
import {
  FileColumn,
  FileColumnSubscriber,
  ObjectDownloadView,
  type ObjectDownloadViewOptions,
  StoredFile,
  storages,
} from '../../src'
import type { BackfillOptions } from '../../src/cli/args'
import { parseArguments } from '../../src/cli/args'
import { runBackfill } from '../../src/cli/backfill'
import { findFileEntities, ScanTable } from '../../src/cli/scan'
import { toHandler } from '../../src/express'
import type { LocalStorage } from '../../src/storage/local-storage'
import { binaryParser } from '../../src/testing'
import { freshDataSource } from '../helpers/database'
import { temporaryStorage } from '../helpers/storage'

/** `publicSlug` → `public_slug`, `ReportCard` → `report_card`. */
function snakeCase(name: string): string {
  return name
    .replace(/([A-Z])([A-Z])([a-z])/g, '$1_$2$3')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
}

/** The snake_case strategy as typeorm-naming-strategies writes it (the parts these entities use). */
class SnakeNamingStrategy extends DefaultNamingStrategy implements NamingStrategyInterface {
  override tableName(className: string, customName: string | undefined): string {
    return customName ?? snakeCase(className)
  }

  override columnName(
    propertyName: string,
    customName: string | undefined,
    embeddedPrefixes: string[],
  ): string {
    return snakeCase(embeddedPrefixes.concat('').join('_')) + (customName ?? snakeCase(propertyName))
  }

  override relationName(propertyName: string): string {
    return snakeCase(propertyName)
  }

  override joinColumnName(relationName: string, referencedColumnName: string): string {
    return snakeCase(`${relationName}_${referencedColumnName}`)
  }
}

@Entity()
class SchoolTeacher {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text' })
  fullName!: string
}

class CardMeta {
  @Column({ type: 'int', unique: true })
  termCode!: number
}

@Entity()
class ReportCard {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text', unique: true })
  publicSlug!: string

  @Column({ type: 'text' })
  displayName!: string

  @Column(() => CardMeta)
  meta!: CardMeta

  @ManyToOne(() => SchoolTeacher)
  homeTeacher!: SchoolTeacher

  @FileColumn()
  pdfFile!: StoredFile | null
}

class CreateReportCards1700000000001 implements MigrationInterface {
  name = 'CreateReportCards1700000000001'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "school_teacher" ("id" SERIAL PRIMARY KEY, "full_name" text NOT NULL)`,
    )
    await queryRunner.query(`
      CREATE TABLE "report_card" (
        "id" SERIAL PRIMARY KEY,
        "public_slug" text NOT NULL UNIQUE,
        "display_name" text NOT NULL,
        "meta_term_code" integer NOT NULL UNIQUE,
        "home_teacher_id" integer NOT NULL REFERENCES "school_teacher" ("id"),
        "pdf_file_path" text, "pdf_file_name" text, "pdf_file_size" bigint, "pdf_file_content_type" text,
        "pdf_file_modified_at" TIMESTAMP WITH TIME ZONE, "pdf_file_sha256" character(64),
        "pdf_file_crc32" bigint
      )`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE "report_card"')
    await queryRunner.query('DROP TABLE "school_teacher"')
  }
}

let dataSource: DataSource
let storage: LocalStorage
let removeMedia: () => Promise<void>
let teachers: SchoolTeacher[]

beforeAll(async () => {
  const media = await temporaryStorage()
  storage = media.storage
  removeMedia = media.remove
  storages.register('default', storage)
  dataSource = await freshDataSource(
    (url) =>
      new DataSource({
        type: 'postgres',
        url,
        entities: [SchoolTeacher, ReportCard],
        migrations: [CreateReportCards1700000000001],
        subscribers: [FileColumnSubscriber],
        namingStrategy: new SnakeNamingStrategy(),
      }),
  )
  teachers = await dataSource
    .getRepository(SchoolTeacher)
    .save([{ fullName: 'Ms Frizzle' }, { fullName: 'Mr Keating' }])
  const cards = dataSource.getRepository(ReportCard)
  for (const [index, slug] of ['ada-2024', 'alan-2024'].entries()) {
    await storage.save(`cards/${slug}.pdf`, `%PDF ${slug}`)
    await cards.save({
      publicSlug: slug,
      displayName: `${slug} report.pdf`,
      meta: { termCode: 2024_1 + index },
      homeTeacher: teachers[index],
      pdfFile: Object.assign(new StoredFile(), { path: `cards/${slug}.pdf` }),
    })
  }
})

afterAll(async () => {
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

type CardOptions = Partial<ObjectDownloadViewOptions<ReportCard>>

function viewOf(options: CardOptions = {}) {
  return new ObjectDownloadView<ReportCard>({
    dataSource,
    entity: ReportCard,
    lookup: { param: 'slug', column: 'publicSlug' },
    file: 'pdfFile',
    ...options,
  })
}

function appFor(options: CardOptions = {}, route = '/cards/:slug') {
  const app = express()
  app.get(route, toHandler(viewOf(options)))
  return app
}

describe('ObjectDownloadView with a snake_case naming strategy', () => {
  it('looks up by a property whose column the strategy named (publicSlug → public_slug)', async () => {
    const response = await request(appFor()).get('/cards/ada-2024').buffer(true).parse(binaryParser)
    expect(response.status).toBe(200)
    expect(String(response.body)).toBe('%PDF ada-2024')
    expect((await request(appFor()).get('/cards/grace-2024')).status).toBe(404)
  })

  it('reads the basename from its column (displayName → display_name)', async () => {
    const response = await request(appFor({ basename: 'displayName' })).get('/cards/alan-2024')
    expect(response.headers['content-disposition']).toContain('filename="alan-2024 report.pdf"')
  })

  it('looks up by an embedded column (meta.termCode → meta_term_code)', async () => {
    const app = appFor({ lookup: { param: 'term', column: 'meta.termCode' } }, '/terms/:term')
    expect((await request(app).get('/terms/20242')).status).toBe(200)
    expect((await request(app).get('/terms/20243')).status).toBe(404)
  })

  it('scopes by a relation through the join column the strategy named (home_teacher_id)', async () => {
    const [frizzle, keating] = teachers
    const app = appFor({ where: () => ({ homeTeacher: { id: frizzle?.id } }) })
    expect((await request(app).get('/cards/ada-2024')).status).toBe(200)
    expect((await request(app).get('/cards/alan-2024')).status).toBe(404)
    const theirs = appFor({ where: () => ({ homeTeacher: { id: keating?.id } }), prepare: false })
    expect((await request(theirs).get('/cards/alan-2024')).status).toBe(200)
  })

  it('hydrates the selected properties under their own names, batched', async () => {
    const view = viewOf({ select: ['displayName', 'homeTeacher', 'meta'] })
    const pool = (dataSource.driver as unknown as { master: { query: () => unknown } }).master
    const spy = jest.spyOn(pool, 'query')
    const rows = await Promise.all(
      ['ada-2024', 'alan-2024'].map((slug) =>
        view.getObject({ req: {} as http.IncomingMessage, params: { slug } }),
      ),
    )
    expect(rows.map((row) => [row.displayName, row.meta.termCode, row.homeTeacher.id])).toEqual([
      ['ada-2024 report.pdf', 2024_1, teachers[0]?.id],
      ['alan-2024 report.pdf', 2024_2, teachers[1]?.id],
    ])
    expect(spy).toHaveBeenCalledTimes(1)
    spy.mockRestore()
  })
})

describe('The CLI with a snake_case naming strategy', () => {
  it('pages and backfills through the names in the metadata', async () => {
    await dataSource.query(`UPDATE "report_card" SET "pdf_file_size" = NULL WHERE "public_slug" = 'ada-2024'`)
    const [entity] = findFileEntities(dataSource)
    if (!entity) throw new Error('no file entity')
    const table = new ScanTable(dataSource, entity)
    expect(await table.count([table.anyIncomplete()], undefined)).toBe(1)
    const [row] = await table.rows([table.anyIncomplete()], undefined, 10)
    expect(row).toMatchObject({ publicSlug: 'ada-2024', meta: { termCode: 2024_1 } })

    let stdout = ''
    const options = parseArguments(['backfill', '-d', 'unused', '--json', '--quiet']) as BackfillOptions
    const status = await runBackfill(options, {
      dataSource,
      entities: findFileEntities(dataSource),
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: () => true },
      now: Date.now,
    })
    expect(status).toBe(0)
    expect(JSON.parse(stdout)).toMatchObject({ ok: true })
    const [card] = await dataSource.query(
      `SELECT "pdf_file_size" FROM "report_card" WHERE "public_slug" = 'ada-2024'`,
    )
    expect(Number(card.pdf_file_size)).toBe('%PDF ada-2024'.length)
  })
})
