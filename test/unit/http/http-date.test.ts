import { parseHttpDate, toSeconds } from '../../../src/http/http-date'

// RFC 9110 §5.6.7's example instant: Sun, 06 Nov 1994 08:49:37 GMT.
const EXAMPLE = Date.UTC(1994, 10, 6, 8, 49, 37)

describe('parseHttpDate()', () => {
  describe('with a valid HTTP-date', () => {
    it('reads IMF-fixdate', () => {
      expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(EXAMPLE)
    })

    it('reads the obsolete RFC 850 format', () => {
      expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(EXAMPLE)
    })

    it('reads the obsolete asctime format', () => {
      expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(EXAMPLE)
    })

    it('reads asctime with a two-digit day', () => {
      expect(parseHttpDate('Thu Nov 16 08:49:37 1994')).toBe(Date.UTC(1994, 10, 16, 8, 49, 37))
    })

    it('ignores surrounding white space', () => {
      expect(parseHttpDate('  Sun, 06 Nov 1994 08:49:37 GMT ')).toBe(EXAMPLE)
    })

    it('reads the last second of a day', () => {
      expect(parseHttpDate('Sat, 31 Dec 2022 23:59:59 GMT')).toBe(Date.UTC(2022, 11, 31, 23, 59, 59))
    })

    it('reads 29 February of a leap year', () => {
      expect(parseHttpDate('Thu, 29 Feb 2024 00:00:00 GMT')).toBe(Date.UTC(2024, 1, 29))
    })
  })

  describe('without a value', () => {
    it('is undefined', () => {
      expect(parseHttpDate(undefined)).toBeUndefined()
    })
  })

  describe('with something that is not an HTTP-date', () => {
    it.each([
      ['an empty string', ''],
      ['an ISO 8601 date', '1994-11-06T08:49:37Z'],
      ['a number', '784111777'],
      ['another time zone', 'Sun, 06 Nov 1994 08:49:37 UTC'],
      ['a numeric offset', 'Sun, 06 Nov 1994 08:49:37 +0000'],
      ['a lower-case month', 'Sun, 06 nov 1994 08:49:37 GMT'],
      ['a one-digit day in IMF-fixdate', 'Sun, 6 Nov 1994 08:49:37 GMT'],
      ['a missing weekday', '06 Nov 1994 08:49:37 GMT'],
      ['trailing text', 'Sun, 06 Nov 1994 08:49:37 GMT x'],
      ['garbage', 'yesterday'],
    ])('is undefined for %s', (_label, value) => {
      expect(parseHttpDate(value)).toBeUndefined()
    })
  })

  describe('with an impossible date in a valid format', () => {
    it.each([
      ['31 February', 'Sun, 31 Feb 2023 08:49:37 GMT'],
      ['29 February of a common year', 'Wed, 29 Feb 2023 08:49:37 GMT'],
      ['day 0', 'Sun, 00 Nov 1994 08:49:37 GMT'],
      ['day 32', 'Sun, 32 Jan 1994 08:49:37 GMT'],
      ['hour 24', 'Sun, 06 Nov 1994 24:00:00 GMT'],
      ['minute 60', 'Sun, 06 Nov 1994 08:60:37 GMT'],
      ['second 61', 'Sun, 06 Nov 1994 08:49:61 GMT'],
      ['31 April in RFC 850', 'Sunday, 31-Apr-94 08:49:37 GMT'],
      ['31 April in asctime', 'Sun Apr 31 08:49:37 1994'],
    ])('is undefined for %s', (_label, value) => {
      expect(parseHttpDate(value)).toBeUndefined()
    })
  })
})

describe('toSeconds()', () => {
  it('drops the milliseconds', () => {
    expect(toSeconds(new Date(EXAMPLE + 999))).toBe(EXAMPLE / 1000)
  })

  it('keeps whole seconds as they are', () => {
    expect(toSeconds(new Date(EXAMPLE))).toBe(EXAMPLE / 1000)
  })
})
