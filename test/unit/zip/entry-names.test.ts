import { zipEntryName, zipEntryNames } from '../../../src/zip/entry-names'

describe('zipEntryName()', () => {
  it('keeps a plain name', () => {
    expect(zipEntryName('report.pdf')).toBe('report.pdf')
  })

  it('keeps non-ASCII letters, composed (NFC)', () => {
    expect(zipEntryName('nai\u0308ve café.txt')).toBe('naïve café.txt')
  })

  it('keeps folders', () => {
    expect(zipEntryName('reports/2026/q3.pdf')).toBe('reports/2026/q3.pdf')
  })

  it('drops parent segments, so the name stays inside the folder it is extracted to', () => {
    expect(zipEntryName('../../etc/passwd')).toBe('etc/passwd')
    expect(zipEntryName('a/../../b.txt')).toBe('a/b.txt')
  })

  it('makes an absolute name relative', () => {
    expect(zipEntryName('/etc/passwd')).toBe('etc/passwd')
  })

  it('reads a backslash as a separator, as Windows does, and drops its parent segments', () => {
    expect(zipEntryName('..\\..\\Windows\\win.ini')).toBe('Windows/win.ini')
  })

  it('replaces colons: no drive letter, no NTFS stream', () => {
    expect(zipEntryName('C:\\Users\\a.txt')).toBe('C_/Users/a.txt')
    expect(zipEntryName('a.txt:hidden')).toBe('a.txt_hidden')
  })

  it('removes control characters', () => {
    expect(zipEntryName('a\r\nb\u0000c\td\u007f\u0085.txt')).toBe('abcd.txt')
  })

  it('removes bidi overrides', () => {
    expect(zipEntryName('evil\u202etxt.exe')).toBe('eviltxt.exe')
  })

  it('drops the trailing dots and spaces that Windows would drop', () => {
    expect(zipEntryName('a.txt. . ')).toBe('a.txt')
  })

  it('drops empty and dot segments', () => {
    expect(zipEntryName('a//./b.txt')).toBe('a/b.txt')
  })

  it('cuts a segment to 255 bytes, extension kept', () => {
    const name = zipEntryName(`${'é'.repeat(300)}.pdf`)
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255)
    expect(name.endsWith('.pdf')).toBe(true)
  })

  it('falls back when nothing is left', () => {
    expect(zipEntryName('../..')).toBe('file')
    expect(zipEntryName('\u0000')).toBe('file')
  })
})

describe('zipEntryNames()', () => {
  it('keeps distinct names as they are, in order', () => {
    expect(zipEntryNames(['a.txt', 'b.txt'])).toEqual(['a.txt', 'b.txt'])
  })

  it('numbers a name already taken before its extension', () => {
    expect(zipEntryNames(['a.txt', 'a.txt', 'a.txt'])).toEqual(['a.txt', 'a (2).txt', 'a (3).txt'])
  })

  it('compares without case, as Windows and macOS file systems do', () => {
    expect(zipEntryNames(['a.txt', 'A.txt'])).toEqual(['a.txt', 'A (2).txt'])
  })

  it('skips a number that a later name holds already', () => {
    expect(zipEntryNames(['a.txt', 'a (2).txt', 'a.txt'])).toEqual(['a.txt', 'a (2).txt', 'a (3).txt'])
  })

  it('numbers a name with no extension at its end, and keeps its folder', () => {
    expect(zipEntryNames(['dir/README', 'dir/README'])).toEqual(['dir/README', 'dir/README (2)'])
  })

  it('counts names that only differ in unsafe parts as the same', () => {
    expect(zipEntryNames(['../a.txt', 'a.txt'])).toEqual(['a.txt', 'a (2).txt'])
  })

  it('keeps the number when the name is as long as a segment may be', () => {
    const long = `${'x'.repeat(251)}.txt`
    const [first, second] = zipEntryNames([long, long])
    expect(second).not.toBe(first)
    expect(second?.endsWith(' (2).txt')).toBe(true)
    expect(Buffer.byteLength(second ?? '')).toBeLessThanOrEqual(255)
  })
})
