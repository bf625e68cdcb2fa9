import { rowCacheKey } from '../../../src/cache/cache-key'

describe('rowCacheKey()', () => {
  it('is the same for the same parts', () => {
    const parts = ['stmt', 'report', 7, true, null, new Date(0), Buffer.from('ab'), [1, 'x'], { owner: 7 }]
    expect(rowCacheKey(parts)).toBe(rowCacheKey([...parts]))
  })

  it.each([
    [['a,b'], ['a', 'b']],
    [['ab'], ['a', 'b']],
    [[1], ['1']],
    [[null], ['null']],
    [[undefined], [null]],
    [[true], ['true']],
    [[1n], [1]],
    [[0], [-0]],
    [[[1, 2]], [1, 2]],
    [[[['a']]], [['a']]],
    [[{ a: 1 }], [{ a: '1' }]],
    [[{ a: 1, b: 2 }], [{ b: 2, a: 1 }]],
    [[new Date(0)], [0]],
    [[Buffer.from('a')], ['a']],
    [['s1:a'], ['a']],
  ])('tells %j from %j', (left, right) => {
    expect(rowCacheKey(left)).toBeDefined()
    expect(rowCacheKey(left)).not.toBe(rowCacheKey(right))
  })

  it.each([[[new Map()]], [[() => 1]], [[Symbol('s')]], [[{ nested: new URL('http://x') }]]])(
    'is undefined for %p: a lookup not to cache',
    (parts) => {
      expect(rowCacheKey(parts)).toBeUndefined()
    },
  )

  it('is undefined for a value nested deeper than it encodes', () => {
    let deep: unknown = 'x'
    for (let i = 0; i < 20; i++) deep = [deep]
    expect(rowCacheKey([deep])).toBeUndefined()
  })
})
