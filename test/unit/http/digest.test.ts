import { createHash } from 'node:crypto'
import { parseWantDigest, reprDigest } from '../../../src/http/digest'
import { NUMS, NUMS_SHA256 } from './fixtures'

/** The Repr-Digest of NUMS, computed here from the bytes, not from the hex. */
const NUMS_DIGEST = `sha-256=:${createHash('sha256').update(NUMS).digest('base64')}:`

describe('reprDigest()', () => {
  it('encodes the 32 bytes of the hex SHA-256 as a Structured Field byte sequence', () => {
    expect(reprDigest(NUMS_SHA256, undefined)).toBe(NUMS_DIGEST)
  })

  it('reads upper-case hex too', () => {
    expect(reprDigest(NUMS_SHA256.toUpperCase(), undefined)).toBe(NUMS_DIGEST)
  })

  it('says nothing without a SHA-256', () => {
    expect(reprDigest(undefined, undefined)).toBeUndefined()
    expect(reprDigest('', undefined)).toBeUndefined()
  })

  it('says nothing for a value that is not 64 hex digits', () => {
    expect(reprDigest(NUMS_SHA256.slice(1), undefined)).toBeUndefined()
    expect(reprDigest(`${NUMS_SHA256.slice(1)}g`, undefined)).toBeUndefined()
  })

  describe('with Want-Repr-Digest', () => {
    it('sends sha-256 when the client prefers it', () => {
      expect(reprDigest(NUMS_SHA256, 'sha-256=3, sha-512=0')).toBe(NUMS_DIGEST)
    })

    it('sends sha-256 when the client prefers sha-512 but accepts it', () => {
      expect(reprDigest(NUMS_SHA256, 'sha-512=8, sha-256=1')).toBe(NUMS_DIGEST)
    })

    it('sends sha-256 when the client names only algorithms we do not have', () => {
      expect(reprDigest(NUMS_SHA256, 'sha-512=5')).toBe(NUMS_DIGEST)
    })

    it('sends nothing when sha-256 is "not acceptable" (0) and only others are wanted', () => {
      expect(reprDigest(NUMS_SHA256, 'sha-256=0, sha-512=3')).toBeUndefined()
    })

    it('sends nothing when sha-256 alone is refused', () => {
      expect(reprDigest(NUMS_SHA256, 'sha-256=0')).toBeUndefined()
    })

    it('takes the last value of a key given twice', () => {
      expect(reprDigest(NUMS_SHA256, 'sha-256=0, sha-256=2')).toBe(NUMS_DIGEST)
      expect(reprDigest(NUMS_SHA256, 'sha-256=2, sha-256=0')).toBeUndefined()
    })

    it('reads several field lines as one dictionary', () => {
      expect(reprDigest(NUMS_SHA256, ['sha-512=3', 'sha-256=0'])).toBeUndefined()
    })

    it('ignores a field that does not parse, and sends sha-256', () => {
      expect(reprDigest(NUMS_SHA256, 'SHA-256=0')).toBe(NUMS_DIGEST)
      expect(reprDigest(NUMS_SHA256, 'sha-256=0,,')).toBe(NUMS_DIGEST)
    })
  })
})

describe('parseWantDigest()', () => {
  it('reads a dictionary of preferences', () => {
    expect(parseWantDigest('sha-256=3, sha-512=0')).toEqual(
      new Map([
        ['sha-256', 3],
        ['sha-512', 0],
      ]),
    )
  })

  it('reads an empty field as no preference', () => {
    expect(parseWantDigest('  ')).toEqual(new Map())
  })

  it('reads past parameters', () => {
    expect(parseWantDigest('sha-256=0;x=1, md5=1')).toEqual(
      new Map([
        ['sha-256', 0],
        ['md5', 1],
      ]),
    )
  })

  it('leaves out members that are not integers from 0 to 10', () => {
    for (const value of ['sha-256=11', 'sha-256=-1', 'sha-256=0.5', 'sha-256=abc', 'sha-256'])
      expect([value, parseWantDigest(value)]).toEqual([value, new Map()])
  })

  it('fails on keys that are not Structured Field keys, empty members and strings', () => {
    for (const value of ['SHA-256=1', '1sha=1', 'sha-256=1,', 'sha-256="1"', 'a b=1', 'sha-256=1;X'])
      expect([value, parseWantDigest(value)]).toEqual([value, undefined])
  })
})
