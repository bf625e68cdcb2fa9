/** @module resolveLookupOptions() and declaresProperty(): lookup options checked against the decorators. */
import type { DataSource } from 'typeorm'
import { ConfigurationError } from '../../../src/errors'
import { declaresProperty, resolveLookupOptions } from '../../../src/lookup/lookup-options'
import { Attachment, metadataOnly, Paper, PhotoAttachment } from './metadata'

let dataSource: DataSource

beforeAll(async () => {
  dataSource = await metadataOnly()
})

const OWNER = 'ObjectDownloadView'

describe('declaresProperty()', () => {
  it('finds a column, and one a parent class declares', () => {
    expect(declaresProperty(Paper, 'title')).toBe(true)
    expect(declaresProperty(PhotoAttachment, 'slug')).toBe(true)
    expect(declaresProperty(Attachment, 'width')).toBe(false)
  })

  it('finds a column inside an embedded entity by its path', () => {
    expect(declaresProperty(Paper, 'meta.code')).toBe(true)
    expect(declaresProperty(Paper, 'meta.nope')).toBe(false)
    expect(declaresProperty(Paper, 'title.code')).toBe(false)
  })

  it('finds a whole embedded entity and a many-to-one relation only when asked', () => {
    expect(declaresProperty(Paper, 'meta')).toBe(false)
    expect(declaresProperty(Paper, 'meta', { embedded: true })).toBe(true)
    expect(declaresProperty(Paper, 'owner')).toBe(false)
    expect(declaresProperty(Paper, 'owner', { relation: true })).toBe(true)
  })
})

describe('resolveLookupOptions()', () => {
  it('applies the defaults', () => {
    expect(resolveLookupOptions({ dataSource, entity: Paper }, OWNER)).toEqual({
      dataSource,
      entity: Paper,
      lookup: { param: 'id', column: 'id' },
      basename: undefined,
      select: [],
      prepare: true,
      withDeleted: false,
    })
  })

  it('takes an embedded lookup column and a relation to select', () => {
    const resolved = resolveLookupOptions(
      {
        dataSource,
        entity: Paper,
        lookup: { param: 'code', column: 'meta.code' },
        select: ['owner', 'meta'],
      },
      OWNER,
    )
    expect(resolved.lookup).toEqual({ param: 'code', column: 'meta.code' })
    expect(resolved.select).toEqual(['owner', 'meta'])
  })

  it.each<[string, object, string]>([
    [
      'dataSource',
      { dataSource: {} },
      'ObjectDownloadView: option "dataSource" must be a TypeORM DataSource',
    ],
    ['entity', { entity: 'Paper' }, 'ObjectDownloadView: option "entity" must be an entity class'],
    [
      'lookup',
      { lookup: { param: '' } },
      `ObjectDownloadView: option "lookup" must be 'id', 'slug' or { param, column }`,
    ],
    [
      'lookup column',
      { lookup: { param: 'x', column: 'meta.nope' } },
      'ObjectDownloadView: option "lookup" names "meta.nope", which is not a column of Paper',
    ],
    [
      'basename',
      { basename: 'owner' },
      'ObjectDownloadView: option "basename" names "owner", which is not a column of Paper',
    ],
    ['select', { select: 'title' }, 'ObjectDownloadView: option "select" must be an array of property names'],
    [
      'select names',
      { select: ['nope'] },
      'ObjectDownloadView: option "select" names "nope", which is not a column of Paper',
    ],
    ['prepare', { prepare: 1 }, 'ObjectDownloadView: option "prepare" must be true or false'],
    ['withDeleted', { withDeleted: 'yes' }, 'ObjectDownloadView: option "withDeleted" must be true or false'],
    [
      'where',
      { where: { published: true } },
      'ObjectDownloadView: option "where" must be a function of the request',
    ],
    ['query', { query: 'SELECT 1' }, 'ObjectDownloadView: option "query" must be a function of the request'],
  ])('throws a ConfigurationError naming option "%s"', (_name, options, message) => {
    expect(() => resolveLookupOptions({ dataSource, entity: Paper, ...options }, OWNER)).toThrow(
      new ConfigurationError(message),
    )
  })
})
