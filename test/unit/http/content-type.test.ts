import { isActiveContent, resolveContentType } from '../../../src/http/content-type'

describe('resolveContentType()', () => {
  describe('without an explicit type', () => {
    it('looks the name up', () => {
      expect(resolveContentType(undefined, 'photo.png')).toBe('image/png')
    })

    it('adds charset=utf-8 to a text type', () => {
      expect(resolveContentType(undefined, 'notes.txt')).toBe('text/plain; charset=utf-8')
    })

    it('adds no charset to an image type', () => {
      expect(resolveContentType(undefined, 'photo.png')).not.toMatch(/charset/)
    })

    it('falls back to application/octet-stream for an unknown extension', () => {
      expect(resolveContentType(undefined, 'data.unknownext')).toBe('application/octet-stream')
    })

    it('falls back to application/octet-stream for a name without an extension', () => {
      expect(resolveContentType(undefined, 'README')).toBe('application/octet-stream')
    })

    it('adds no charset to application/octet-stream', () => {
      expect(resolveContentType(undefined, 'data.bin')).toBe('application/octet-stream')
    })
  })

  describe('with an explicit type', () => {
    it('uses it over the name', () => {
      expect(resolveContentType('application/pdf', 'notes.txt')).toBe('application/pdf')
    })

    it('adds charset=utf-8 to an explicit text type', () => {
      expect(resolveContentType('text/csv', 'data.bin')).toBe('text/csv; charset=utf-8')
    })

    it('keeps the charset it names', () => {
      expect(resolveContentType('text/plain; charset=iso-8859-1', 'a.txt')).toBe(
        'text/plain; charset=iso-8859-1',
      )
    })

    it('keeps other parameters and adds the charset', () => {
      expect(resolveContentType('text/plain; format=flowed', 'a.bin')).toBe(
        'text/plain; format=flowed; charset=utf-8',
      )
    })

    it('accepts a quoted parameter value', () => {
      expect(resolveContentType('image/png; comment="a b"', 'a.bin')).toBe('image/png; comment="a b"')
    })

    it('trims surrounding white space', () => {
      expect(resolveContentType('  image/png  ', 'a.bin')).toBe('image/png')
    })
  })

  describe('with an unsafe explicit type', () => {
    it.each([
      ['CR/LF', 'text/plain\r\nSet-Cookie: a=b'],
      ['a bare LF', 'text/html\nX: y'],
      ['CR/LF before a parameter', 'text/plain\r\n;a=b'],
      ['a line separator after the semicolon', 'text/plain;\u2028a=b'],
      ['no subtype', 'text'],
      ['garbage', 'not a type'],
      ['a space inside', 'text/pl ain'],
      ['an empty string', ''],
      ['a NUL in a quoted value', 'text/plain; x="\u0000"'],
      ['a non-Latin-1 character in a quoted value', 'text/plain; x="\u20ac"'],
      ['a DEL in a quoted value', 'text/plain; x="\u007f"'],
    ])('falls back to the name lookup for %s', (_label, explicit) => {
      expect(resolveContentType(explicit, 'photo.png')).toBe('image/png')
    })
  })
})

describe('isActiveContent()', () => {
  it.each([
    'text/html',
    'text/html; charset=utf-8',
    'TEXT/HTML',
    'application/xhtml+xml',
    'image/svg+xml',
    'text/xml',
    'application/xml',
    'application/atom+xml',
    'text/javascript; charset=utf-8',
    'application/javascript',
  ])('is true for %s', (type) => {
    expect(isActiveContent(type)).toBe(true)
  })

  it.each([
    'text/plain; charset=utf-8',
    'image/png',
    'application/pdf',
    'application/octet-stream',
    'application/json',
  ])('is false for %s', (type) => {
    expect(isActiveContent(type)).toBe(false)
  })
})
