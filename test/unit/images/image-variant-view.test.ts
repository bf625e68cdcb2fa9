/** @module ImageVariantView without a database: its options, and the query that names a variant. */
import type { IncomingMessage } from 'node:http'
import type { DataSource } from 'typeorm'
import { StoredImage } from '../../../src/columns/stored-image'
import { ConfigurationError, InvalidParameterError } from '../../../src/errors'
import {
  DEFAULT_VARIANT_WIDTHS,
  ImageVariantView,
  type ImageVariantViewOptions,
} from '../../../src/images/image-variant-view'
import { VARIANT_FORMATS } from '../../../src/images/variants'
import type { DownloadRequest } from '../../../src/views/download-view'
import { TestPhoto } from '../../helpers/image-entities'
import { rejectionOf } from '../../helpers/streams'

/** A stand-in DataSource that records queries (none should run in these tests). */
const query = jest.fn()
const dataSource = { query, isInitialized: true } as unknown as DataSource

function viewWith(options: Partial<ImageVariantViewOptions<TestPhoto>> = {}): ImageVariantView<TestPhoto> {
  return new ImageVariantView({ dataSource, entity: TestPhoto, file: 'image', ...options })
}

const requestFor = (url: string | undefined): DownloadRequest => ({
  req: { method: 'GET', url, headers: {} } as IncomingMessage,
  params: { id: '1' },
})

/** The message of the InvalidParameterError that getVariantSpec() throws for `url`. */
function refusal(view: ImageVariantView<TestPhoto>, url: string | undefined): string {
  try {
    view.getVariantSpec(requestFor(url))
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidParameterError)
    return (error as Error).message
  }
  throw new Error(`${url} was accepted`)
}

beforeEach(() => query.mockReset())

