/** @module Image metadata with sharp: dimensions as displayed, format names, media types, the probe. */
import { Readable } from 'node:stream'
import type sharp from 'sharp'
import { FileColumnError } from '../../../src/errors'
import {
  describeImage,
  ImageProbe,
  imageContentType,
  imageFormat,
  LIMIT_INPUT_BYTES,
  LIMIT_INPUT_PIXELS,
  notAnImageError,
  readImageMetadata,
} from '../../../src/images/metadata'
import { thumbHashAspectRatio, thumbHashToRGBA } from '../../../src/images/thumbhash'
import { images, NOT_AN_IMAGE, oversizedPng, truncatedPng } from '../../helpers/image-entities'
import { rejectionOf } from '../../helpers/streams'

/** sharp metadata with only the fields describeImage() reads. */
const metadata = (fields: Partial<sharp.Metadata>) =>
  ({ format: 'jpeg', width: 60, height: 40, hasAlpha: false, ...fields }) as sharp.Metadata

describe('readImageMetadata()', () => {
  describe('for a JPEG with EXIF orientation 6', () => {
    it('swaps width and height, as the image is displayed', async () => {
      expect(await readImageMetadata(await images.rotatedJpeg())).toEqual({
        width: 400,
        height: 600,
        format: 'jpeg',
        hasAlpha: false,
        contentType: 'image/jpeg',
      })
    })
  })

  describe('for a PNG with transparency', () => {
    it('reports the alpha channel', async () => {
      expect(await readImageMetadata(await images.alphaPng())).toMatchObject({
        width: 64,
        height: 32,
        format: 'png',
        hasAlpha: true,
        contentType: 'image/png',
      })
    })
  })

  describe('for a WebP', () => {
    it('reads its format and size', async () => {
      expect(await readImageMetadata(await images.webp())).toMatchObject({
        width: 120,
        height: 80,
        format: 'webp',
        contentType: 'image/webp',
      })
    })
  })

  describe('for an AVIF (HEIF with AV1)', () => {
    it('names the format avif, with image/avif', async () => {
      expect(await readImageMetadata(await images.avif())).toMatchObject({
        width: 40,
        height: 30,
        format: 'avif',
        contentType: 'image/avif',
      })
    })
  })

  describe('for an SVG', () => {
    it('reads it as svg, image/svg+xml', async () => {
      const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="30" height="10"/>')
      expect(await readImageMetadata(svg)).toMatchObject({
        width: 30,
        height: 10,
        format: 'svg',
        contentType: 'image/svg+xml',
      })
    })
  })

  describe('from a stream in many chunks', () => {
    it('reads the same metadata as from one buffer', async () => {
      const bytes = await images.rotatedJpeg()
      const chunks = Array.from({ length: Math.ceil(bytes.length / 100) }, (_, i) =>
        bytes.subarray(i * 100, (i + 1) * 100),
      )
      expect(await readImageMetadata(Readable.from(chunks))).toMatchObject({ width: 400, height: 600 })
    })
  })

  describe('for text', () => {
    it("rejects with sharp's error", async () => {
      const error = await rejectionOf(readImageMetadata(NOT_AN_IMAGE))
      expect((error as Error).message).toMatch(/unsupported image format/)
    })
  })

  describe('for an image over the pixel limit', () => {
    it('rejects from the header, before decoding a pixel', async () => {
      const error = await rejectionOf(readImageMetadata(oversizedPng()))
      expect((error as Error).message).toMatch(/pixel limit/)
    })
  })

  describe('for a PNG cut short inside its pixel data', () => {
    it('reads the header and does not notice: only decoding the pixels would', async () => {
      expect(await readImageMetadata(truncatedPng())).toMatchObject({
        width: 16383,
        height: 16383,
        format: 'png',
      })
    })
  })

  describe('for no bytes at all', () => {
    it('rejects', async () => {
      expect(await rejectionOf(readImageMetadata(Buffer.alloc(0)))).toBeInstanceOf(Error)
    })
  })

  describe('for a stream that fails', () => {
    it("rejects with the stream's error", async () => {
      const failing = new Readable({
        read() {
          this.destroy(new Error('disk gone'))
        },
      })
      expect(await rejectionOf(readImageMetadata(failing))).toEqual(new Error('disk gone'))
    })
  })
})

