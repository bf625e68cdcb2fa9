/** @module format=auto: parsing Accept, and the format a variant is encoded in for each client. */
import { imageQuality, negotiateFormat, parseAccept } from '../../../src/images/negotiate'
import { VARIANT_FORMATS } from '../../../src/images/variants'

/** The Accept headers browsers send for an `<img>`, and curl's. */
const ACCEPT = {
  chrome: 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8',
  firefox: 'image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5',
  safari17:
    'image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5',
  safari15: 'image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5',
  curl: '*/*',
}

const jpeg = { format: 'jpeg', hasAlpha: false }
const png = { format: 'png', hasAlpha: true }

describe('parseAccept()', () => {
  it('reads each media range with its weight, lower case', () => {
    expect(parseAccept('Image/AVIF, image/*;q=0.8, */*; q=0.5')).toEqual([
      { type: 'image', subtype: 'avif', q: 1 },
      { type: 'image', subtype: '*', q: 0.8 },
      { type: '*', subtype: '*', q: 0.5 },
    ])
  })

  it('joins a header given several times', () => {
    expect(parseAccept(['image/webp', 'image/png;q=0.5'])).toEqual([
      { type: 'image', subtype: 'webp', q: 1 },
      { type: 'image', subtype: 'png', q: 0.5 },
    ])
  })

  it('ignores parameters other than q', () => {
    expect(parseAccept('image/avif;level=1;q=0.4')).toEqual([{ type: 'image', subtype: 'avif', q: 0.4 }])
  })

  it.each([
    ['a weight over 1', 'image/avif;q=1.5'],
    ['a weight with four decimals', 'image/avif;q=0.1234'],
    ['a negative weight', 'image/avif;q=-1'],
    ['a word for a weight', 'image/avif;q=high'],
    ['no subtype', 'image'],
    ['a subtype under the any-type', '*/avif'],
    ['a space inside the range', 'image/ avif x'],
  ])('skips a member with %s, keeping the others', (_what, member) => {
    expect(parseAccept(`${member},image/png`)).toEqual([{ type: 'image', subtype: 'png', q: 1 }])
  })

  it.each([undefined, '', '  '])('is undefined for %p (anything goes)', (header) => {
    expect(parseAccept(header)).toBeUndefined()
  })
})

describe('imageQuality()', () => {
  const ranges = parseAccept('image/png;q=0.3,image/*;q=0.6,*/*;q=0.1') ?? []

  it('takes the most specific range', () => {
    expect(imageQuality(ranges, 'png', true)).toBe(0.3)
    expect(imageQuality(ranges, 'jpeg', true)).toBe(0.6)
  })

  it('falls back to the any-type range', () => {
    expect(imageQuality(parseAccept('text/html,*/*;q=0.1') ?? [], 'jpeg', true)).toBe(0.1)
  })

  it('counts only a range that names the type without wildcards', () => {
    expect(imageQuality(ranges, 'avif', false)).toBe(0)
    expect(imageQuality(parseAccept('image/avif;q=0.2,*/*') ?? [], 'avif', false)).toBe(0.2)
  })

  it('is 0 when nothing matches', () => {
    expect(imageQuality(parseAccept('text/html') ?? [], 'png', true)).toBe(0)
  })
})

describe('negotiateFormat()', () => {
  describe.each([
    ['Chrome', ACCEPT.chrome, 'avif'],
    ['Firefox', ACCEPT.firefox, 'avif'],
    ['Safari 17', ACCEPT.safari17, 'avif'],
    ['Safari 15 (WebP, no AVIF)', ACCEPT.safari15, 'webp'],
  ])('for %s', (_client, accept, format) => {
    it(`chooses ${format}`, () => {
      expect(negotiateFormat(accept, VARIANT_FORMATS, jpeg)).toBe(format)
    })
  })

  describe('for curl (*/*), which names no image type', () => {
    it("keeps a JPEG's format", () => {
      expect(negotiateFormat(ACCEPT.curl, VARIANT_FORMATS, jpeg)).toBe('jpeg')
    })

    it("keeps a PNG's format", () => {
      expect(negotiateFormat(ACCEPT.curl, VARIANT_FORMATS, png)).toBe('png')
    })

    it('makes a WebP without alpha a JPEG', () => {
      expect(negotiateFormat(ACCEPT.curl, VARIANT_FORMATS, { format: 'webp', hasAlpha: false })).toBe('jpeg')
    })

    it('makes a GIF with alpha a PNG', () => {
      expect(negotiateFormat(ACCEPT.curl, VARIANT_FORMATS, { format: 'gif', hasAlpha: true })).toBe('png')
    })

    it('makes an image of unknown format and alpha a PNG', () => {
      expect(negotiateFormat(ACCEPT.curl, VARIANT_FORMATS, { format: null, hasAlpha: null })).toBe('png')
    })
  })

  describe('without an Accept header', () => {
    it("keeps the source's JPEG", () => {
      expect(negotiateFormat(undefined, VARIANT_FORMATS, jpeg)).toBe('jpeg')
    })

    it('never chooses AVIF or WebP', () => {
      expect(negotiateFormat(undefined, ['avif', 'webp', 'png'], jpeg)).toBe('png')
    })
  })

  describe('with image/avif;q=0', () => {
    it('refuses AVIF and takes WebP', () => {
      expect(negotiateFormat('image/avif;q=0,image/webp,*/*', VARIANT_FORMATS, jpeg)).toBe('webp')
    })

    it('refuses AVIF even when it is the only format named', () => {
      expect(negotiateFormat('image/avif;q=0,*/*', VARIANT_FORMATS, jpeg)).toBe('jpeg')
    })
  })

  describe('with weights that prefer WebP over AVIF', () => {
    it('follows the weights', () => {
      expect(negotiateFormat('image/avif;q=0.5,image/webp;q=0.9', VARIANT_FORMATS, jpeg)).toBe('webp')
    })
  })

  describe('with image/jpeg refused', () => {
    it("takes PNG for a JPEG's fallback", () => {
      expect(negotiateFormat('image/*,image/jpeg;q=0', VARIANT_FORMATS, jpeg)).toBe('png')
    })
  })

  describe('with image/* and */* only', () => {
    it('does not take them for AVIF or WebP support', () => {
      expect(negotiateFormat('image/*,*/*;q=0.8', VARIANT_FORMATS, jpeg)).toBe('jpeg')
    })
  })

  describe("among the view's formats only", () => {
    it('skips AVIF when the view does not allow it', () => {
      expect(negotiateFormat(ACCEPT.chrome, ['webp', 'jpeg'], jpeg)).toBe('webp')
    })

    it("falls back to the other universal format when the source's is not allowed", () => {
      expect(negotiateFormat(ACCEPT.curl, ['webp', 'png'], jpeg)).toBe('png')
    })
  })

  describe('when the header accepts none of the allowed formats', () => {
    it('disregards it and answers in a format every browser shows', () => {
      expect(negotiateFormat('text/html', VARIANT_FORMATS, jpeg)).toBe('jpeg')
    })

    it('takes WebP before AVIF when the view has only those', () => {
      expect(negotiateFormat('image/png', ['avif', 'webp'], png)).toBe('webp')
    })
  })
})
