/** @module Image variants: keys, sharp pipelines, and find-or-generate with one generation per variant. */
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import sharp from 'sharp'
import {
  BadPathError,
  FileNotFoundError,
  statusForError,
  UndecodableImageError,
  VariantGenerationError,
} from '../../../src/errors'
import {
  concurrencyLimit,
  decodeImage,
  ensureVariant,
  FailedVariants,
  generateVariant,
  VARIANT_FORMATS,
  type VariantSpec,
  variantContentType,
  variantExtension,
  variantKey,
  variantPipeline,
} from '../../../src/images/variants'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { images, NOT_AN_IMAGE, oversizedPng, truncatedPng } from '../../helpers/image-entities'
import { recordingLogger } from '../../helpers/recording-logger'
import { CountingStorage } from '../../helpers/storage'
import { readAll, rejectionOf } from '../../helpers/streams'

const SHA = createHash('sha256').update('source').digest('hex')

/** A 16383 × 16383 PNG cut short inside its pixel data. */
const TRUNCATED = truncatedPng()

/**
 * A JPEG with three stray bytes before its SOS marker: libjpeg warns ("Corrupt JPEG data: 3
 * extraneous bytes before marker 0xda") and decodes it whole, as browsers show it.
 */
async function jpegWithWarning(): Promise<Buffer> {
  const jpeg = await images.jpeg()
  const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]))
  return Buffer.concat([jpeg.subarray(0, sos), Buffer.from([1, 2, 3]), jpeg.subarray(sos)])
}

/** The bytes of a variant that `spec` makes of `input`. */
async function render(input: Buffer, spec: VariantSpec): Promise<Buffer> {
  const pipeline = variantPipeline(spec)
  pipeline.end(input)
  return pipeline.toBuffer()
}

let storage: CountingStorage

beforeEach(async () => {
  storage = new CountingStorage(new MemoryStorage({ name: 'Media' }))
  await storage.save('photos/rotated.jpg', await images.rotatedJpeg())
  await storage.save('photos/notes.txt', NOT_AN_IMAGE)
  await storage.save('photos/huge.png', oversizedPng())
  await storage.save('photos/truncated.png', TRUNCATED)
  storage.reset()
})

describe('variantKey()', () => {
  it('is <prefix>/<sha256>/<width>.<format>', () => {
    expect(variantKey('variants', SHA, { width: 256, format: 'webp' })).toBe(`variants/${SHA}/256.webp`)
  })

  it('includes the quality when one is set', () => {
    expect(variantKey('v', SHA, { width: 64, format: 'jpeg', quality: 70 })).toBe(`v/${SHA}/64-q70.jpeg`)
  })

  it('leaves the quality out for PNG, which ignores it', () => {
    expect(variantKey('v', SHA, { width: 64, format: 'png', quality: 70 })).toBe(`v/${SHA}/64.png`)
  })

  it('writes the checksum in lower case', () => {
    expect(variantKey('v', SHA.toUpperCase(), { width: 64, format: 'png' })).toBe(`v/${SHA}/64.png`)
  })
})

describe('variantExtension() and variantContentType()', () => {
  it.each([
    ['webp', 'webp', 'image/webp'],
    ['avif', 'avif', 'image/avif'],
    ['jpeg', 'jpg', 'image/jpeg'],
    ['png', 'png', 'image/png'],
  ] as const)('%s → .%s, %s', (format, extension, type) => {
    expect(variantExtension(format)).toBe(extension)
    expect(variantContentType(format)).toBe(type)
  })

  it('cover every variant format', () => {
    expect([...VARIANT_FORMATS]).toEqual(['webp', 'avif', 'jpeg', 'png'])
  })
})

