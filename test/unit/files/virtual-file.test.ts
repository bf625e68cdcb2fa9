/** @module VirtualFile: bytes in memory (with ranges) or a stream read once. */
import { Readable } from 'node:stream'
import type { DownloadFile } from '../../../src/files/download-file'
import { VirtualFile } from '../../../src/files/virtual-file'
import { readAll, rejectionOf } from '../../helpers/streams'

const MODIFIED = new Date(Date.UTC(2024, 0, 2, 3, 4, 5))
const SHA256 = '15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225'

/** A stream that records whether it was destroyed. */
function trackedStream(): { stream: Readable; destroyed: () => boolean } {
  const stream = Readable.from([Buffer.from('abc')], { objectMode: false })
  return { stream, destroyed: () => stream.destroyed }
}

describe('VirtualFile with a string', () => {
  const file = () => new VirtualFile({ name: 'nums.txt', content: '123456789' })

  it('knows its size in UTF-8 bytes', () => {
    expect(new VirtualFile({ name: 'a.txt', content: 'café' }).size).toBe(5)
  })

  it('accepts ranges', () => {
    expect(file().acceptRanges).toBe(true)
  })

  it('opens the whole content', async () => {
    expect((await readAll(await file().open())).toString()).toBe('123456789')
  })

  it('opens bytes=2-5 as "3456"', async () => {
    expect((await readAll(await file().open({ start: 2, end: 5 }))).toString()).toBe('3456')
  })

  it('opens as many times as asked', async () => {
    const nums = file()
    await readAll(await nums.open())
    expect((await readAll(await nums.open({ start: 0, end: 0 }))).toString()).toBe('1')
  })

  it('serves empty content as zero bytes', async () => {
    const empty = new VirtualFile({ name: 'empty.txt', content: '' })
    expect(empty.size).toBe(0)
    expect(await readAll(await empty.open())).toEqual(Buffer.alloc(0))
  })

  it('accepts a size equal to its own', () => {
    expect(new VirtualFile({ name: 'a.txt', content: 'abc', size: 3 }).size).toBe(3)
  })

  it('throws a TypeError for a size that is not its own', () => {
    expect(() => new VirtualFile({ name: 'a.txt', content: 'abc', size: 4 })).toThrow(TypeError)
  })
})

describe('VirtualFile with bytes', () => {
  it('reads only the view of a Uint8Array, not its whole buffer', async () => {
    const whole = Buffer.from('xx123456789yy')
    const view = new Uint8Array(whole.buffer, whole.byteOffset + 2, 9)
    const file = new VirtualFile({ name: 'nums.bin', content: view })
    expect(file.size).toBe(9)
    expect((await readAll(await file.open())).toString()).toBe('123456789')
    expect((await readAll(await file.open({ start: 2, end: 5 }))).toString()).toBe('3456')
  })

  it('accepts ranges', () => {
    expect(new VirtualFile({ name: 'a.bin', content: Buffer.from('ab') }).acceptRanges).toBe(true)
  })
})

describe('VirtualFile with a stream', () => {
  it('does not accept ranges', () => {
    expect(new VirtualFile({ name: 'a.txt', content: Readable.from(['a']) }).acceptRanges).toBe(false)
  })

  it('has no size unless one is stated', () => {
    expect(new VirtualFile({ name: 'a.txt', content: Readable.from(['a']) }).size).toBeUndefined()
  })

  it('keeps a stated size', () => {
    expect(new VirtualFile({ name: 'a.txt', content: Readable.from(['abc']), size: 3 }).size).toBe(3)
  })

  it.each([
    ['a negative size', -1],
    ['a fraction', 2.5],
  ])('throws a TypeError for %s', (_label, size) => {
    expect(() => new VirtualFile({ name: 'a.txt', content: Readable.from(['a']), size })).toThrow(TypeError)
  })

  it('opens the stream it was given', async () => {
    const { stream } = trackedStream()
    expect(await new VirtualFile({ name: 'a.txt', content: stream }).open()).toBe(stream)
  })

  it('opens only once', async () => {
    const file = new VirtualFile({ name: 'a.txt', content: Readable.from(['a']) })
    await file.open()
    await expect(file.open()).rejects.toThrow('already read')
  })

  it('refuses a partial range', async () => {
    const file = new VirtualFile({ name: 'a.txt', content: Readable.from(['abc']), size: 3 })
    expect(await rejectionOf(file.open({ start: 1, end: 2 }))).toBeInstanceOf(RangeError)
  })

  it('opens the range that is the whole stated size', async () => {
    const file = new VirtualFile({ name: 'a.txt', content: Readable.from(['abc']), size: 3 })
    expect((await readAll(await file.open({ start: 0, end: 2 }))).toString()).toBe('abc')
  })

  it('reads an async iterable as bytes', async () => {
    async function* rows() {
      yield 'a,b\n'
      yield Buffer.from('1,2\n')
    }
    const file = new VirtualFile({ name: 'rows.csv', content: rows() })
    expect(file.acceptRanges).toBe(false)
    expect(await readAll(await file.open())).toEqual(Buffer.from('a,b\n1,2\n'))
  })
})