describe('new ImageVariantView()', () => {
  describe('with no variant options', () => {
    it('allows the default widths', () => {
      expect(viewWith().widths).toEqual([64, 128, 256, 512, 1024, 2048])
      expect(DEFAULT_VARIANT_WIDTHS).toEqual([64, 128, 256, 512, 1024, 2048])
    })

    it('allows every format', () => {
      expect(viewWith().formats).toEqual(['webp', 'avif', 'jpeg', 'png'])
    })

    it('sets no quality', () => {
      expect(viewWith().quality).toBeUndefined()
    })

    it("stores variants under 'variants'", () => {
      expect(viewWith().variantPrefix).toBe('variants')
    })

    it('remembers up to 1000 failed variants for 600 seconds', () => {
      expect(viewWith().rememberFailures).toEqual({ maxEntries: 1000, ttl: 600 })
    })
  })

  describe('with rememberFailures', () => {
    it('keeps what it is given, with the defaults for the rest', () => {
      expect(viewWith({ rememberFailures: { maxEntries: 5 } }).rememberFailures).toEqual({
        maxEntries: 5,
        ttl: 600,
      })
      expect(viewWith({ rememberFailures: { ttl: 0.5 } }).rememberFailures).toEqual({
        maxEntries: 1000,
        ttl: 0.5,
      })
    })

    it('remembers nothing when false', () => {
      expect(viewWith({ rememberFailures: false }).rememberFailures).toBe(false)
    })

    it.each([0, 1.5, -1, 1_000_001, '10', Number.NaN])('refuses maxEntries %p', (maxEntries) => {
      expect(() => viewWith({ rememberFailures: { maxEntries: maxEntries as number } })).toThrow(
        new ConfigurationError(
          'ImageVariantView: option "rememberFailures.maxEntries" must be an integer from 1 to 1000000',
        ),
      )
    })

    it.each([0, -1, Number.POSITIVE_INFINITY, Number.NaN, '60'])('refuses ttl %p', (ttl) => {
      expect(() => viewWith({ rememberFailures: { ttl: ttl as number } })).toThrow(
        new ConfigurationError(
          'ImageVariantView: option "rememberFailures.ttl" must be a number of seconds above 0, at most 86400',
        ),
      )
    })

    it.each([true, null, 'yes', []])('refuses %p', (rememberFailures) => {
      expect(() => viewWith({ rememberFailures: rememberFailures as never })).toThrow(
        new ConfigurationError(
          'ImageVariantView: option "rememberFailures" must be false or an object with maxEntries and ttl',
        ),
      )
    })

    it('refuses an unknown key, naming it', () => {
      expect(() => viewWith({ rememberFailures: { max: 5 } as never })).toThrow(
        new ConfigurationError('ImageVariantView: unknown option "rememberFailures.max"'),
      )
    })
  })

  describe('with widths', () => {
    it('keeps them, sorted, without duplicates', () => {
      expect(viewWith({ widths: [300, 1, 10000, 300] }).widths).toEqual([1, 300, 10000])
    })

    it.each([[[]], [[0]], [[10001]], [[1.5]], [[Number.NaN]], [['64']], ['64']])('refuses %p', (widths) => {
      expect(() => viewWith({ widths: widths as number[] })).toThrow(
        new ConfigurationError(
          'ImageVariantView: option "widths" must be a non-empty array of integers from 1 to 10000',
        ),
      )
    })
  })

  describe('with formats', () => {
    it('keeps them', () => {
      expect(viewWith({ formats: ['png', 'webp'] }).formats).toEqual(['png', 'webp'])
    })

    it.each([[[]], [['gif']], [['jpg']], ['webp']])('refuses %p', (formats) => {
      expect(() => viewWith({ formats: formats as never })).toThrow(
        new ConfigurationError(
          "ImageVariantView: option \"formats\" must be a non-empty array of 'webp', 'avif', 'jpeg', 'png'",
        ),
      )
    })
  })

  describe('with quality', () => {
    it.each([1, 80, 100])('keeps %i', (quality) => {
      expect(viewWith({ quality }).quality).toBe(quality)
    })

    it.each([0, 101, 50.5, '80'])('refuses %p', (quality) => {
      expect(() => viewWith({ quality: quality as number })).toThrow(
        new ConfigurationError('ImageVariantView: option "quality" must be an integer from 1 to 100'),
      )
    })
  })

  describe('with variantPrefix', () => {
    it('keeps a relative key prefix', () => {
      expect(viewWith({ variantPrefix: 'cache/images' }).variantPrefix).toBe('cache/images')
    })

    it.each(['', '/abs', '../up', 'a//b', 'a/'])('refuses %p', (variantPrefix) => {
      expect(() => viewWith({ variantPrefix })).toThrow(
        new ConfigurationError(
          'ImageVariantView: option "variantPrefix" must be a relative key prefix such as "variants"',
        ),
      )
    })
  })

  describe('with a file column that is not an image column', () => {
    it('throws a ConfigurationError', () => {
      expect(() => viewWith({ file: 'document' })).toThrow(
        new ConfigurationError(
          'ImageVariantView: option "file" names "document", which is not an @ImageColumn() of TestPhoto',
        ),
      )
    })
  })

  describe('with an unknown option', () => {
    it('throws a ConfigurationError naming it', () => {
      expect(() => viewWith({ width: 64 } as never)).toThrow(/unknown option "width"/)
    })
  })
})

