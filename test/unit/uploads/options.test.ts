/** @module The options of receiveUpload(): defaults, checks that name the option, and the type patterns. */
import { ConfigurationError } from '../../../src/errors'
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_FIELD_BYTES,
  isAllowedType,
  type ReceiveUploadOptions,
  resolveUploadOptions,
} from '../../../src/uploads/options'

const resolve = (options: ReceiveUploadOptions) => resolveUploadOptions(options, 'receiveUpload()')

describe('resolveUploadOptions()', () => {
  it('fills in the defaults', () => {
    expect(resolve({})).toEqual({
      field: 'file',
      maxBytes: DEFAULT_MAX_BYTES,
      allowedTypes: undefined,
      fields: new Set(),
      maxFieldBytes: DEFAULT_MAX_FIELD_BYTES,
    })
    expect(DEFAULT_MAX_BYTES).toBe(10 * 1024 * 1024)
  })

  it('keeps what is given, the types in lower case', () => {
    expect(
      resolve({
        field: 'scan',
        maxBytes: 5,
        allowedTypes: ['Image/*', 'application/PDF'],
        fields: ['a', 'b'],
        maxFieldBytes: 9,
      }),
    ).toEqual({
      field: 'scan',
      maxBytes: 5,
      allowedTypes: ['image/*', 'application/pdf'],
      fields: new Set(['a', 'b']),
      maxFieldBytes: 9,
    })
  })

  it.each<[string, unknown]>([
    ['field', ''],
    ['field', 3],
    ['maxBytes', 0],
    ['maxBytes', 1.5],
    ['maxBytes', '10MB'],
    ['maxFieldBytes', -1],
    ['allowedTypes', []],
    ['allowedTypes', 'image/png'],
    ['allowedTypes', ['png']],
    ['allowedTypes', ['image/png; charset=x']],
    ['allowedTypes', ['*/png']],
    ['fields', 'title'],
    ['fields', ['']],
    ['fields', ['file']],
    ['fields', Array.from({ length: 101 }, (_, i) => `f${i}`)],
  ])('throws a ConfigurationError naming "%s" for %p', (option, value) => {
    const error = (() => {
      try {
        resolve({ [option]: value } as ReceiveUploadOptions)
      } catch (caught) {
        return caught
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as Error).message).toContain(`receiveUpload(): option "${option}"`)
  })

  it('throws a ConfigurationError for options that are not an object', () => {
    expect(() => resolve(null as unknown as ReceiveUploadOptions)).toThrow(ConfigurationError)
  })
})

describe('isAllowedType()', () => {
  it('allows every type when no list is given', () => {
    expect(isAllowedType('application/octet-stream', undefined)).toBe(true)
  })

  it('allows an exact type, whatever its case', () => {
    expect(isAllowedType('Application/PDF', ['application/pdf'])).toBe(true)
  })

  it('allows a type under a top-level pattern', () => {
    expect(isAllowedType('image/webp', ['application/pdf', 'image/*'])).toBe(true)
  })

  it('allows anything under */*', () => {
    expect(isAllowedType('text/plain', ['*/*'])).toBe(true)
  })

  it('refuses a type that is not listed', () => {
    expect(isAllowedType('text/plain', ['application/pdf', 'image/*'])).toBe(false)
  })

  it('does not read a pattern as a prefix of another top-level type', () => {
    expect(isAllowedType('imagex/png', ['image/*'])).toBe(false)
  })
})