describe('variantPipeline()', () => {
  it.each(VARIANT_FORMATS)('encodes %s', async (format) => {
    const meta = await sharp(await render(await images.jpeg(), { width: 150, format })).metadata()
    expect(meta.format).toBe(format === 'avif' ? 'heif' : format)
    expect(meta.width).toBe(150)
    expect(meta.height).toBe(100)
  })

  it('applies the EXIF orientation before resizing', async () => {
    const meta = await sharp(
      await render(await images.rotatedJpeg(), { width: 200, format: 'png' }),
    ).metadata()
    expect([meta.width, meta.height]).toEqual([200, 300])
    expect(meta.orientation).toBeUndefined()
  })

  it('never enlarges a narrower source', async () => {
    const meta = await sharp(await render(await images.jpeg(), { width: 2048, format: 'webp' })).metadata()
    expect(meta.width).toBe(300)
  })

  it('fails on a PNG cut short, rather than fill the missing rows', async () => {
    expect(await rejectionOf(render(TRUNCATED, { width: 64, format: 'webp' }))).toEqual(
      expect.objectContaining({ message: expect.stringMatching(/libpng read error/) }),
    )
  })

  it('fails on a JPEG cut short', async () => {
    const jpeg = await images.jpeg()
    expect(
      await rejectionOf(
        render(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), { width: 64, format: 'webp' }),
      ),
    ).toEqual(expect.objectContaining({ message: expect.stringMatching(/premature end of JPEG/) }))
  })

  it('makes a variant of a JPEG that its decoder only warns about (sharp refuses those by default)', async () => {
    const meta = await sharp(await render(await jpegWithWarning(), { width: 64, format: 'png' })).metadata()
    expect(meta.width).toBe(64)
  })

  describe('with a quality', () => {
    it('encodes with it', async () => {
      const source = await sharp({
        create: { width: 300, height: 200, channels: 3, background: '#888' },
      })
        .composite([
          { input: Buffer.from(noise(300 * 200 * 3)), raw: { width: 300, height: 200, channels: 3 } },
        ])
        .png()
        .toBuffer()
      const low = await render(source, { width: 300, format: 'jpeg', quality: 10 })
      const high = await render(source, { width: 300, format: 'jpeg', quality: 95 })
      expect(low.length).toBeLessThan(high.length)
    })
  })

  describe('without a quality', () => {
    it("uses the encoder's default", async () => {
      const source = await images.jpeg()
      const plain = await render(source, { width: 300, format: 'jpeg' })
      const eighty = await render(source, { width: 300, format: 'jpeg', quality: 80 })
      expect(plain.equals(eighty)).toBe(true)
    })
  })
})

