import { Column, DataSource, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm'
import {
  changeTableOf,
  entityRowId,
  isKeyType,
  keyColumnsProblem,
  rawRowId,
  rowId,
  rowIdPartSql,
} from '../../../src/cache/row-ref'
import { ConfigurationError } from '../../../src/errors'

@Entity({ name: 'ref_item' })
class RefItem {
  @PrimaryGeneratedColumn({ type: 'integer', name: 'item_id' })
  id!: number

  @Column({ type: 'text' })
  slug!: string
}

@Entity({ name: 'ref_pair', schema: 'media' })
class RefPair {
  @PrimaryColumn({ type: 'text' })
  a!: string

  @PrimaryColumn({ type: 'bigint' })
  b!: string
}

@Entity({ name: 'ref_stamped' })
class RefStamped {
  @PrimaryColumn({ type: 'timestamptz' })
  at!: Date
}

@Entity({ name: 'ref_tagged' })
class RefTagged {
  @PrimaryColumn({ type: 'text', array: true })
  tags!: string[]
}

@Entity({ name: 'ref_uuid' })
class RefUuid {
  @PrimaryGeneratedColumn('uuid')
  id!: string
}

/** A DataSource with these entities' metadata, never connected (what initialize() builds first). */
async function metadataOnly(schema?: string): Promise<DataSource> {
  const dataSource = new DataSource({
    type: 'postgres',
    ...(schema && { schema }),
    entities: [RefItem, RefPair, RefStamped, RefTagged, RefUuid],
  })
  await (dataSource as unknown as { buildMetadatas(): Promise<void> }).buildMetadatas()
  return dataSource
}

describe('rowId()', () => {
  it('is the one key value as text', () => {
    expect(rowId([7])).toBe('7')
    expect(rowId(['9007199254740993'])).toBe('9007199254740993')
    expect(rowId([9007199254740993n])).toBe('9007199254740993')
    expect(rowId(['a,b\\c'])).toBe('a,b\\c')
  })

  it('joins a composite key with commas, escaping commas and backslashes, so that no two keys meet', () => {
    expect(rowId(['a,b', 'c'])).toBe('a\\,b,c')
    expect(rowId(['a', 'b,c'])).toBe('a,b\\,c')
    expect(rowId(['a\\', 'b'])).toBe('a\\\\,b')
    expect(rowId(['a', '\\,b'])).not.toBe(rowId(['a\\', ',b']))
  })

  it.each([[[]], [[undefined]], [[null]], [[1, undefined]], [[new Date(0)]], [[Number.NaN]], [[{ id: 1 }]]])(
    'is undefined for %p: a row it cannot name',
    (values) => {
      expect(rowId(values)).toBeUndefined()
    },
  )
})

describe('rowIdPartSql()', () => {
  it('escapes with chr(92), which no setting changes', () => {
    expect(rowIdPartSql('x')).toBe("replace(replace(x, chr(92), chr(92) || chr(92)), ',', chr(92) || ',')")
  })
})

describe('isKeyType()', () => {
  it.each(['integer', 'bigint', 'int8', 'text', 'character varying(255)', 'uuid', 'citext'])(
    'takes %s',
    (type) => {
      expect(isKeyType(type)).toBe(true)
    },
  )

  it.each([
    'timestamp with time zone',
    'numeric(10,2)',
    'bytea',
    'character(4)',
    'jsonb',
    'double precision',
  ])('refuses %s', (type) => {
    expect(isKeyType(type)).toBe(false)
  })
})

describe('entityRowId() and rawRowId()', () => {
  it('read the key of an entity by property, and of a raw row by column name', async () => {
    const dataSource = await metadataOnly()
    const items = dataSource.getMetadata(RefItem)
    expect(entityRowId(items, { id: 4, slug: 's' })).toBe('4')
    expect(rawRowId(items, { item_id: 4, slug: 's' })).toBe('4')
    expect(entityRowId(items, { slug: 's' })).toBeUndefined()
    const pairs = dataSource.getMetadata(RefPair)
    expect(entityRowId(pairs, { a: 'x,y', b: '3' })).toBe('x\\,y,3')
  })
})

describe('changeTableOf()', () => {
  it("is the entity's schema and table", async () => {
    const dataSource = await metadataOnly()
    expect(changeTableOf(dataSource, dataSource.getMetadata(RefPair))).toBe('media.ref_pair')
  })

  it("takes the DataSource's schema for an entity without one", async () => {
    const dataSource = await metadataOnly('app')
    expect(changeTableOf(dataSource, dataSource.getMetadata(RefItem))).toBe('app.ref_item')
  })

  it('is a ConfigurationError while the schema is not known (not initialized, no schema option)', async () => {
    const dataSource = await metadataOnly()
    expect(() => changeTableOf(dataSource, dataSource.getMetadata(RefItem))).toThrow(ConfigurationError)
  })
})

describe('keyColumnsProblem()', () => {
  it('is undefined for integer, string, bigint and uuid keys', async () => {
    const dataSource = await metadataOnly()
    for (const entity of [RefItem, RefPair, RefUuid])
      expect(keyColumnsProblem(dataSource, dataSource.getMetadata(entity))).toBeUndefined()
  })

  it('names a timestamp key and an array key', async () => {
    const dataSource = await metadataOnly()
    expect(keyColumnsProblem(dataSource, dataSource.getMetadata(RefStamped))).toMatch(
      /RefStamped\.at is a primary key column of type timestamp with time zone/,
    )
    expect(keyColumnsProblem(dataSource, dataSource.getMetadata(RefTagged))).toMatch(
      /RefTagged\.tags is a primary key column of type text\[\]/,
    )
  })
})
