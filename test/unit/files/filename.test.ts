import { asciiFilename, safeBasename, truncateName } from '../../../src/files/filename'

describe('safeBasename()', () => {
  describe('with a plain name', () => {
    it('keeps it', () => {
      expect(safeBasename('report.pdf')).toBe('report.pdf')
    })

    it('keeps non-ASCII letters', () => {
      expect(safeBasename('naïve café.txt')).toBe('naïve café.txt')
    })
  })

  describe('with path separators', () => {
    it('keeps the last segment of a relative path', () => {
      expect(safeBasename('../../etc/passwd')).toBe('passwd')
    })

    it('keeps the last segment of a Windows path', () => {
      expect(safeBasename('C:\\Users\\me\\a.txt')).toBe('a.txt')
    })

    it('treats a backslash as a separator', () => {
      expect(safeBasename('a\\b.txt')).toBe('b.txt')
    })

    it('falls back for a trailing separator', () => {
      expect(safeBasename('dir/')).toBe('download')
    })
  })

  describe('with control characters', () => {
    it('removes CR, LF, NUL and tab', () => {
      expect(safeBasename('a\r\nb\u0000c\td.txt')).toBe('abcd.txt')
    })

    it('removes DEL and C1 controls', () => {
      expect(safeBasename('a\u007fb\u0085c.txt')).toBe('abc.txt')
    })
  })

  describe('with bidirectional overrides', () => {
    it('removes RIGHT-TO-LEFT OVERRIDE', () => {
      expect(safeBasename('evil\u202etxt.exe')).toBe('eviltxt.exe')
    })

    it('removes isolates and marks', () => {
      expect(safeBasename('\u2066a\u2069\u200e\u200fb\u061c.txt')).toBe('ab.txt')
    })
  })

  describe('with dots and white space at the ends', () => {
    it('trims white space', () => {
      expect(safeBasename('  a.txt  ')).toBe('a.txt')
    })

    it('trims leading and trailing dots', () => {
      expect(safeBasename('..a.txt..')).toBe('a.txt')
    })
  })

  describe('with nothing left', () => {
    it.each([
      ['an empty name', ''],
      ['a dot', '.'],
      ['two dots', '..'],
      ['only dots', '.....'],
      ['only white space', '   '],
      ['only control characters', '\r\n\u0000'],
      ['only a bidi override', '\u202e'],
    ])('falls back to "download" for %s', (_label, name) => {
      expect(safeBasename(name)).toBe('download')
    })

    it('uses the given fallback', () => {
      expect(safeBasename('..', 'file')).toBe('file')
    })
  })

  describe('with a decomposed name', () => {
    it('normalises it to NFC', () => {
      expect(safeBasename('re\u0301sume\u0301.pdf')).toBe('r\u00e9sum\u00e9.pdf')
    })
  })
})

describe('asciiFilename()', () => {
  it('keeps an ASCII name', () => {
    expect(asciiFilename('report 2024.pdf')).toBe('report 2024.pdf')
  })

  it('drops accents', () => {
    expect(asciiFilename('résumé.pdf')).toBe('resume.pdf')
  })

  it('replaces other non-ASCII characters with _', () => {
    expect(asciiFilename('日本.txt')).toBe('__.txt')
  })

  it('replaces a double quote with _', () => {
    expect(asciiFilename('a"b.txt')).toBe('a_b.txt')
  })

  it('replaces a backslash with _', () => {
    expect(asciiFilename('a\\b.txt')).toBe('a_b.txt')
  })

  it('replaces % with _', () => {
    expect(asciiFilename('100%.txt')).toBe('100_.txt')
  })

  it('returns printable ASCII only', () => {
    expect(asciiFilename('€ «naïve» ✓ café.txt')).toMatch(/^[\x20-\x7e]+$/)
  })

  it('falls back to "download" when only dots remain', () => {
    expect(asciiFilename('\u2026')).toBe('download')
  })

  it('trims dots and spaces left at the ends', () => {
    expect(asciiFilename(' .a.txt. ')).toBe('a.txt')
  })
})

describe('truncateName()', () => {
  it('returns a name that fits as it is', () => {
    expect(truncateName('report.pdf', 100)).toBe('report.pdf')
  })

  it('cuts the base and keeps a short extension', () => {
    expect(truncateName(`${'a'.repeat(300)}.pdf`, 100)).toBe(`${'a'.repeat(96)}.pdf`)
  })

  it('counts UTF-8 bytes and never splits a character', () => {
    const cut = truncateName(`${'é'.repeat(300)}.txt`, 101)
    expect(cut).toBe(`${'é'.repeat(48)}.txt`)
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(101)
  })

  it('cuts a long extension like the rest of the name', () => {
    const cut = truncateName(`a.${'x'.repeat(200)}`, 50)
    expect(Buffer.byteLength(cut)).toBe(50)
    expect(cut.startsWith('a.')).toBe(true)
  })
})
