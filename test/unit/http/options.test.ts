import { ConfigurationError } from '../../../src/errors'
import {
  type RespondOptions,
  rejectUnknownViewOptions,
  resolveRespondOptions,
} from '../../../src/http/options'

const resolve = (options: RespondOptions) => resolveRespondOptions(options, 'TestView')
/** Lets a test pass a value of the wrong type, as JavaScript callers can. */
const loose = (options: Record<string, unknown>) => options as RespondOptions

/** The message of the ConfigurationError that `fn` throws; fails on anything else. */
function configurationError(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    if (error instanceof ConfigurationError) return error.message
    throw error
  }
  throw new Error('expected a ConfigurationError, nothing was thrown')
}

describe('resolveRespondOptions()', () => {
  describe('with no options', () => {
    it('applies every default', () => {
      expect(resolve({})).toEqual({
        attachment: true,
        cacheControl: 'private, no-cache',
        activeContent: 'sandbox',
        acceptRanges: true,
        maxRanges: 16,
        headers: {},
        idleTimeout: 60_000,
      })
    })
  })

  describe('option attachment', () => {
    it('keeps true', () => {
      expect(resolve({ attachment: true }).attachment).toBe(true)
    })

    it('keeps false', () => {
      expect(resolve({ attachment: false }).attachment).toBe(false)
    })

    it('rejects a non-boolean, naming the option', () => {
      expect(configurationError(() => resolve(loose({ attachment: 'yes' })))).toBe(
        'TestView: option "attachment" must be a boolean',
      )
    })
  })

  describe('option cacheControl', () => {
    it('keeps a custom string', () => {
      expect(resolve({ cacheControl: 'public, max-age=60' }).cacheControl).toBe('public, max-age=60')
    })

    it('keeps false', () => {
      expect(resolve({ cacheControl: false }).cacheControl).toBe(false)
    })

    it('rejects true', () => {
      expect(configurationError(() => resolve(loose({ cacheControl: true })))).toMatch(
        /option "cacheControl"/,
      )
    })

    it('rejects a number', () => {
      expect(configurationError(() => resolve(loose({ cacheControl: 60 })))).toMatch(/option "cacheControl"/)
    })

    it('rejects a value with a line break', () => {
      expect(configurationError(() => resolve({ cacheControl: 'private\r\nSet-Cookie: a=b' }))).toMatch(
        /option "cacheControl"/,
      )
    })

    it('rejects a bare LF', () => {
      expect(configurationError(() => resolve({ cacheControl: 'a\nb' }))).toMatch(/option "cacheControl"/)
    })
  })

  describe('option activeContent', () => {
    it("keeps 'sandbox'", () => {
      expect(resolve({ activeContent: 'sandbox' }).activeContent).toBe('sandbox')
    })

    it("keeps 'attachment'", () => {
      expect(resolve({ activeContent: 'attachment' }).activeContent).toBe('attachment')
    })

    it('rejects another value, naming the option', () => {
      expect(configurationError(() => resolve(loose({ activeContent: 'inline' })))).toBe(
        `TestView: option "activeContent" must be 'sandbox' or 'attachment'`,
      )
    })
  })

  describe('option acceptRanges', () => {
    it('keeps true', () => {
      expect(resolve({ acceptRanges: true }).acceptRanges).toBe(true)
    })

    it('keeps false', () => {
      expect(resolve({ acceptRanges: false }).acceptRanges).toBe(false)
    })

    it('rejects a non-boolean, naming the option', () => {
      expect(configurationError(() => resolve(loose({ acceptRanges: 1 })))).toBe(
        'TestView: option "acceptRanges" must be a boolean',
      )
    })
  })

  describe('option maxRanges', () => {
    it('keeps a positive integer', () => {
      expect(resolve({ maxRanges: 3 }).maxRanges).toBe(3)
    })

    it('accepts 1', () => {
      expect(resolve({ maxRanges: 1 }).maxRanges).toBe(1)
    })

    it.each([
      ['0', 0],
      ['a negative number', -1],
      ['a fraction', 1.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a string', '4'],
    ])('rejects %s, naming the option', (_label, value) => {
      expect(configurationError(() => resolve(loose({ maxRanges: value })))).toBe(
        'TestView: option "maxRanges" must be an integer of at least 1',
      )
    })
  })

  describe('option idleTimeout', () => {
    it('keeps a number of milliseconds', () => {
      expect(resolve({ idleTimeout: 500 }).idleTimeout).toBe(500)
    })

    it('keeps 0 (off)', () => {
      expect(resolve({ idleTimeout: 0 }).idleTimeout).toBe(0)
    })

    it('accepts the longest timer Node keeps', () => {
      expect(resolve({ idleTimeout: 2_147_483_647 }).idleTimeout).toBe(2_147_483_647)
    })

    it.each([
      ['a negative number', -1],
      ['a fraction', 1.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['more than Node keeps (a longer timer fires at once)', 2_147_483_648],
      ['a string', '500'],
    ])('rejects %s, naming the option', (_label, value) => {
      expect(configurationError(() => resolve(loose({ idleTimeout: value })))).toBe(
        'TestView: option "idleTimeout" must be a whole number of milliseconds from 0 (off) to 2147483647',
      )
    })
  })

  describe('option headers', () => {
    it('keeps valid headers', () => {
      expect(resolve({ headers: { 'X-Frame-Options': 'DENY' } }).headers).toEqual({
        'X-Frame-Options': 'DENY',
      })
    })

    it('copies the object', () => {
      const headers = { 'X-A': '1' }
      expect(resolve({ headers }).headers).not.toBe(headers)
    })

    it('accepts an empty value', () => {
      expect(resolve({ headers: { 'X-Empty': '' } }).headers).toEqual({ 'X-Empty': '' })
    })

    it('rejects an invalid header name, naming the option and the header', () => {
      expect(configurationError(() => resolve({ headers: { 'X Bad': '1' } }))).toBe(
        'TestView: option "headers" has an invalid header name "X Bad"',
      )
    })

    it('rejects a header name with a colon', () => {
      expect(configurationError(() => resolve({ headers: { 'X-A:': '1' } }))).toMatch(/option "headers"/)
    })

    it('rejects a value with a line break, naming the option and the header', () => {
      expect(configurationError(() => resolve({ headers: { 'X-A': '1\r\nSet-Cookie: a=b' } }))).toBe(
        'TestView: option "headers" has an invalid value for "X-A"',
      )
    })

    it('rejects a value with a NUL', () => {
      expect(configurationError(() => resolve({ headers: { 'X-A': 'a\u0000' } }))).toMatch(/option "headers"/)
    })

    it('rejects a non-string value', () => {
      expect(configurationError(() => resolve(loose({ headers: { 'X-A': 1 } })))).toMatch(/option "headers"/)
    })
  })

  describe('the owner', () => {
    it('starts the message', () => {
      expect(
        configurationError(() => resolveRespondOptions(loose({ attachment: 1 }), 'ObjectDownloadView')),
      ).toMatch(/^ObjectDownloadView: /)
    })
  })
})

describe('rejectUnknownViewOptions()', () => {
  it('accepts the responder options', () => {
    expect(() =>
      rejectUnknownViewOptions(
        {
          attachment: true,
          cacheControl: false,
          activeContent: 'sandbox',
          acceptRanges: true,
          maxRanges: 2,
          headers: {},
          idleTimeout: 0,
        },
        [],
        'TestView',
      ),
    ).not.toThrow()
  })

  it('accepts the keys the caller allows', () => {
    expect(() => rejectUnknownViewOptions({ storage: 1 }, ['storage'], 'TestView')).not.toThrow()
  })

  it('rejects any other key, naming it', () => {
    expect(configurationError(() => rejectUnknownViewOptions({ atachment: true }, [], 'TestView'))).toBe(
      'TestView: unknown option "atachment"',
    )
  })
})
