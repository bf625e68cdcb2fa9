/** @module TableSql: one table's SQL from TypeORM's metadata, shared by the row lookup and the CLI. */
import type { DataSource } from 'typeorm'
import { positionalParameters, TableSql } from '../../../src/lookup/table-sql'
import {
  Attachment,
  Line,
  metadataOnly,
  Paper,
  PhotoAttachment,
  PortraitAttachment,
  ScanAttachment,
} from './metadata'

let dataSource: DataSource
const table = (entity: Function) => new TableSql(dataSource, dataSource.getMetadata(entity))

beforeAll(async () => {
  dataSource = await metadataOnly()
})

describe('TableSql', () => {
  describe('from', () => {
    it('names the table with its schema, and the alias', () => {
      expect(table(Paper).from).toBe('"media"."paper" "entity"')
    })

    it('names a table without a schema alone', () => {
      expect(table(Line).from).toBe('"line" "entity"')
    })

    it('names the parent table for a child entity', () => {
      expect(table(PhotoAttachment).from).toBe('"attachment" "entity"')
    })
  })

  describe('conditions()', () => {
    it('leaves out soft-deleted rows unless withDeleted', () => {
      expect(table(Paper).conditions({ withDeleted: false })).toEqual(['"entity"."deletedAt" IS NULL'])
      expect(table(Paper).conditions({ withDeleted: true })).toEqual([])
    })

    it('keeps a child entity to its own rows and its children', () => {
      expect(table(PhotoAttachment).conditions({ withDeleted: false })).toEqual([
        `"entity"."kind" IN ('photo', 'portrait')`,
      ])
    })

    it('quotes a discriminator value as a literal', () => {
      expect(table(ScanAttachment).conditions({ withDeleted: false })).toEqual([
        `"entity"."kind" IN ('scan''s')`,
      ])
    })

    it('sets no discriminator condition on the root entity, which sees every row', () => {
      expect(table(Attachment).conditions({ withDeleted: false })).toEqual([])
    })
  })

  describe('after()', () => {
    it('pages a single key with one parameter', () => {
      const values: unknown[] = []
      expect(table(Paper).after([12], positionalParameters(dataSource, values))).toBe(
        '(("entity"."id" > $1))',
      )
      expect(values).toEqual([12])
    })

    it('pages a composite key in key order', () => {
      const values: unknown[] = []
      expect(table(Line).after([3, 1], positionalParameters(dataSource, values))).toBe(
        '(("entity"."invoice" > $1) OR ("entity"."invoice" = $2 AND "entity"."position" > $3))',
      )
      expect(values).toEqual([3, 3, 1])
    })
  })

  describe('hydrate()', () => {
    it('builds embedded objects, a relation key and transformed values as TypeORM does', () => {
      const papers = table(Paper)
      const columns = papers.metadata.columns
      const row = papers.hydrate<Paper>(
        { id: 4, title: 'a', price: '12.50', metaCode: 7, metaLabel: 'x', ownerId: 9, published: true },
        columns,
      )
      expect(row).toBeInstanceOf(Paper)
      expect(row).toMatchObject({
        id: 4,
        title: 'a',
        price: 1250,
        meta: { code: 7, label: 'x' },
        owner: { id: 9 },
      })
    })

    it('makes a row of a child entity an instance of that child', () => {
      const attachments = table(Attachment)
      const row = attachments.hydrate({ id: 1, slug: 's', kind: 'portrait' }, attachments.metadata.columns)
      expect(row).toBeInstanceOf(PortraitAttachment)
    })
  })
})
