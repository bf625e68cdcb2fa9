/** @module normalizeKey(): the one key rule every storage applies. */
import { BadPathError, UnsafePathError } from '../../../src/errors'
import { normalizeKey } from '../../../src/storage/keys'

describe('normalizeKey()', () => {
  describe('when the key is safe', () => {
    it.each([
      ['a.txt', 'a.txt'],
      ['a/b/c.txt', 'a/b/c.txt'],
      ['a//./b.txt', 'a/b.txt'],
      ['./a.txt', 'a.txt'],
      ['a/b/', 'a/b'],
      ['a/./././b', 'a/b'],
      ['.hidden', '.hidden'],
      ['...', '...'],
      ['a..b/c..', 'a..b/c..'],
      ['%2e%2e/x.txt', '%2e%2e/x.txt'],
      ['a%2Fb', 'a%2Fb'],
      ['naïve café.txt', 'naïve café.txt'],
      ['ab:c', 'ab:c'],
      ['1:/x', '1:/x'],
      ['a/C:/x', 'a/C:/x'],
    ])('turns %j into %j', (key, expected) => {
      expect(normalizeKey(key)).toBe(expected)
    })

    it('keeps Unicode as given, without folding NFC and NFD together', () => {
      const decomposed = 'cafe\u0301.txt'
      expect(normalizeKey(decomposed)).toBe(decomposed)
      expect(normalizeKey(decomposed)).not.toBe('caf\u00e9.txt')
    })

    it('returns a key that normalises to itself', () => {
      const once = normalizeKey('./a//b/./c.txt')
      expect(normalizeKey(once)).toBe(once)
    })
  })

  describe('when the key could escape the root', () => {
    it.each([
      ['a parent segment', '../x', 'parent segment'],
      ['a parent segment that climbs out', 'a/../../x', 'parent segment'],
      ['a parent segment that stays inside', 'a/../b', 'parent segment'],
      ['a trailing parent segment', 'a/..', 'parent segment'],
      ['an absolute path', '/etc/passwd', 'absolute'],
      ['a bare slash', '/', 'absolute'],
      ['a protocol-relative path', '//host/share', 'absolute'],
      ['an upper-case Windows drive', 'C:/x', 'absolute'],
      ['a lower-case drive-relative path', 'c:x', 'absolute'],
      ['a backslash', 'a\\b', 'backslash'],
      ['a backslash parent segment', '..\\x', 'backslash'],
      ['a UNC path', '\\\\server\\share', 'backslash'],
    ])('throws UnsafePathError for %s', (_label, key, reason) => {
      expect(() => normalizeKey(key)).toThrow(UnsafePathError)
      expect(() => normalizeKey(key)).toThrow(reason)
    })

    it('names the key in the message', () => {
      expect(() => normalizeKey('../secret.txt')).toThrow('"../secret.txt"')
    })
  })

  describe('when the key cannot be a file name', () => {
    it.each([
      ['a NUL byte', 'a\u0000b'],
      ['a NUL byte before a parent segment', '\u0000/../x'],
      ['a newline', 'a\nb'],
      ['a tab', 'a\tb'],
      ['a unit separator', 'a\u001fb'],
      ['a DEL character', 'a\u007fb'],
    ])('throws BadPathError for %s', (_label, key) => {
      expect(() => normalizeKey(key)).toThrow(BadPathError)
      expect(() => normalizeKey(key)).toThrow('control characters')
    })

    it.each([
      ['an empty key', ''],
      ['a single dot', '.'],
      ['dots and slashes only', './/./'],
    ])('throws BadPathError for %s', (_label, key) => {
      expect(() => normalizeKey(key)).toThrow(BadPathError)
      expect(() => normalizeKey(key)).toThrow('must name a file')
    })

    it.each([
      ['undefined', undefined],
      ['null', null],
      ['a number', 42],
    ])('throws BadPathError for %s', (_label, key) => {
      expect(() => normalizeKey(key as unknown as string)).toThrow(BadPathError)
      expect(() => normalizeKey(key as unknown as string)).toThrow('must be a string')
    })
  })
})
