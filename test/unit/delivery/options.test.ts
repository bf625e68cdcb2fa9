import { resolveDelivery } from '../../../src/delivery/options'
import { ConfigurationError } from '../../../src/errors'

/** The message of the ConfigurationError that resolving `option` throws. */
function errorOf(option: unknown): string {
  try {
    resolveDelivery(option, 'View')
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError)
    return (error as Error).message
  }
  throw new Error(`resolveDelivery accepted ${JSON.stringify(option)}`)
}

describe('resolveDelivery()', () => {
  it('gives undefined when the option is not set', () => {
    expect(resolveDelivery(undefined, 'View')).toBeUndefined()
  })

  it.each([['stream'], [{ mode: 'stream' }]])('reads %j as stream', (option) => {
    expect(resolveDelivery(option, 'View')).toEqual({ mode: 'stream' })
  })

  describe('for redirect', () => {
    it("applies the defaults to 'redirect': 302, a 300 s URL, a 60 s redirect", () => {
      expect(resolveDelivery('redirect', 'View')).toEqual({
        mode: 'redirect',
        status: 302,
        expiresIn: 300,
        maxAge: 60,
      })
    })

    it('takes the status, the lifetime and the max-age', () => {
      expect(resolveDelivery({ mode: 'redirect', status: 307, expiresIn: 120, maxAge: 30 }, 'View')).toEqual({
        mode: 'redirect',
        status: 307,
        expiresIn: 120,
        maxAge: 30,
      })
    })

    it('makes the default max-age a fifth of the lifetime, rounded down', () => {
      expect(resolveDelivery({ mode: 'redirect', expiresIn: 14 }, 'View')).toMatchObject({ maxAge: 2 })
      expect(resolveDelivery({ mode: 'redirect', expiresIn: 1 }, 'View')).toMatchObject({ maxAge: 0 })
    })

    it.each([[301], [200], ['302']])('refuses the status %j', (status) => {
      expect(errorOf({ mode: 'redirect', status })).toBe(
        'View: option "delivery.status" must be 302, 303 or 307',
      )
    })

    it.each([[0], [1.5], [604801], ['300']])('refuses the lifetime %j', (expiresIn) => {
      expect(errorOf({ mode: 'redirect', expiresIn })).toMatch(/^View: option "delivery.expiresIn" must be/)
    })

    it.each([[300], [301], [-1], [2.5]])('refuses the max-age %j for a 300 s URL', (maxAge) => {
      expect(errorOf({ mode: 'redirect', expiresIn: 300, maxAge })).toMatch(
        /^View: option "delivery.maxAge" must be .* less than expiresIn \(300\)/,
      )
    })
  })

  describe('for x-accel', () => {
    it('takes the location, with a 60 s URL by default', () => {
      expect(resolveDelivery({ mode: 'x-accel', location: '/_bucket/' }, 'View')).toEqual({
        mode: 'x-accel',
        location: '/_bucket/',
        expiresIn: 60,
      })
    })

    it("refuses 'x-accel' without a location, saying what to write", () => {
      expect(errorOf('x-accel')).toMatch(/^View: option "delivery" 'x-accel' needs the nginx location/)
    })

    it.each([[undefined], ['_bucket/'], ['/_bucket'], ['/a/../b/'], ['/a/%2e%2e/'], ['/a b/'], [42]])(
      'refuses the location %j',
      (location) => {
        expect(errorOf({ mode: 'x-accel', location })).toMatch(/^View: option "delivery.location" must be/)
      },
    )

    it('refuses a lifetime out of range', () => {
      expect(errorOf({ mode: 'x-accel', location: '/_bucket/', expiresIn: 0 })).toMatch(
        /"delivery.expiresIn"/,
      )
    })
  })

  describe('with a wrong option', () => {
    it('names a wrong mode', () => {
      expect(errorOf({ mode: 'sendfile' })).toBe(
        `View: option "delivery.mode" must be 'stream', 'redirect' or 'x-accel'`,
      )
    })

    it('names a wrong string', () => {
      expect(errorOf('bucket')).toMatch(/^View: option "delivery" must be/)
    })

    it.each([[42], [null], [['redirect']]])('names a value that is no option: %j', (option) => {
      expect(errorOf(option)).toMatch(/^View: option "delivery" must be/)
    })

    it('names a key the mode does not take', () => {
      expect(errorOf({ mode: 'stream', expiresIn: 10 })).toBe(
        `View: option "delivery" has an unknown key "expiresIn" for mode 'stream'`,
      )
      expect(errorOf({ mode: 'redirect', location: '/_bucket/' })).toMatch(/unknown key "location"/)
    })
  })
})