describe('ImageProbe', () => {
  it('reads the metadata of the bytes written to it', async () => {
    const probe = new ImageProbe()
    const bytes = await images.alphaPng()
    await probe.write(bytes.subarray(0, 10))
    await probe.write(bytes.subarray(10))
    expect(await probe.end()).toMatchObject({ format: 'png', hasAlpha: true })
  })

  describe('when abandoned with abort()', () => {
    it('rejects a later end() instead of waiting forever', async () => {
      const probe = new ImageProbe()
      await probe.write(await images.alphaPng())
      probe.abort()
      expect(await rejectionOf(probe.end())).toEqual(new Error('The image probe was aborted'))
    })
  })

  describe('with more bytes than its limit', () => {
    it('rejects end(), although the bytes are an image', async () => {
      const bytes = await images.alphaPng()
      const probe = new ImageProbe(bytes.length - 1)
      await probe.write(bytes.subarray(0, 10))
      await probe.write(bytes.subarray(10))
      const error = await rejectionOf(probe.end())
      expect((error as Error).message).toBe(`Input image exceeds the limit of ${bytes.length - 1} bytes`)
      expect(notAnImageError('Photo.image', 'big.png', error).message).toBe(
        `Cannot save Photo.image: "big.png" is larger than the ${bytes.length - 1} bytes sharp is allowed to read`,
      )
    })

    it('accepts exactly the limit', async () => {
      const bytes = await images.alphaPng()
      const probe = new ImageProbe(bytes.length)
      await probe.write(bytes)
      expect(await probe.end()).toMatchObject({ format: 'png' })
    })
  })
})

describe('ImageProbe with { thumbhash: true }', () => {
  /** The metadata the probe reads from `bytes`, written in chunks of 100 bytes. */
  async function probed(bytes: Buffer) {
    const probe = new ImageProbe(undefined, { thumbhash: true })
    for (let at = 0; at < bytes.length; at += 100) await probe.write(bytes.subarray(at, at + 100))
    return probe.end()
  }

  describe('for an opaque JPEG of one colour', () => {
    it('adds a ThumbHash that decodes to that colour', async () => {
      const image = await probed(await images.jpeg())
      expect(image).toMatchObject({ format: 'jpeg', width: 300, height: 200 })
      const decoded = thumbHashToRGBA(Buffer.from(image.thumbhash as string, 'base64'))
      const [r = 0, g = 0, b = 0, a = 0] = decoded.rgba.subarray(0, 4)
      // canvas() paints rgb(200, 80, 40); JPEG and the hash's few bits move it a little.
      expect([r, g, b, a].map((value, i) => Math.abs(value - [200, 80, 40, 255][i]!) <= 12)).toEqual([
        true,
        true,
        true,
        true,
      ])
    })
  })

  describe('for a JPEG with EXIF orientation 6', () => {
    it('hashes the image as displayed: portrait', async () => {
      const image = await probed(await images.rotatedJpeg())
      expect(thumbHashAspectRatio(Buffer.from(image.thumbhash as string, 'base64'))).toBeLessThan(1)
    })
  })

  describe('for a PNG with transparency', () => {
    it('hashes its alpha', async () => {
      const hash = Buffer.from((await probed(await images.alphaPng())).thumbhash as string, 'base64')
      expect((hash[2] as number) & 0x80).toBe(0x80)
      // Half transparent everywhere.
      expect(Math.abs((thumbHashToRGBA(hash).rgba[3] as number) - 128)).toBeLessThan(20)
    })
  })

  describe('for a PNG cut short after its header', () => {
    it("reads the metadata and gives an empty ThumbHash (''): the pixels do not decode", async () => {
      expect(await probed(truncatedPng())).toMatchObject({
        width: 16383,
        height: 16383,
        format: 'png',
        thumbhash: '',
      })
    })
  })

  describe('for text', () => {
    it('rejects end() as without the option', async () => {
      expect(await rejectionOf(probed(NOT_AN_IMAGE))).toBeInstanceOf(Error)
    })
  })

  describe('without the option', () => {
    it('makes no ThumbHash', async () => {
      expect(await readImageMetadata(await images.jpeg())).not.toHaveProperty('thumbhash')
    })
  })
})

