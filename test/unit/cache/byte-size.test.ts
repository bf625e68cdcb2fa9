import { estimateBytes } from '../../../src/cache/byte-size'

describe('estimateBytes()', () => {
  it('counts two bytes per character of a string, and a Buffer by its length', () => {
    expect(estimateBytes('abcd')).toBe(8)
    expect(estimateBytes(Buffer.alloc(1000))).toBeGreaterThanOrEqual(1000)
  })

  it('grows with the columns and values of a row', () => {
    const small = estimateBytes({ id: 1, file_path: 'a.pdf' })
    const large = estimateBytes({ id: 1, file_path: 'a.pdf', file_name: 'x'.repeat(500), at: new Date() })
    expect(large - small).toBeGreaterThan(1000)
  })

  it('ends on a cycle', () => {
    const row: Record<string, unknown> = { id: 1 }
    row.self = row
    expect(estimateBytes(row)).toBeGreaterThan(0)
  })
})