describe('generateVariant()', () => {
  it('fails with a VariantGenerationError (a 500), not a 400, when a folder is in the way of the variant', async () => {
    const inTheWay = new CountingStorage(storage)
    inTheWay.save = async () => {
      throw new BadPathError('Cannot save "v/a.webp" in MemoryStorage: a file or folder is in the way')
    }
    const error = await rejectionOf(
      generateVariant(inTheWay, 'photos/rotated.jpg', 'v/a.webp', { width: 100, format: 'webp' }),
    )
    expect(error).toBeInstanceOf(VariantGenerationError)
    expect(statusForError(error)).toBeUndefined()
  })

  it('streams the source through sharp into the storage', async () => {
    const stat = await generateVariant(storage, 'photos/rotated.jpg', 'v/a.webp', {
      width: 100,
      format: 'webp',
    })
    const bytes = await readAll(await storage.open('v/a.webp'))
    expect(stat.size).toBe(bytes.length)
    expect(await sharp(bytes).metadata()).toMatchObject({ format: 'webp', width: 100, height: 150 })
  })

  describe('when the source is missing', () => {
    it('rejects with FileNotFoundError and saves nothing', async () => {
      const error = await rejectionOf(
        generateVariant(storage, 'gone.jpg', 'v/a.webp', { width: 100, format: 'webp' }),
      )
      expect(error).toBeInstanceOf(FileNotFoundError)
      expect(storage.calls.save).toBe(0)
    })
  })

  describe('when sharp cannot decode the source', () => {
    it('rejects with UndecodableImageError (a 422) and leaves nothing at the key', async () => {
      const error = await rejectionOf(
        generateVariant(storage, 'photos/notes.txt', 'v/a.webp', { width: 100, format: 'webp' }),
      )
      expect(error).toBeInstanceOf(UndecodableImageError)
      expect(statusForError(error)).toBe(422)
      expect((error as Error).message).toMatch(
        /^Cannot generate the 100px webp variant of "photos\/notes.txt" in Counting\(Media\): /,
      )
      expect(await storage.exists('v/a.webp')).toBe(false)
    })

    it("says why on one line, with sharp's message", async () => {
      const error = await rejectionOf(
        generateVariant(storage, 'photos/truncated.png', 'v/t.webp', { width: 64, format: 'webp' }),
      )
      expect(error).toBeInstanceOf(UndecodableImageError)
      expect((error as Error).message).toBe(
        'Cannot generate the 64px webp variant of "photos/truncated.png" in Counting(Media): vipspng: libpng read error',
      )
    })
  })

  describe('when the source fails while it is read', () => {
    it("rejects with VariantGenerationError (a 500): the storage's fault, not the image's", async () => {
      const failing = Object.assign(new MemoryStorage({ name: 'Flaky' }), {
        open: async () =>
          new Readable({
            read() {
              this.destroy(new Error('connection reset'))
            },
          }),
      })
      const error = await rejectionOf(
        generateVariant(failing, 'photos/a.jpg', 'v/a.webp', { width: 100, format: 'webp' }),
      )
      expect(error).toBeInstanceOf(VariantGenerationError)
      expect(error).not.toBeInstanceOf(UndecodableImageError)
      expect((error as Error).message).toMatch(/connection reset/)
    })
  })

  describe('when the source is longer than the byte limit', () => {
    it('fails as the bound is passed, and leaves nothing at the key', async () => {
      const size = (await storage.stat('photos/rotated.jpg')).size
      const error = await rejectionOf(
        generateVariant(storage, 'photos/rotated.jpg', 'v/a.webp', { width: 100, format: 'webp' }, size - 1),
      )
      expect(error).toBeInstanceOf(UndecodableImageError)
      expect((error as Error).message).toMatch(/exceeds the limit of \d+ bytes/)
      expect(await storage.exists('v/a.webp')).toBe(false)
    })

    it('accepts a source of exactly the limit', async () => {
      const size = (await storage.stat('photos/rotated.jpg')).size
      await generateVariant(storage, 'photos/rotated.jpg', 'v/a.webp', { width: 100, format: 'webp' }, size)
      expect(await storage.exists('v/a.webp')).toBe(true)
    })
  })

  describe('when the save fails before it reads the source', () => {
    it('destroys the source and the sharp pipeline', async () => {
      // A source that never ends, as a network stream that stalls: only a destroy() closes it.
      const source = new Readable({ read() {} })
      source.push(await images.jpeg())
      const refusing = Object.assign(new MemoryStorage({ name: 'Refusing' }), {
        open: async () => source,
        save: async () => {
          throw new Error('disk full')
        },
      })
      const error = await rejectionOf(
        generateVariant(refusing, 'photos/a.jpg', 'v/a.webp', { width: 100, format: 'webp' }),
      )
      expect((error as Error).message).toMatch(/disk full/)
      expect(error).not.toBeInstanceOf(UndecodableImageError)
      await new Promise((resolve) => setImmediate(resolve))
      expect(source.destroyed).toBe(true)
    })
  })

  describe('when the source is over the pixel limit', () => {
    it('refuses it before decoding', async () => {
      const error = await rejectionOf(
        generateVariant(storage, 'photos/huge.png', 'v/h.png', { width: 64, format: 'png' }),
      )
      expect((error as Error).message).toMatch(/pixel limit/)
      expect(error).toBeInstanceOf(UndecodableImageError)
    })
  })
})

