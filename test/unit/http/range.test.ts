import { coalesce, parseRange } from '../../../src/http/range'

const limits = { maxRanges: 16 }

describe('parseRange()', () => {
  describe('without a Range header', () => {
    it('asks for the full body', () => {
      expect(parseRange(undefined, 9, limits)).toEqual({ kind: 'full' })
    })
  })

  describe('with one range', () => {
    it('reads first-last as an inclusive range', () => {
      expect(parseRange('bytes=2-5', 9, limits)).toEqual({ kind: 'partial', ranges: [{ start: 2, end: 5 }] })
    })

    it('reads first- as "to the end"', () => {
      expect(parseRange('bytes=4-', 9, limits)).toEqual({ kind: 'partial', ranges: [{ start: 4, end: 8 }] })
    })

    it('reads -suffix as the last bytes', () => {
      expect(parseRange('bytes=-3', 9, limits)).toEqual({ kind: 'partial', ranges: [{ start: 6, end: 8 }] })
    })

    it('serves the whole representation for a suffix longer than it', () => {
      expect(parseRange('bytes=-100', 9, limits)).toEqual({ kind: 'partial', ranges: [{ start: 0, end: 8 }] })
    })

    it('clamps a last position beyond the end', () => {
      expect(parseRange('bytes=5-100', 9, limits)).toEqual({
        kind: 'partial',
        ranges: [{ start: 5, end: 8 }],
      })
    })

    it('serves a single byte for first = last', () => {
      expect(parseRange('bytes=0-0', 9, limits)).toEqual({ kind: 'partial', ranges: [{ start: 0, end: 0 }] })
    })

    it('serves the last byte', () => {
      expect(parseRange('bytes=8-8', 9, limits)).toEqual({ kind: 'partial', ranges: [{ start: 8, end: 8 }] })
    })

    it('ignores white space around the unit and the specs', () => {
      expect(parseRange(' bytes = 2-5 ', 9, limits)).toEqual({
        kind: 'partial',
        ranges: [{ start: 2, end: 5 }],
      })
    })

    it('ignores empty list elements', () => {
      expect(parseRange('bytes=,2-5,,', 9, limits)).toEqual({
        kind: 'partial',
        ranges: [{ start: 2, end: 5 }],
      })
    })

    it('accepts numbers larger than the representation', () => {
      expect(parseRange('bytes=0-99999999999999999999999', 9, limits)).toEqual({
        kind: 'partial',
        ranges: [{ start: 0, end: 8 }],
      })
    })
  })

  describe('with the unit in another case', () => {
    it.each(['BYTES=2-5', 'Bytes=2-5', 'bYtEs=2-5'])('reads %s as bytes', (header) => {
      expect(parseRange(header, 9, limits)).toEqual({ kind: 'partial', ranges: [{ start: 2, end: 5 }] })
    })
  })

  describe('with a malformed header', () => {
    it.each([
      ['last before first', 'bytes=5-2'],
      ['a letter for first', 'bytes=x-1'],
      ['a number followed by garbage', 'bytes=1x-2'],
      ['a hex number', 'bytes=0x1-2'],
      ['a decimal number', 'bytes=1.5-2'],
      ['a signed number', 'bytes=+1-2'],
      ['a negative suffix', 'bytes=--1'],
      ['no spec at all', 'bytes='],
      ['a lone dash', 'bytes=-'],
      ['a missing "="', 'bytes 0-1'],
      ['no unit', '0-1'],
      ['two dashes', 'bytes=1-2-3'],
      ['white space inside a spec', 'bytes=1 - 2'],
      ['one bad spec among good ones', 'bytes=0-1,5-2'],
      ['a garbage spec among good ones', 'bytes=0-1,x'],
    ])('ignores %s (%s)', (_label, header) => {
      expect(parseRange(header, 9, limits)).toEqual({ kind: 'full' })
    })
  })

  describe('with another unit', () => {
    it.each(['items=0-1', 'none=0-1', 'bytesx=0-1'])('ignores %s', (header) => {
      expect(parseRange(header, 9, limits)).toEqual({ kind: 'full' })
    })
  })

  describe('when no range overlaps the representation', () => {
    it('is unsatisfiable for a first position at the size', () => {
      expect(parseRange('bytes=9-', 9, limits)).toEqual({ kind: 'unsatisfiable' })
    })

    it('is unsatisfiable for a range after the end', () => {
      expect(parseRange('bytes=20-30', 9, limits)).toEqual({ kind: 'unsatisfiable' })
    })

    it('is unsatisfiable for a zero-length suffix', () => {
      expect(parseRange('bytes=-0', 9, limits)).toEqual({ kind: 'unsatisfiable' })
    })

    it('is unsatisfiable when every one of several ranges is', () => {
      expect(parseRange('bytes=9-10,20-', 9, limits)).toEqual({ kind: 'unsatisfiable' })
    })
  })

  describe('when only some ranges overlap the representation', () => {
    it('keeps the satisfiable ones', () => {
      expect(parseRange('bytes=20-30,1-2', 9, limits)).toEqual({
        kind: 'partial',
        ranges: [{ start: 1, end: 2 }],
      })
    })
  })

  describe('for an empty representation', () => {
    it('is unsatisfiable for a first-last range', () => {
      expect(parseRange('bytes=0-0', 0, limits)).toEqual({ kind: 'unsatisfiable' })
    })

    it('is unsatisfiable for an open range from 0', () => {
      expect(parseRange('bytes=0-', 0, limits)).toEqual({ kind: 'unsatisfiable' })
    })

    it('serves the full (empty) body for a non-zero suffix', () => {
      expect(parseRange('bytes=-5', 0, limits)).toEqual({ kind: 'full' })
    })

    it('is unsatisfiable for a zero-length suffix', () => {
      expect(parseRange('bytes=-0', 0, limits)).toEqual({ kind: 'unsatisfiable' })
    })
  })

  describe('with several ranges', () => {
    it('keeps disjoint ranges, ascending', () => {
      expect(parseRange('bytes=6-7,0-1', 9, limits)).toEqual({
        kind: 'partial',
        ranges: [
          { start: 0, end: 1 },
          { start: 6, end: 7 },
        ],
      })
    })

    it('keeps ranges one byte apart separate', () => {
      expect(parseRange('bytes=0-1,3-4', 9, limits)).toEqual({
        kind: 'partial',
        ranges: [
          { start: 0, end: 1 },
          { start: 3, end: 4 },
        ],
      })
    })

    it('merges overlapping ranges', () => {
      expect(parseRange('bytes=0-4,2-6', 9, limits)).toEqual({
        kind: 'partial',
        ranges: [{ start: 0, end: 6 }],
      })
    })

    it('merges adjacent ranges', () => {
      expect(parseRange('bytes=0-2,3-5', 9, limits)).toEqual({
        kind: 'partial',
        ranges: [{ start: 0, end: 5 }],
      })
    })

    it('merges a range contained in another', () => {
      expect(parseRange('bytes=0-8,2-3', 9, limits)).toEqual({
        kind: 'partial',
        ranges: [{ start: 0, end: 8 }],
      })
    })

    it('merges a suffix with an overlapping first-last range', () => {
      expect(parseRange('bytes=-3,5-6', 9, limits)).toEqual({
        kind: 'partial',
        ranges: [{ start: 5, end: 8 }],
      })
    })
  })

  describe('with more ranges than maxRanges', () => {
    it('serves exactly maxRanges ranges', () => {
      expect(parseRange('bytes=0-0,2-2,4-4', 9, { maxRanges: 3 })).toEqual({
        kind: 'partial',
        ranges: [
          { start: 0, end: 0 },
          { start: 2, end: 2 },
          { start: 4, end: 4 },
        ],
      })
    })

    it('asks for the full body beyond maxRanges', () => {
      expect(parseRange('bytes=0-0,2-2,4-4,6-6', 9, { maxRanges: 3 })).toEqual({ kind: 'full' })
    })

    it('counts ranges after merging them', () => {
      expect(parseRange('bytes=0-0,1-1,2-2,3-3,6-6', 9, { maxRanges: 2 })).toEqual({
        kind: 'partial',
        ranges: [
          { start: 0, end: 3 },
          { start: 6, end: 6 },
        ],
      })
    })
  })

  describe('with a huge number of specs', () => {
    it('serves 1000 specs', () => {
      const header = `bytes=${Array.from({ length: 1000 }, () => '0-0').join(',')}`
      expect(parseRange(header, 9, limits)).toEqual({ kind: 'partial', ranges: [{ start: 0, end: 0 }] })
    })

    it('ignores more than 1000 specs', () => {
      const header = `bytes=${Array.from({ length: 1001 }, () => '0-0').join(',')}`
      expect(parseRange(header, 9, limits)).toEqual({ kind: 'full' })
    })
  })
})

describe('coalesce()', () => {
  it('sorts ranges by start', () => {
    expect(
      coalesce([
        { start: 5, end: 6 },
        { start: 0, end: 1 },
      ]),
    ).toEqual([
      { start: 0, end: 1 },
      { start: 5, end: 6 },
    ])
  })

  it('merges overlapping and touching ranges', () => {
    expect(
      coalesce([
        { start: 4, end: 6 },
        { start: 0, end: 2 },
        { start: 3, end: 3 },
        { start: 9, end: 9 },
      ]),
    ).toEqual([
      { start: 0, end: 6 },
      { start: 9, end: 9 },
    ])
  })

  it('does not modify its input', () => {
    const input = [
      { start: 0, end: 2 },
      { start: 1, end: 5 },
    ]
    coalesce(input)
    expect(input).toEqual([
      { start: 0, end: 2 },
      { start: 1, end: 5 },
    ])
  })

  it('returns an empty list for no ranges', () => {
    expect(coalesce([])).toEqual([])
  })
})