describe('ImageVariantView.getVariantSpec()', () => {
  const view = viewWith({ widths: [64, 256], formats: ['webp', 'jpeg'] })

  it('reads width and format from the query', () => {
    expect(view.getVariantSpec(requestFor('/p/1?width=256&format=webp'))).toEqual({
      width: 256,
      format: 'webp',
    })
  })

  it('ignores other parameters (a signature, say)', () => {
    expect(view.getVariantSpec(requestFor('/p/1?format=jpeg&expires=1&width=64&sig=x'))).toEqual({
      width: 64,
      format: 'jpeg',
    })
  })

  describe('with format=auto', () => {
    it('leaves the format to be chosen per request', () => {
      expect(view.getVariantSpec(requestFor('/p/1?width=64&format=auto'))).toEqual({
        width: 64,
        format: 'auto',
      })
    })

    it.each(['AUTO', 'Auto', 'auto '])('refuses %p', (format) => {
      expect(refusal(view, `/?width=64&format=${encodeURIComponent(format)}`)).toMatch(
        /^Query parameter "format" must be one of webp, jpeg, auto \(got /,
      )
    })
  })

  describe('with quality set', () => {
    it('adds it to the variant', () => {
      expect(viewWith({ quality: 70 }).getVariantSpec(requestFor('/?width=64&format=avif'))).toEqual({
        width: 64,
        format: 'avif',
        quality: 70,
      })
    })
  })

  describe('with a width outside the list', () => {
    it('names the allowed widths', () => {
      expect(refusal(view, '/?width=128&format=webp')).toBe(
        'Query parameter "width" must be one of 64, 256 (got "128")',
      )
    })
  })

  describe.each(['0256', '256.0', '+256', ' 256', '256 ', '', 'abc', '2e2', '-64', '99999999999999999999'])(
    'with the malformed width %p',
    (width) => {
      it('refuses it', () => {
        expect(refusal(view, `/?width=${encodeURIComponent(width)}&format=webp`)).toMatch(
          /^Query parameter "width" must be one of 64, 256 \(got /,
        )
      })
    },
  )

  describe('with a format outside the list', () => {
    it.each(['png', 'gif', 'jpg', 'WEBP', ''])('refuses %p, naming the allowed formats', (format) => {
      expect(refusal(view, `/?width=64&format=${format}`)).toBe(
        `Query parameter "format" must be one of webp, jpeg, auto (got "${format}")`,
      )
    })
  })

  describe('with a parameter missing', () => {
    it.each([
      ['/?format=webp', 'width', '64, 256'],
      ['/?width=64', 'format', 'webp, jpeg, auto'],
      ['/', 'width', '64, 256'],
      [undefined, 'width', '64, 256'],
    ])('refuses %p', (url, name, allowed) => {
      expect(refusal(view, url)).toBe(`Query parameter "${name}" must be one of ${allowed} (missing)`)
    })
  })

  describe('with a parameter repeated', () => {
    it.each([
      ['/?width=64&width=64&format=webp', 'width', '64, 256'],
      ['/?width=64&format=webp&format=jpeg', 'format', 'webp, jpeg, auto'],
    ])('refuses %p', (url, name, allowed) => {
      expect(refusal(view, url)).toBe(`Query parameter "${name}" must be one of ${allowed} (given 2 times)`)
    })
  })

  describe('with a long bad value', () => {
    it('quotes only its start', () => {
      expect(refusal(view, `/?width=64&format=${'x'.repeat(500)}`)).toBe(
        `Query parameter "format" must be one of webp, jpeg, auto (got "${'x'.repeat(40)}…")`,
      )
    })
  })
})

describe('ImageVariantView.getFile()', () => {
  describe('with a bad query', () => {
    it('refuses the request before any database query', async () => {
      const error = await rejectionOf(viewWith().getFile(requestFor('/?width=7&format=webp')))
      expect(error).toBeInstanceOf(InvalidParameterError)
      expect(query).not.toHaveBeenCalled()
    })
  })
})

describe('ImageVariantView.negotiateFormat()', () => {
  const withAccept = (accept: string | undefined): DownloadRequest => ({
    req: { method: 'GET', url: '/', headers: accept === undefined ? {} : { accept } } as IncomingMessage,
    params: {},
  })
  const source = Object.assign(new StoredImage(), { format: 'png', hasAlpha: true })

  it("chooses from the request's Accept, among the view's formats", () => {
    expect(viewWith().negotiateFormat(withAccept('image/avif,image/webp,*/*'), source)).toBe('avif')
    expect(
      viewWith({ formats: ['webp', 'png'] }).negotiateFormat(withAccept('image/avif,image/webp,*/*'), source),
    ).toBe('webp')
  })

  it("falls back to the source's own format", () => {
    expect(viewWith().negotiateFormat(withAccept('*/*'), source)).toBe('png')
    expect(viewWith().negotiateFormat(withAccept(undefined), source)).toBe('png')
  })
})

describe('VARIANT_FORMATS', () => {
  it('is the default format list', () => {
    expect(viewWith().formats).toEqual([...VARIANT_FORMATS])
  })
})