describe('ensureVariant()', () => {
  const spec: VariantSpec = { width: 64, format: 'webp' }

  describe('on the first call', () => {
    it('generates the variant', async () => {
      await ensureVariant(storage, 'photos/rotated.jpg', 'v/64.webp', spec)
      expect(storage.calls).toMatchObject({ stat: 1, open: 1, save: 1 })
    })
  })

  describe('when the variant is in the storage', () => {
    it('answers with one stat and generates nothing', async () => {
      await ensureVariant(storage, 'photos/rotated.jpg', 'v/64.webp', spec)
      storage.reset()
      const stat = await ensureVariant(storage, 'photos/rotated.jpg', 'v/64.webp', spec)
      expect(storage.calls).toMatchObject({ stat: 1, open: 0, save: 0 })
      expect(stat).toEqual(await storage.stat('v/64.webp'))
    })
  })

  describe('when calls run concurrently', () => {
    it('generates the variant once and gives every caller its stat', async () => {
      const stats = await Promise.all(
        Array.from({ length: 8 }, () => ensureVariant(storage, 'photos/rotated.jpg', 'v/64.webp', spec)),
      )
      expect(storage.calls).toMatchObject({ stat: 1, open: 1, save: 1 })
      expect(new Set(stats).size).toBe(1)
    })

    it('keeps different variants apart', async () => {
      await Promise.all([
        ensureVariant(storage, 'photos/rotated.jpg', 'v/64.webp', spec),
        ensureVariant(storage, 'photos/rotated.jpg', 'v/128.webp', { width: 128, format: 'webp' }),
      ])
      expect(storage.calls.save).toBe(2)
    })

    it('keeps storages apart', async () => {
      const other = new CountingStorage(new MemoryStorage({ name: 'Media' }))
      await other.save('photos/rotated.jpg', await images.rotatedJpeg())
      other.reset()
      await Promise.all([
        ensureVariant(storage, 'photos/rotated.jpg', 'v/64.webp', spec),
        ensureVariant(other, 'photos/rotated.jpg', 'v/64.webp', spec),
      ])
      expect([storage.calls.save, other.calls.save]).toEqual([1, 1])
    })
  })

  describe('when the source does not decode', () => {
    it('logs one warning for all concurrent callers, and rejects each', async () => {
      const logger = recordingLogger()
      const results = await Promise.allSettled(
        Array.from({ length: 4 }, () => ensureVariant(storage, 'photos/notes.txt', 'v/n.webp', spec, logger)),
      )
      expect(results.every((result) => result.status === 'rejected')).toBe(true)
      expect(logger.warnings).toHaveLength(1)
      expect(logger.warnings[0]).toMatch(/Cannot generate the 64px webp variant/)
      expect(logger.errors).toEqual([])
    })

    describe('with FailedVariants', () => {
      it('answers later calls with the same error, without opening the source or logging again', async () => {
        const logger = recordingLogger()
        const failures = new FailedVariants({ maxEntries: 10, ttl: 60 })
        const first = await rejectionOf(
          ensureVariant(storage, 'photos/truncated.png', 'v/t.webp', spec, logger, failures),
        )
        storage.reset()
        for (let i = 0; i < 3; i++) {
          expect(
            await rejectionOf(
              ensureVariant(storage, 'photos/truncated.png', 'v/t.webp', spec, logger, failures),
            ),
          ).toBe(first)
        }
        expect(first).toBeInstanceOf(UndecodableImageError)
        expect(storage.calls).toEqual({ stat: 0, exists: 0, open: 0, save: 0, delete: 0 })
        expect(logger.warnings).toHaveLength(1)
      })

      it('tries a variant of other bytes (another checksum, so another key) at once', async () => {
        const failures = new FailedVariants({ maxEntries: 10, ttl: 60 })
        await rejectionOf(ensureVariant(storage, 'photos/notes.txt', 'v/n.webp', spec, undefined, failures))
        await storage.save('photos/notes.txt', await images.jpeg())
        storage.reset()
        await ensureVariant(storage, 'photos/notes.txt', 'v/fixed.webp', spec, undefined, failures)
        expect(storage.calls.save).toBe(1)
      })

      it('remembers nothing when the storage fails', async () => {
        const failures = new FailedVariants({ maxEntries: 10, ttl: 60 })
        const flaky = new CountingStorage(
          Object.assign(new MemoryStorage({ name: 'Flaky' }), {
            open: async () =>
              new Readable({
                read() {
                  this.destroy(new Error('connection reset'))
                },
              }),
          }),
        )
        const logger = recordingLogger()
        await rejectionOf(ensureVariant(flaky, 'photos/a.jpg', 'v/a.webp', spec, logger, failures))
        await rejectionOf(ensureVariant(flaky, 'photos/a.jpg', 'v/a.webp', spec, logger, failures))
        expect(flaky.calls.open).toBe(2)
        expect(failures.size).toBe(0)
        expect(logger.errors).toHaveLength(2)
      })
    })

    describe('without FailedVariants', () => {
      it('forgets the failure, so a later call tries again', async () => {
        await rejectionOf(ensureVariant(storage, 'photos/truncated.png', 'v/t.webp', spec, recordingLogger()))
        storage.reset()
        await rejectionOf(ensureVariant(storage, 'photos/truncated.png', 'v/t.webp', spec, recordingLogger()))
        expect(storage.calls.open).toBe(1)
      })
    })
  })

  describe('when the source is missing', () => {
    it('rejects with FileNotFoundError and logs nothing', async () => {
      const logger = recordingLogger()
      expect(await rejectionOf(ensureVariant(storage, 'gone.jpg', 'v/g.webp', spec, logger))).toBeInstanceOf(
        FileNotFoundError,
      )
      expect(logger.errors).toEqual([])
    })
  })
})