describe('describeImage()', () => {
  describe('when sharp gives autoOrient', () => {
    it('takes width and height from it', () => {
      expect(
        describeImage(metadata({ orientation: 6, autoOrient: { width: 40, height: 60 } })),
      ).toMatchObject({
        width: 40,
        height: 60,
      })
    })
  })

  describe('when sharp gives no autoOrient', () => {
    it.each([5, 6, 7, 8])('swaps width and height for orientation %i', (orientation) => {
      const { autoOrient: _, ...rest } = metadata({ orientation })
      expect(describeImage(rest as sharp.Metadata)).toMatchObject({ width: 40, height: 60 })
    })

    it.each([1, 2, 3, 4, undefined])('keeps them for orientation %s', (orientation) => {
      const { autoOrient: _, ...rest } = metadata({ orientation })
      expect(describeImage(rest as sharp.Metadata)).toMatchObject({ width: 60, height: 40 })
    })
  })
})

describe('imageFormat()', () => {
  it('names HEIF with AV1 compression avif', () => {
    expect(imageFormat({ format: 'heif', compression: 'av1' })).toBe('avif')
  })

  it('keeps heif for HEVC', () => {
    expect(imageFormat({ format: 'heif', compression: 'hevc' })).toBe('heif')
  })

  it("keeps sharp's name for the other formats", () => {
    expect(imageFormat({ format: 'jpeg' })).toBe('jpeg')
  })
})

describe('imageContentType()', () => {
  it.each([
    ['jpeg', 'image/jpeg'],
    ['png', 'image/png'],
    ['webp', 'image/webp'],
    ['gif', 'image/gif'],
    ['avif', 'image/avif'],
    ['heif', 'image/heif'],
    ['tiff', 'image/tiff'],
    ['svg', 'image/svg+xml'],
  ])('maps %s to %s', (format, type) => {
    expect(imageContentType(format)).toBe(type)
  })

  it('is undefined for a format without a media type', () => {
    expect(imageContentType('vips')).toBeUndefined()
  })
})

describe('notAnImageError()', () => {
  it('names the column and the file', () => {
    const error = notAnImageError('Photo.image', 'x.txt', new Error('unsupported image format'))
    expect(error).toBeInstanceOf(FileColumnError)
    expect(error.message).toBe('Cannot save Photo.image: "x.txt" is not an image sharp can read')
    expect((error.cause as Error).message).toBe('unsupported image format')
  })

  it('says when the image is over the pixel limit', () => {
    const error = notAnImageError('Photo.image', 'huge.png', new Error('Input image exceeds pixel limit'))
    expect(error.message).toBe(
      `Cannot save Photo.image: "huge.png" is larger than the ${LIMIT_INPUT_PIXELS} pixels sharp is allowed to read`,
    )
  })
})

describe('LIMIT_INPUT_BYTES', () => {
  it('is 256 MiB, the default limit of ImageProbe', () => {
    expect(LIMIT_INPUT_BYTES).toBe(256 * 1024 * 1024)
  })
})

describe('LIMIT_INPUT_PIXELS', () => {
  it("is sharp's default limit, 0x3FFF squared", () => {
    expect(LIMIT_INPUT_PIXELS).toBe(268402689)
  })
})