describe('VirtualFile.release()', () => {
  it('destroys a stream that was never opened', () => {
    const { stream, destroyed } = trackedStream()
    new VirtualFile({ name: 'a.txt', content: stream }).release()
    expect(destroyed()).toBe(true)
  })

  it('runs the finally block of a generator that was never read to the end', async () => {
    let cleaned = false
    async function* rows() {
      try {
        yield 'a'
        yield 'b'
      } finally {
        cleaned = true
      }
    }
    const generator = rows()
    // Started, so suspended inside the try block, as a generator that holds a resource would be.
    await generator.next()
    new VirtualFile({ name: 'rows.csv', content: generator }).release()
    for (let tick = 0; tick < 10 && !cleaned; tick++) await new Promise((resolve) => setImmediate(resolve))
    expect(cleaned).toBe(true)
  })

  it('closes a generator that was never started, so its body never runs', async () => {
    let started = false
    async function* rows() {
      started = true
      yield 'a'
    }
    const generator = rows()
    new VirtualFile({ name: 'rows.csv', content: generator }).release()
    await new Promise((resolve) => setImmediate(resolve))
    expect(await generator.next()).toEqual({ done: true, value: undefined })
    expect(started).toBe(false)
  })

  it('leaves an opened stream to whoever reads it', async () => {
    const { stream, destroyed } = trackedStream()
    const file = new VirtualFile({ name: 'a.txt', content: stream })
    await file.open()
    file.release()
    expect(destroyed()).toBe(false)
    expect((await readAll(stream)).toString()).toBe('abc')
  })

  it('is safe to call twice', () => {
    const file = new VirtualFile({ name: 'a.txt', content: Readable.from(['a']) })
    file.release()
    expect(() => file.release()).not.toThrow()
  })

  it('does nothing to in-memory content, which still opens', async () => {
    const file = new VirtualFile({ name: 'a.txt', content: 'abc' })
    file.release()
    expect((await readAll(await file.open())).toString()).toBe('abc')
  })
})

describe('VirtualFile validators and metadata', () => {
  it('has no validators unless given', () => {
    const file = new VirtualFile({ name: 'a.txt', content: 'abc' })
    expect(file.etag).toBeUndefined()
    expect(file.modifiedAt).toBeUndefined()
    expect(file.sha256).toBeUndefined()
  })

  it('keeps the validators it is given', () => {
    const file = new VirtualFile({
      name: 'a.txt',
      content: 'abc',
      etag: '"v1"',
      modifiedAt: MODIFIED,
      sha256: SHA256,
    })
    expect(file.etag).toBe('"v1"')
    expect(file.modifiedAt).toBe(MODIFIED)
    expect(file.sha256).toBe(SHA256)
  })

  it('keeps the media type it is given, and none otherwise', () => {
    expect(new VirtualFile({ name: 'a.txt', content: 'a', contentType: 'text/csv' }).contentType).toBe(
      'text/csv',
    )
    expect(new VirtualFile({ name: 'a.txt', content: 'a' }).contentType).toBeUndefined()
  })

  it('has no location, so offload never applies', () => {
    const file: DownloadFile = new VirtualFile({ name: 'a.txt', content: 'a' })
    expect(file.location).toBeUndefined()
  })

  it.each([
    ['no name', undefined],
    ['an empty name', ''],
  ])('throws a TypeError for %s', (_label, name) => {
    expect(() => new VirtualFile({ name: name as unknown as string, content: 'a' })).toThrow('"name"')
  })

  it.each([
    ['a number', 42],
    ['null', null],
    ['a plain object', { data: 'a' }],
  ])('throws a TypeError naming "content" for %s', (_label, content) => {
    expect(() => new VirtualFile({ name: 'a.txt', content: content as unknown as string })).toThrow(
      '"content"',
    )
  })
})