describe('FailedVariants', () => {
  const error = (key: string) => new UndecodableImageError(`no ${key}`)

  it('remembers a failure by key', () => {
    const failures = new FailedVariants({ maxEntries: 2, ttl: 60 })
    const failure = error('a')
    failures.remember('a', failure)
    expect(failures.get('a')).toBe(failure)
    expect(failures.get('b')).toBeUndefined()
  })

  it('forgets the oldest failure first when full', () => {
    const failures = new FailedVariants({ maxEntries: 2, ttl: 60 })
    for (const key of ['a', 'b', 'c']) failures.remember(key, error(key))
    expect([failures.get('a'), failures.get('b'), failures.get('c')].map((e) => e?.message)).toEqual([
      undefined,
      'no b',
      'no c',
    ])
    expect(failures.size).toBe(2)
  })

  it('forgets a failure ttl seconds after it happened', () => {
    let now = 1_000_000
    const failures = new FailedVariants({ maxEntries: 2, ttl: 60 }, () => now)
    failures.remember('a', error('a'))
    now += 60_000
    expect(failures.get('a')).toBeDefined()
    now += 1
    expect(failures.get('a')).toBeUndefined()
    expect(failures.size).toBe(0)
  })

  it('counts a failure remembered again from its new time', () => {
    let now = 0
    const failures = new FailedVariants({ maxEntries: 2, ttl: 10 }, () => now)
    failures.remember('a', error('a'))
    now = 8_000
    failures.remember('a', error('a'))
    now = 15_000
    expect(failures.get('a')).toBeDefined()
  })
})

describe('decodeImage()', () => {
  it('decodes an image', async () => {
    expect(await decodeImage(storage, 'photos/rotated.jpg')).toEqual({ kind: 'decoded' })
  })

  it.each([
    ['a PNG cut short', 'photos/truncated.png', 'vipspng: libpng read error'],
    ['text', 'photos/notes.txt', 'Input buffer contains unsupported image format'],
    ['an image over the pixel limit', 'photos/huge.png', expect.stringMatching(/pixel limit/)],
  ])('says why %s does not decode', async (_, key, reason) => {
    expect(await decodeImage(storage, key)).toEqual({ kind: 'undecodable', reason })
  })

  it('stops past the byte limit', async () => {
    const size = (await storage.stat('photos/rotated.jpg')).size
    expect(await decodeImage(storage, 'photos/rotated.jpg', size - 1)).toEqual({
      kind: 'undecodable',
      reason: expect.stringMatching(/exceeds the limit of \d+ bytes/),
    })
  })

  it("rejects with the storage's error when the file cannot be read", async () => {
    expect(await rejectionOf(decodeImage(storage, 'gone.jpg'))).toBeInstanceOf(FileNotFoundError)
  })
})

/** Deterministic pseudo-random bytes: content that compresses differently at each quality. */
function noise(length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  let state = 42
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) & 0x7fffffff
    bytes[i] = state >> 16
  }
  return bytes
}

describe('concurrencyLimit()', () => {
  /** A task that resolves (or rejects) when the test says so. */
  function gate() {
    let open!: () => void
    let fail!: (error: Error) => void
    const promise = new Promise<string>((resolve, reject) => {
      open = () => resolve('done')
      fail = reject
    })
    return { promise, open, fail }
  }
  const tick = () => new Promise((resolve) => setImmediate(resolve))

  it('runs at most `limit` tasks at a time, the others in order', async () => {
    const limit = concurrencyLimit(2)
    const gates = [gate(), gate(), gate(), gate()]
    const started: number[] = []
    const results = gates.map((g, index) =>
      limit.run(() => {
        started.push(index)
        return g.promise
      }),
    )
    await tick()
    expect(started).toEqual([0, 1])
    gates[1]?.open()
    await tick()
    expect(started).toEqual([0, 1, 2])
    gates[0]?.open()
    await tick()
    expect(started).toEqual([0, 1, 2, 3])
    for (const g of gates) g.open()
    expect(await Promise.all(results)).toEqual(['done', 'done', 'done', 'done'])
  })

  it('frees the slot of a task that fails', async () => {
    const limit = concurrencyLimit(1)
    const first = gate()
    const failed = limit.run(() => first.promise)
    const second = limit.run(async () => 'second')
    first.fail(new Error('sharp failed'))
    await expect(failed).rejects.toThrow('sharp failed')
    expect(await second).toBe('second')
  })
})
