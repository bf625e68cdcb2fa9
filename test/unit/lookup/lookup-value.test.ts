/** @module lookupValueKind(): which URL values can match a lookup column, and their batch cast. */
import type { DataSource } from 'typeorm'
import { isLookupValue, lookupValueKind } from '../../../src/lookup/lookup-value'
import type { ColumnMetadata } from '../../../src/lookup/table-sql'
import { metadataOnly } from './metadata'

let dataSource: DataSource

beforeAll(async () => {
  dataSource = await metadataOnly()
})

/** A column of `type`, as the metadata has it (only its type matters here). */
const column = (type: ColumnMetadata['type']) => ({ type }) as ColumnMetadata

describe('lookupValueKind()', () => {
  it.each<[string, ColumnMetadata['type'], string[], string[], string | undefined]>([
    ['integer', 'integer', ['0', '2147483647'], ['2147483648', '-1', '1.5', '1e3', 'abc', ''], '::int8'],
    ['smallint', 'smallint', ['32767'], ['32768'], '::int8'],
    ['bigint', 'bigint', ['9223372036854775807'], ['9223372036854775808', '12345678901234567890'], '::int8'],
    ['a number property', Number, ['5'], ['x'], '::int8'],
    [
      'uuid',
      'uuid',
      ['0f8fad5b-d9cb-469f-a165-70867728950e', '0F8FAD5B-D9CB-469F-A165-70867728950E'],
      ['0f8fad5b-d9cb-469f-a165', 'zf8fad5b-d9cb-469f-a165-70867728950e'],
      '::uuid',
    ],
    ['numeric', 'numeric', ['12', '-3.25'], ['abc', '1e3', '.5', '1.'], '::numeric'],
    ['text', 'text', ['anything at all', ''], [], ''],
    ['varchar', 'varchar', ['x'], [], ''],
    ['an enum', 'enum', ['x'], [], undefined],
  ])('for %s accepts and refuses by the type', (_name, type, accepted, refused, cast) => {
    const kind = lookupValueKind(column(type))
    for (const value of accepted) expect([value, kind.accepts(value)]).toEqual([value, true])
    for (const value of refused) expect([value, kind.accepts(value)]).toEqual([value, false])
    expect(kind.cast).toBe(cast)
  })

  it('reads the type of a real column', () => {
    const id = dataSource.getMetadata('paper').findColumnWithPropertyPath('id') as ColumnMetadata
    expect(lookupValueKind(id).accepts('12')).toBe(true)
    expect(lookupValueKind(id).accepts('twelve')).toBe(false)
  })
})

describe('isLookupValue()', () => {
  it('refuses a missing value and one with a NUL byte', () => {
    expect(isLookupValue(undefined)).toBe(false)
    expect(isLookupValue('a\u0000b')).toBe(false)
    expect(isLookupValue('ab')).toBe(true)
  })
})
