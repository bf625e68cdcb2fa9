/** @module scopeSql(): a findBy()-style scope as SQL whose text depends only on its shape. */
import {
  Any,
  Between,
  type DataSource,
  Equal,
  ILike,
  In,
  IsNull,
  LessThan,
  LessThanOrEqual,
  Like,
  MoreThan,
  MoreThanOrEqual,
  Not,
  Raw,
} from 'typeorm'
import { ConfigurationError } from '../../../src/errors'
import { type Scope, scopeSql } from '../../../src/lookup/scope-sql'
import { positionalParameters, TableSql } from '../../../src/lookup/table-sql'
import { metadataOnly, Paper, Person } from './metadata'

let dataSource: DataSource
let papers: TableSql

beforeAll(async () => {
  dataSource = await metadataOnly()
  papers = new TableSql(dataSource, dataSource.getMetadata(Paper))
})

const ORIGIN = 'ObjectDownloadView: option "where"'

/** The SQL and the values of `scope` on Paper, numbered after `$1` as the lookup numbers them. */
function compile(scope: Scope, table = papers): { sql: string; values: unknown[] } {
  const values: unknown[] = []
  const sql = scopeSql(table, scope, positionalParameters(dataSource, values, 1), ORIGIN)
  return { sql, values }
}

describe('scopeSql()', () => {
  describe('with equality', () => {
    it('compares a column with a parameter', () => {
      expect(compile({ published: true })).toEqual({ sql: '"entity"."published" = $2', values: [true] })
    })

    it('ANDs the properties of one object, in their order', () => {
      expect(compile({ published: true, title: 'a' })).toEqual({
        sql: '"entity"."published" = $2 AND "entity"."title" = $3',
        values: [true, 'a'],
      })
    })

    it('takes Equal() as a plain value', () => {
      expect(compile({ title: Equal('a') })).toEqual({ sql: '"entity"."title" = $2', values: ['a'] })
    })

    it('never writes a value into the text', () => {
      const value = `x'); DROP TABLE "paper"; --`
      const { sql, values } = compile({ title: value })
      expect(sql).toBe('"entity"."title" = $2')
      expect(values).toEqual([value])
    })

    it('gives the same text for other values of the same shape', () => {
      expect(compile({ title: 'a', owner: { id: 1 } }).sql).toBe(
        compile({ title: 'b', owner: { id: 2 } }).sql,
      )
    })

    it('puts values through the column transformer, as findBy does', () => {
      expect(compile({ price: 1250 }).values).toEqual(['12.50'])
    })
  })

  describe('with a relation', () => {
    it('compares its join column with the key, without a join', () => {
      expect(compile({ owner: { id: 7 } })).toEqual({ sql: '"entity"."ownerId" = $2', values: [7] })
    })

    it('takes IsNull() on the relation itself', () => {
      expect(compile({ owner: IsNull() })).toEqual({ sql: '"entity"."ownerId" IS NULL', values: [] })
    })

    it('takes an operator on the key', () => {
      expect(compile({ owner: { id: In([1, 2]) } })).toEqual({
        sql: '"entity"."ownerId" = ANY($2)',
        values: [[1, 2]],
      })
    })

    it('refuses another property of the related entity, which needs a join', () => {
      expect(() => compile({ owner: { name: 'Ada' } })).toThrow(/"owner\.name", which needs a join/)
    })

    it('refuses a one-to-many relation', () => {
      const people = new TableSql(dataSource, dataSource.getMetadata(Person))
      expect(() => compile({ papers: { id: 1 } }, people)).toThrow(/"papers", a one-to-many relation/)
    })
  })

  describe('with an embedded entity', () => {
    it('compares the embedded column by its database name', () => {
      expect(compile({ meta: { code: 5 } })).toEqual({ sql: '"entity"."metaCode" = $2', values: [5] })
    })

    it('refuses a value that is not an object of its properties', () => {
      expect(() => compile({ meta: 5 })).toThrow(/a number for "meta", an embedded entity/)
    })
  })

  describe('with operators', () => {
    it.each<[string, Scope, string, unknown[]]>([
      ['IsNull()', { deletedAt: IsNull() }, '"entity"."deletedAt" IS NULL', []],
      ['In()', { id: In([1, 2, 3]) }, '"entity"."id" = ANY($2)', [[1, 2, 3]]],
      ['Any()', { id: Any([4]) }, '"entity"."id" = ANY($2)', [[4]]],
      ['Not()', { title: Not('a') }, 'NOT("entity"."title" = $2)', ['a']],
      ['Not(IsNull())', { deletedAt: Not(IsNull()) }, 'NOT("entity"."deletedAt" IS NULL)', []],
      ['Not(In())', { id: Not(In([1])) }, 'NOT("entity"."id" = ANY($2))', [[1]]],
      ['LessThan()', { id: LessThan(3) }, '"entity"."id" < $2', [3]],
      ['LessThanOrEqual()', { id: LessThanOrEqual(3) }, '"entity"."id" <= $2', [3]],
      ['MoreThan()', { id: MoreThan(3) }, '"entity"."id" > $2', [3]],
      ['MoreThanOrEqual()', { id: MoreThanOrEqual(3) }, '"entity"."id" >= $2', [3]],
      ['Between()', { id: Between(1, 9) }, '"entity"."id" BETWEEN $2 AND $3', [1, 9]],
      ['Like()', { title: Like('a%') }, '"entity"."title" LIKE $2', ['a%']],
      ['ILike()', { title: ILike('a%') }, '"entity"."title" ILIKE $2', ['a%']],
    ])('compiles %s', (_name, scope, sql, values) => {
      expect(compile(scope)).toEqual({ sql, values })
    })

    it('gives In() one array parameter, so the text is the same whatever its length', () => {
      expect(compile({ id: In([1]) }).sql).toBe(compile({ id: In([1, 2, 3, 4, 5]) }).sql)
    })

    it('puts each value of In() through the column transformer', () => {
      expect(compile({ price: In([100, 250]) }).values).toEqual([['1.00', '2.50']])
    })

    it('refuses Raw(), naming it and the property', () => {
      expect(() => compile({ title: Raw((alias) => `${alias} = 'a'`) })).toThrow(
        new ConfigurationError(
          'ObjectDownloadView: option "where": the scope of Paper has raw() on "title", which a scope cannot hold. ' +
            'It may hold columns, embedded properties and the key of a many-to-one or owning one-to-one relation ' +
            '({ owner: { id } }), each compared with a value, Equal(), Not(), IsNull(), In(), Any(), LessThan(), ' +
            'LessThanOrEqual(), MoreThan(), MoreThanOrEqual(), Between(), Like() or ILike(); for anything else, ' +
            'use the "query" option.',
        ),
      )
    })
  })

  describe('with several objects', () => {
    it('ORs an array of objects', () => {
      expect(compile([{ published: true }, { owner: { id: 3 } }])).toEqual({
        sql: '(("entity"."published" = $2) OR ("entity"."ownerId" = $3))',
        values: [true, 3],
      })
    })

    it('matches no row with an empty array (not every row, as findBy([]) would)', () => {
      expect(compile([])).toEqual({ sql: 'FALSE', values: [] })
    })

    it('has no condition for an empty object', () => {
      expect(compile({})).toEqual({ sql: '', values: [] })
    })
  })

  describe('with a value it cannot compile', () => {
    it.each<[string, Scope, RegExp]>([
      ['undefined', { title: undefined }, /undefined for "title"/],
      ['null', { title: null }, /null for "title" \(use IsNull\(\)\)/],
      ['undefined in a relation key', { owner: { id: undefined } }, /undefined for "owner\.id"/],
      ['a property that is not a column', { colour: 'red' }, /"colour", which is not a column of Paper/],
      ['an object for a column', { title: { en: 'a' } }, /an Object for "title", a column/],
      ['an operator inside In()', { id: In([IsNull()]) }, /isNull\(\) inside another operator on "id"/],
      ['a scope that is not an object', 'published' as unknown as Scope, /a string as the scope/],
      ['no scope at all', undefined as unknown as Scope, /has undefined as the scope/],
    ])('throws a ConfigurationError for %s', (_name, scope, message) => {
      expect(() => compile(scope)).toThrow(ConfigurationError)
      expect(() => compile(scope)).toThrow(message)
    })
  })

  it("writes the placeholders that the sink gives, such as a QueryBuilder's named parameters", () => {
    const named: Record<string, unknown> = {}
    const sql = scopeSql(
      papers,
      { title: 'a', id: In([1, 2]) },
      (value) => {
        const name = `p${Object.keys(named).length}`
        named[name] = value
        return `:${name}`
      },
      ORIGIN,
    )
    expect(sql).toBe('"entity"."title" = :p0 AND "entity"."id" = ANY(:p1)')
    expect(named).toEqual({ p0: 'a', p1: [1, 2] })
  })
})
