import { entityTag, isEntityTag, parseEntityTags, strongMatch, weakMatch } from '../../../src/http/etag'
import { MODIFIED, NUMS_SHA256 } from './fixtures'

describe('entityTag()', () => {
  describe('with a SHA-256', () => {
    it('is a strong tag of the hex digest', () => {
      expect(entityTag({ sha256: NUMS_SHA256, size: 9, modifiedAt: MODIFIED })).toBe(`"${NUMS_SHA256}"`)
    })

    it('lower-cases the digest', () => {
      expect(entityTag({ sha256: NUMS_SHA256.toUpperCase() })).toBe(`"${NUMS_SHA256}"`)
    })

    it('ignores a digest that is not 64 hex digits', () => {
      expect(entityTag({ sha256: 'abc', size: 9, modifiedAt: MODIFIED })).toBe('W/"9-18cc820d888"')
    })

    it('ignores a digest with a quote in it', () => {
      expect(entityTag({ sha256: `${NUMS_SHA256.slice(1)}"` })).toBeUndefined()
    })
  })

  describe('without a SHA-256', () => {
    it('is a weak tag of the hex size and hex milliseconds', () => {
      expect(entityTag({ size: 9, modifiedAt: MODIFIED })).toBe('W/"9-18cc820d888"')
    })

    it('changes when the size changes', () => {
      expect(entityTag({ size: 10, modifiedAt: MODIFIED })).toBe('W/"a-18cc820d888"')
    })

    it('is undefined without a modification time', () => {
      expect(entityTag({ size: 9 })).toBeUndefined()
    })

    it('is undefined without a size', () => {
      expect(entityTag({ modifiedAt: MODIFIED })).toBeUndefined()
    })

    it('is undefined for an invalid modification time', () => {
      expect(entityTag({ size: 9, modifiedAt: new Date(Number.NaN) })).toBeUndefined()
    })
  })

  describe('with an explicit etag', () => {
    it('wins over the SHA-256', () => {
      expect(entityTag({ etag: '"v1"', sha256: NUMS_SHA256 })).toBe('"v1"')
    })

    it('may be weak', () => {
      expect(entityTag({ etag: 'W/"v1"', sha256: NUMS_SHA256 })).toBe('W/"v1"')
    })

    it('is dropped when it holds CR/LF', () => {
      expect(entityTag({ etag: '"v1"\r\nSet-Cookie: a=b', sha256: NUMS_SHA256 })).toBe(`"${NUMS_SHA256}"`)
    })

    it('is dropped when it is not quoted', () => {
      expect(entityTag({ etag: 'v1', size: 9, modifiedAt: MODIFIED })).toBe('W/"9-18cc820d888"')
    })
  })
})

describe('isEntityTag()', () => {
  it.each(['"abc"', 'W/"abc"', '""', '"a!#~"', '"\x80\xff"'])('accepts %s', (value) => {
    expect(isEntityTag(value)).toBe(true)
  })

  it.each([
    ['unquoted', 'abc'],
    ['lower-case weak prefix', 'w/"abc"'],
    ['inner quote', '"a"b"'],
    ['space', '"a b"'],
    ['CR/LF', '"a\r\nb"'],
    ['NUL', '"a\u0000"'],
    ['non-Latin-1', '"\u20ac"'],
    ['trailing text', '"abc" x'],
  ])('rejects %s', (_label, value) => {
    expect(isEntityTag(value)).toBe(false)
  })
})

describe('parseEntityTags()', () => {
  it('reads the wildcard', () => {
    expect(parseEntityTags(' * ')).toBe('*')
  })

  it('reads one tag', () => {
    expect(parseEntityTags('"a"')).toEqual(['"a"'])
  })

  it('reads a list of strong and weak tags', () => {
    expect(parseEntityTags('"a", W/"b" ,"c"')).toEqual(['"a"', 'W/"b"', '"c"'])
  })

  it('does not split on a comma inside a tag', () => {
    expect(parseEntityTags('"a,b", "c"')).toEqual(['"a,b"', '"c"'])
  })

  it('skips empty list elements', () => {
    expect(parseEntityTags(', "a",, "b",')).toEqual(['"a"', '"b"'])
  })

  it('is undefined for an unquoted tag', () => {
    expect(parseEntityTags('abc')).toBeUndefined()
  })

  it('is undefined for tags without a comma between them', () => {
    expect(parseEntityTags('"a" "b"')).toBeUndefined()
  })

  it('is undefined for an unterminated tag', () => {
    expect(parseEntityTags('"abc')).toBeUndefined()
  })
})

describe('strongMatch()', () => {
  it('matches identical strong tags', () => {
    expect(strongMatch('"a"', '"a"')).toBe(true)
  })

  it('does not match different strong tags', () => {
    expect(strongMatch('"a"', '"b"')).toBe(false)
  })

  it('never matches a weak tag, even an identical one', () => {
    expect(strongMatch('W/"a"', 'W/"a"')).toBe(false)
  })

  it('does not match a weak tag against its strong counterpart', () => {
    expect(strongMatch('W/"a"', '"a"')).toBe(false)
  })
})

describe('weakMatch()', () => {
  it('matches identical strong tags', () => {
    expect(weakMatch('"a"', '"a"')).toBe(true)
  })

  it('matches identical weak tags', () => {
    expect(weakMatch('W/"a"', 'W/"a"')).toBe(true)
  })

  it('matches a weak tag against its strong counterpart', () => {
    expect(weakMatch('W/"a"', '"a"')).toBe(true)
  })

  it('does not match different opaque parts', () => {
    expect(weakMatch('W/"a"', '"b"')).toBe(false)
  })
})
