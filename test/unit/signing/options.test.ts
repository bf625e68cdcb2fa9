import { ConfigurationError } from '../../../src/errors'
import { stderrLogger } from '../../../src/logger'
import {
  isResolvedSignatureOptions,
  MIN_SECRET_BYTES,
  resolveSignatureOptions,
  type SignatureOptions,
} from '../../../src/signing/options'
import { signUrl, verifySignature } from '../../../src/signing/signed-url'

const SECRET = 'options-test-secret-0123456789abcdef'
const NOW = Date.parse('2024-06-10T12:00:00Z')

const resolve = (options: SignatureOptions) => resolveSignatureOptions(options, 'TestView')
/** Lets a test pass a value of the wrong type, as JavaScript callers can. */
const loose = (options: Record<string, unknown>) => options as unknown as SignatureOptions

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

describe('resolveSignatureOptions()', () => {
  describe('with only keys', () => {
    it('applies every default', () => {
      const resolved = resolve({ keys: [{ id: 'k1', secret: SECRET }] })
      expect([...resolved.keys.keys()]).toEqual(['k1'])
      expect(resolved.maxAge).toBeUndefined()
      expect(resolved.clock).toBe(Date.now)
      expect(resolved.logger).toBe(stderrLogger)
    })

    it('marks the result as resolved, and only the result', () => {
      const options = { keys: [{ id: 'k1', secret: SECRET }] }
      expect(isResolvedSignatureOptions(resolve(options))).toBe(true)
      expect(isResolvedSignatureOptions(options)).toBe(false)
    })

    it('freezes the result', () => {
      expect(Object.isFrozen(resolve({ keys: { k1: SECRET } }))).toBe(true)
    })
  })

  describe('option keys', () => {
    it('accepts a record of key id to secret', () => {
      expect([...resolve({ keys: { k1: SECRET, k2: Buffer.alloc(32) } }).keys.keys()]).toEqual(['k1', 'k2'])
    })

    it('accepts a Uint8Array secret', () => {
      expect(resolve({ keys: [{ id: 'k1', secret: new Uint8Array(MIN_SECRET_BYTES) }] }).keys.size).toBe(1)
    })

    it('copies the secret, so changing the buffer later changes nothing', () => {
      const secret = Buffer.alloc(32, 1)
      const resolved = resolveSignatureOptions({ keys: [{ id: 'k1', secret }], clock: () => NOW }, 'test')
      const url = signUrl('/a', { key: { id: 'k1', secret: Buffer.alloc(32, 1) }, expiresIn: 60, now: NOW })
      secret.fill(2)
      expect(verifySignature({ url }, resolved).keyId).toBe('k1')
    })

    it.each([
      ['missing', undefined],
      ['an empty array', []],
      ['an empty record', {}],
      ['a string', 'secret'],
      ['a Buffer', Buffer.alloc(32)],
    ])('refuses %s, naming the option', (_, keys) => {
      expect(configurationError(() => resolve(loose({ keys })))).toBe(
        'TestView: option "keys" must be a non-empty array of { id, secret }, or a record of key id to secret',
      )
    })

    it('refuses an id used twice', () => {
      const keys = [
        { id: 'k1', secret: SECRET },
        { id: 'k1', secret: `${SECRET}-2` },
      ]
      expect(configurationError(() => resolve({ keys }))).toBe(
        'TestView: option "keys" has the key id "k1" twice',
      )
    })

    it.each(['', 'a b', 'a/b', 'é', 'x'.repeat(33)])('refuses the key id %p', (id) => {
      expect(configurationError(() => resolve({ keys: [{ id, secret: SECRET }] }))).toMatch(
        /^TestView: option "keys" has an invalid key id ".*": use 1 to 32 letters, digits, "-", "_", "." or "~"$/,
      )
    })

    it('refuses a key that is not an object', () => {
      expect(configurationError(() => resolve(loose({ keys: [null] })))).toBe(
        'TestView: option "keys" has an invalid key id: use 1 to 32 letters, digits, "-", "_", "." or "~"',
      )
    })

    it('refuses a secret shorter than 32 bytes', () => {
      expect(configurationError(() => resolve({ keys: { k1: 'x'.repeat(31) } }))).toBe(
        'TestView: option "keys" has a secret of 31 bytes for key "k1": use at least 32 random bytes',
      )
    })

    it('counts the bytes of a string secret, not its characters', () => {
      expect(resolve({ keys: { k1: 'é'.repeat(16) } }).keys.size).toBe(1)
    })

    it('refuses a secret that is neither a string nor bytes', () => {
      expect(configurationError(() => resolve(loose({ keys: { k1: 42 } })))).toBe(
        'TestView: option "keys" needs a string or Uint8Array secret for key "k1"',
      )
    })
  })

  describe('option maxAge', () => {
    it('keeps a positive integer', () => {
      expect(resolve({ keys: { k1: SECRET }, maxAge: 3600 }).maxAge).toBe(3600)
    })

    it('is undefined when absent', () => {
      expect(resolve({ keys: { k1: SECRET } }).maxAge).toBeUndefined()
    })

    it.each([0, -5, 1.5, '60', Number.POSITIVE_INFINITY])('refuses %p, naming the option', (maxAge) => {
      expect(configurationError(() => resolve(loose({ keys: { k1: SECRET }, maxAge })))).toBe(
        'TestView: option "maxAge" must be a positive integer (seconds), or undefined for no cap',
      )
    })
  })

  describe('option clock', () => {
    it('keeps the function given', () => {
      const clock = () => NOW
      expect(resolve({ keys: { k1: SECRET }, clock }).clock).toBe(clock)
    })

    it('refuses a number, naming the option', () => {
      expect(configurationError(() => resolve(loose({ keys: { k1: SECRET }, clock: NOW })))).toBe(
        'TestView: option "clock" must be a function that returns milliseconds since the epoch',
      )
    })
  })

  describe('option logger', () => {
    it('keeps a logger without warn()', () => {
      const logger = { error: () => {} }
      expect(resolve({ keys: { k1: SECRET }, logger }).logger).toBe(logger)
    })

    it('refuses a logger without error(), naming the option', () => {
      expect(
        configurationError(() => resolve(loose({ keys: { k1: SECRET }, logger: { warn: () => {} } }))),
      ).toBe('TestView: option "logger" must have an error() method')
    })

    it('refuses a warn that is not a function', () => {
      expect(
        configurationError(() =>
          resolve(loose({ keys: { k1: SECRET }, logger: { error: () => {}, warn: 1 } })),
        ),
      ).toBe('TestView: option "logger" must have a warn() method that is a function, or none')
    })
  })

  describe('the options object', () => {
    it('refuses an unknown option, naming it', () => {
      expect(configurationError(() => resolve(loose({ keys: { k1: SECRET }, maxage: 60 })))).toBe(
        'TestView: option "maxage" is unknown',
      )
    })

    it.each([undefined, null, 'keys', [{ id: 'k1', secret: SECRET }]])('refuses %p', (options) => {
      expect(configurationError(() => resolve(options as unknown as SignatureOptions))).toBe(
        'TestView: options must be an object with "keys"',
      )
    })
  })
})
