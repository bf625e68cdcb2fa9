import {
  canonicalPath,
  canonicalQuery,
  formatQuery,
  parseQuery,
  splitUrl,
} from '../../../src/signing/canonical'

const canonical = (query: string) => canonicalQuery(parseQuery(query))

describe('splitUrl()', () => {
  it('splits path, query and fragment', () => {
    expect(splitUrl('/a/b?x=1#top')).toEqual({ path: '/a/b', query: 'x=1', fragment: '#top' })
  })

  it('tells an empty query from none', () => {
    expect(splitUrl('/a?').query).toBe('')
    expect(splitUrl('/a').query).toBeUndefined()
  })

  it('drops the scheme and authority of an absolute-form target', () => {
    expect(splitUrl('http://example.com/a?x=1')).toEqual({ path: '/a', query: 'x=1', fragment: '' })
  })

  it('reads an absolute-form target without a path as "/"', () => {
    expect(splitUrl('https://example.com?x=1').path).toBe('/')
  })
})

describe('canonicalPath()', () => {
  it('encodes non-ASCII characters as UTF-8 with upper-case hex', () => {
    expect(canonicalPath('/files/café.txt')).toBe('/files/caf%C3%A9.txt')
  })

  it('reads lower-case and upper-case hex alike', () => {
    expect(canonicalPath('/caf%c3%a9')).toBe(canonicalPath('/caf%C3%A9'))
  })

  it('decodes encoded unreserved characters', () => {
    expect(canonicalPath('/%41%2D%7E')).toBe('/A-~')
  })

  it('keeps sub-delims, ":" and "@" bare', () => {
    expect(canonicalPath("/a!$&'()*+,;=:@b")).toBe("/a!$&'()*+,;=:@b")
    expect(canonicalPath('/a%21b')).toBe('/a!b')
  })

  it('encodes spaces and other unsafe characters', () => {
    expect(canonicalPath('/naïve café.txt')).toBe('/na%C3%AFve%20caf%C3%A9.txt')
    expect(canonicalPath('/a"b<c>')).toBe('/a%22b%3Cc%3E')
  })

  it('keeps an encoded slash apart from a separator', () => {
    expect(canonicalPath('/a%2fb')).toBe('/a%2Fb')
    expect(canonicalPath('/a%2Fb')).not.toBe(canonicalPath('/a/b'))
  })

  it('keeps dot segments', () => {
    expect(canonicalPath('/a/../b')).toBe('/a/../b')
  })

  it('reads a "+" in a path as a plus, not a space', () => {
    expect(canonicalPath('/a+b')).toBe('/a+b')
  })

  it('reads a "%" without two hex digits as a literal "%"', () => {
    expect(canonicalPath('/100%')).toBe('/100%25')
    expect(canonicalPath('/%zz')).toBe(canonicalPath('/%25zz'))
  })

  it('keeps bytes that are not UTF-8 as they are', () => {
    expect(canonicalPath('/%ff')).toBe('/%FF')
  })
})

describe('canonicalQuery()', () => {
  it('sorts by name', () => {
    expect(canonical('c=3&a=1&b=2')).toBe('a=1&b=2&c=3')
  })

  it('keeps the order of a repeated name: apps read the first, the last, or an array', () => {
    expect(canonical('b=2&a=2&a=1')).toBe('a=2&a=1&b=2')
    expect(canonical('a=2&a=1')).not.toBe(canonical('a=1&a=2'))
  })

  it('reads "+" as a space and "%2B" as a plus', () => {
    expect(canonical('q=a+b')).toBe('q=a%20b')
    expect(canonical('q=a%2Bb')).toBe('q=a%2Bb')
  })

  it('reads equivalent encodings alike', () => {
    expect(canonical('n%61me=caf%c3%a9')).toBe(canonical('name=café'))
  })

  it('reads "a" and "a=" alike', () => {
    expect(canonical('a')).toBe(canonical('a='))
  })

  it('skips empty pieces', () => {
    expect(canonical('a=1&&b=2&')).toBe('a=1&b=2')
  })

  it('encodes "&" and "=" inside a value', () => {
    expect(canonical('a=x%26y%3Dz')).toBe('a=x%26y%3Dz')
  })

  it('is empty for no query', () => {
    expect(canonical('')).toBe('')
    expect(canonicalQuery(parseQuery(undefined))).toBe('')
  })
})

describe('formatQuery()', () => {
  it('keeps the order and tells "a" from "a="', () => {
    expect(formatQuery(parseQuery('b=2&a&c='))).toBe('b=2&a&c=')
  })
})
