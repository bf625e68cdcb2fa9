/** @module ThumbHash: encoding RGBA pixels, decoding back to a small image, and the PNG data URL. */
import sharp from 'sharp'
import {
  rgbaToThumbHash,
  thumbHashAspectRatio,
  thumbHashToDataURL,
  thumbHashToRGBA,
} from '../../../src/images/thumbhash'

/** `width` × `height` RGBA pixels, each from `colour(x, y)`. */
function pixels(
  width: number,
  height: number,
  colour: (x: number, y: number) => [number, number, number, number],
): Uint8Array {
  const rgba = new Uint8Array(width * height * 4)
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgba.set(colour(x, y), (y * width + x) * 4)
  return rgba
}

/** The RGBA of pixel (x, y) of a decoded image. */
function at(image: { width: number; rgba: Uint8Array }, x: number, y: number): number[] {
  const i = (y * image.width + x) * 4
  return Array.from(image.rgba.subarray(i, i + 4))
}

/** Whether each channel of `actual` is within `tolerance` of `expected`. */
function near(actual: number[], expected: number[], tolerance: number): boolean {
  return actual.every((value, i) => Math.abs(value - (expected[i] as number)) <= tolerance)
}

describe('rgbaToThumbHash()', () => {
  describe('for an opaque image of one colour', () => {
    const hash = rgbaToThumbHash(
      40,
      30,
      pixels(40, 30, () => [200, 80, 40, 255]),
    )

    it('takes 5 header bytes and no alpha byte', () => {
      // No alpha: bit 23 of the header is clear.
      expect((hash[2] as number) & 0x80).toBe(0)
      expect(hash.length).toBeGreaterThan(5)
      expect(hash.length).toBeLessThanOrEqual(25)
    })

    it('decodes to that colour everywhere', () => {
      const image = thumbHashToRGBA(hash)
      for (const [x, y] of [
        [0, 0],
        [image.width - 1, image.height - 1],
        [10, 10],
      ] as const)
        expect([at(image, x, y), near(at(image, x, y), [200, 80, 40, 255], 6)]).toEqual([
          at(image, x, y),
          true,
        ])
    })
  })

  describe('for an image red on the left and blue on the right', () => {
    const image = thumbHashToRGBA(
      rgbaToThumbHash(
        64,
        32,
        pixels(64, 32, (x) => (x < 32 ? [255, 0, 0, 255] : [0, 0, 255, 255])),
      ),
    )

    it('decodes red on the left and blue on the right', () => {
      const [leftR = 0, , leftB = 0] = at(image, 1, Math.floor(image.height / 2))
      const [rightR = 0, , rightB = 0] = at(image, image.width - 2, Math.floor(image.height / 2))
      expect(leftR).toBeGreaterThan(leftB + 100)
      expect(rightB).toBeGreaterThan(rightR + 100)
    })

    it('keeps the landscape aspect ratio', () => {
      expect(image.width).toBe(32)
      expect(image.height).toBeLessThan(20)
    })
  })

  describe('for a portrait image', () => {
    it('decodes a portrait image', () => {
      const hash = rgbaToThumbHash(
        40,
        60,
        pixels(40, 60, () => [10, 200, 10, 255]),
      )
      expect(thumbHashAspectRatio(hash)).toBeLessThan(1)
      const image = thumbHashToRGBA(hash)
      expect(image.height).toBe(32)
      expect(image.width).toBeLessThan(32)
    })
  })

  describe('for an image with transparency', () => {
    // Opaque at the top, transparent at the bottom.
    const hash = rgbaToThumbHash(
      32,
      32,
      pixels(32, 32, (_x, y) => [0, 0, 0, y < 16 ? 255 : 0]),
    )

    it('sets the alpha bit and adds the alpha byte', () => {
      expect((hash[2] as number) & 0x80).toBe(0x80)
    })

    it('decodes opaque at the top and transparent at the bottom', () => {
      const image = thumbHashToRGBA(hash)
      expect(at(image, 16, 1)[3]).toBeGreaterThan(200)
      expect(at(image, 16, image.height - 2)[3]).toBeLessThan(50)
    })
  })

  describe('for more than 100 pixels on a side', () => {
    it('throws a RangeError', () => {
      expect(() => rgbaToThumbHash(101, 10, new Uint8Array(101 * 10 * 4))).toThrow(
        new RangeError('A ThumbHash is made from at most 100 × 100 pixels, not 101 × 10'),
      )
    })
  })

  describe('for fewer bytes than pixels', () => {
    it('throws a RangeError', () => {
      expect(() => rgbaToThumbHash(10, 10, new Uint8Array(399))).toThrow(RangeError)
    })
  })
})

describe('thumbHashToRGBA()', () => {
  it('refuses fewer than 5 bytes', () => {
    expect(() => thumbHashToRGBA(new Uint8Array(4))).toThrow(
      new RangeError('4 bytes are too few for a ThumbHash'),
    )
  })
})

describe('thumbHashToDataURL()', () => {
  const hash = rgbaToThumbHash(
    64,
    32,
    pixels(64, 32, (x) => (x < 32 ? [255, 0, 0, 255] : [0, 0, 255, 255])),
  )
  const base64 = Buffer.from(hash).toString('base64')

  it('makes a PNG that sharp reads, as large as the decoded image', async () => {
    const url = thumbHashToDataURL(base64)
    expect(url).toMatch(/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/)
    const png = Buffer.from(url.slice('data:image/png;base64,'.length), 'base64')
    const decoded = thumbHashToRGBA(hash)
    expect(await sharp(png).metadata()).toMatchObject({
      format: 'png',
      width: decoded.width,
      height: decoded.height,
      channels: 4,
    })
  })

  it("holds the decoded image's pixels", async () => {
    const url = thumbHashToDataURL(hash)
    const png = Buffer.from(url.slice('data:image/png;base64,'.length), 'base64')
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true })
    expect(Buffer.from(data).equals(Buffer.from(thumbHashToRGBA(hash).rgba))).toBe(true)
  })

  it('takes the bytes or their base64 alike', () => {
    expect(thumbHashToDataURL(hash)).toBe(thumbHashToDataURL(base64))
  })

  it.each(['', 'not base64!', '<svg>'])('refuses %p', (text) => {
    expect(() => thumbHashToDataURL(text)).toThrow(RangeError)
  })
})
