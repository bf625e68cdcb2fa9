/** @module The Storage contract: one suite that every Storage adapter runs, through the Storage interface only. */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { types } from 'node:util'
import { BadPathError, FileNotFoundError, UnsafePathError } from '../../src/errors'
import type { Storage } from '../../src/storage/storage'
import { readAll, rejectionOf } from '../helpers/streams'

/** What a contract run needs: a fresh, empty storage, and a way to throw it away. */
export interface StorageUnderTest {
  storage: Storage
  cleanup?: () => Promise<void>
}

/** 3 MiB in which every byte value occurs, in an order that no off-by-one or re-encoding can preserve. */
export function binaryPayload(size = 3 * 1024 * 1024): Buffer {
  const bytes = Buffer.alloc(size)
  // 31 is odd, so i * 31 walks through all 256 values in every 256 bytes; the shift breaks the period.
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >>> 11)) & 0xff
  return bytes
}

/** `bytes` cut into chunks of uneven sizes, so that no chunk boundary lines up with a power of two. */
export function chunksOf(bytes: Buffer, size = 65_537): Buffer[] {
  const chunks: Buffer[] = []
  for (let offset = 0; offset < bytes.length; offset += size)
    chunks.push(bytes.subarray(offset, offset + size))
  return chunks
}

/** Compares large buffers by length and digest, so that a failure prints two lines, not megabytes. */
function expectSameBytes(actual: Buffer, expected: Buffer): void {
  const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
  expect(actual.length).toBe(expected.length)
  expect(digest(actual)).toBe(digest(expected))
}

type ErrorClass = typeof FileNotFoundError | typeof BadPathError | typeof UnsafePathError

/** Keys that no storage may accept, and the error each one must raise (the rule lives in storage/keys.ts). */
const UNSAFE_KEYS: ReadonlyArray<[label: string, key: string, error: ErrorClass]> = [
  ['a parent segment', '../x', UnsafePathError],
  ['a parent segment that climbs out', 'a/../../x', UnsafePathError],
  ['a parent segment that stays inside', 'a/../b.txt', UnsafePathError],
  ['an absolute path', '/etc/passwd', UnsafePathError],
  ['a bare slash', '/', UnsafePathError],
  ['a Windows drive', 'C:/x', UnsafePathError],
  ['a backslash', 'a\\b', UnsafePathError],
  ['a backslash parent segment', '..\\x', UnsafePathError],
  ['a NUL byte', 'a\u0000b.txt', BadPathError],
  ['a newline', 'a\nb.txt', BadPathError],
  ['an empty key', '', BadPathError],
  ['a key that names nothing', './/.', BadPathError],
]

/** The other error class, which an unsafe key must not raise instead. */
function otherClass(error: ErrorClass): ErrorClass {
  return error === UnsafePathError ? BadPathError : UnsafePathError
}

/**
 * Defines the suite that every Storage adapter must pass. `setup` is called before each test and must
 * return an empty storage; `cleanup` (if any) runs after each test.
 *
 * @example
 * describeStorageContract('MemoryStorage', async () => ({ storage: new MemoryStorage() }))
 */
export function describeStorageContract(name: string, setup: () => Promise<StorageUnderTest>): void {
  describe(`${name} (Storage contract)`, () => {
    let storage: Storage
    let cleanup: (() => Promise<void>) | undefined

    beforeEach(async () => {
      ;({ storage, cleanup } = await setup())
    })

    afterEach(async () => {
      await cleanup?.()
    })

    const read = async (key: string, range?: { start: number; end: number }) =>
      (await readAll(await storage.open(key, range))).toString('utf8')

    it('has a name for messages and logs', () => {
      expect(typeof storage.name).toBe('string')
      expect(storage.name).not.toBe('')
    })

    describe('save()', () => {
      it('stores a Buffer', async () => {
        await storage.save('a.txt', Buffer.from('Hello world!\n'))
        expect(await read('a.txt')).toBe('Hello world!\n')
      })

      it('stores only the bytes a Uint8Array view covers', async () => {
        const backing = Buffer.from('xxxHELLOyyy')
        await storage.save('view.txt', new Uint8Array(backing.buffer, backing.byteOffset + 3, 5))
        expect(await read('view.txt')).toBe('HELLO')
      })

      it('stores a string as UTF-8', async () => {
        const text = 'héllo ✓ 😀\n'
        const saved = await storage.save('utf8.txt', text)
        expect(saved.size).toBe(Buffer.byteLength(text, 'utf8'))
        expect(await read('utf8.txt')).toBe(text)
      })

      it('stores a Readable stream', async () => {
        await storage.save('stream.txt', Readable.from([Buffer.from('one '), Buffer.from('two '), 'three']))
        expect(await read('stream.txt')).toBe('one two three')
      })

      it('stores an async iterable of Uint8Array and string chunks', async () => {
        async function* chunks(): AsyncGenerator<Uint8Array | string> {
          yield new Uint8Array([0x61, 0x62])
          yield 'cd'
          yield Buffer.from('é')
        }
        await storage.save('iterable.txt', chunks())
        expect(await read('iterable.txt')).toBe('abcdé')
      })

      it('stores an empty file', async () => {
        const saved = await storage.save('empty.txt', Buffer.alloc(0))
        expect(saved.size).toBe(0)
        expect((await readAll(await storage.open('empty.txt'))).length).toBe(0)
      })

      describe('with a 3 MiB binary payload holding every byte value', () => {
        const payload = binaryPayload()

        it('round-trips it from a Buffer', async () => {
          const saved = await storage.save('big.bin', payload)
          expect(saved.size).toBe(payload.length)
          expectSameBytes(await readAll(await storage.open('big.bin')), payload)
        })

        it('round-trips it from a Readable of uneven chunks', async () => {
          const saved = await storage.save('big.bin', Readable.from(chunksOf(payload)))
          expect(saved.size).toBe(payload.length)
          expectSameBytes(await readAll(await storage.open('big.bin')), payload)
        })

        it('round-trips it from an async iterable', async () => {
          async function* chunks(): AsyncGenerator<Uint8Array> {
            for (const chunk of chunksOf(payload, 4093)) yield new Uint8Array(chunk)
          }
          const saved = await storage.save('big.bin', chunks())
          expect(saved.size).toBe(payload.length)
          expectSameBytes(await readAll(await storage.open('big.bin')), payload)
        })

        it('serves a range from deep inside it', async () => {
          await storage.save('big.bin', payload)
          const start = 2 * 1024 * 1024 - 7
          const end = start + 100_000
          expectSameBytes(
            await readAll(await storage.open('big.bin', { start, end })),
            payload.subarray(start, end + 1),
          )
        })
      })

      it('returns the size and modification time of the new file', async () => {
        const before = Date.now()
        const saved = await storage.save('nums.txt', '123456789')
        const after = Date.now()
        expect(saved.size).toBe(9)
        // util.types.isDate, not toBeInstanceOf: fs dates come from a realm other than the one Jest tests run in.
        expect(types.isDate(saved.modifiedAt)).toBe(true)
        // Storages may keep whole seconds only, and file system clocks tick coarsely.
        expect(saved.modifiedAt.getTime()).toBeGreaterThanOrEqual(before - 1000)
        expect(saved.modifiedAt.getTime()).toBeLessThanOrEqual(after + 1000)
      })

      it('replaces an existing file', async () => {
        await storage.save('doc.txt', 'a much longer first version')
        const saved = await storage.save('doc.txt', 'short')
        expect(saved.size).toBe(5)
        expect((await storage.stat('doc.txt')).size).toBe(5)
        expect(await read('doc.txt')).toBe('short')
      })

      it('rejects when the source fails midway, and leaves the existing file untouched', async () => {
        await storage.save('doc.txt', 'original')
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield Buffer.alloc(100_000, 0x78)
          throw new Error('source broke')
        }
        const error = await rejectionOf(storage.save('doc.txt', failing()))
        expect(error).toBeInstanceOf(Error)
        expect((error as Error).message).toContain('source broke')
        expect(await read('doc.txt')).toBe('original')
        expect((await storage.stat('doc.txt')).size).toBe(8)
      })

      it('creates no file when the source fails midway and there was none', async () => {
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield Buffer.alloc(100_000, 0x78)
          throw new Error('source broke')
        }
        await rejectionOf(storage.save('new.txt', failing()))
        expect(await storage.exists('new.txt')).toBe(false)
      })
    })

    describe('stat()', () => {
      it('returns the size and the modification time', async () => {
        const saved = await storage.save('nums.txt', '123456789')
        const stat = await storage.stat('nums.txt')
        expect(stat.size).toBe(9)
        expect(types.isDate(stat.modifiedAt)).toBe(true)
        expect(Number.isNaN(stat.modifiedAt.getTime())).toBe(false)
        expect(stat.modifiedAt.getTime()).toBe(saved.modifiedAt.getTime())
      })

      it('throws FileNotFoundError for a missing key', async () => {
        expect(await rejectionOf(storage.stat('missing.txt'))).toBeInstanceOf(FileNotFoundError)
      })

      it('names the key and the storage in the message', async () => {
        const error = (await rejectionOf(storage.stat('reports/missing.pdf'))) as Error
        expect(error.message).toContain('reports/missing.pdf')
        expect(error.message).toContain(storage.name)
      })

      it('throws FileNotFoundError for a key under a missing directory', async () => {
        expect(await rejectionOf(storage.stat('nowhere/missing.txt'))).toBeInstanceOf(FileNotFoundError)
      })

      it('throws FileNotFoundError for a key that is only a prefix of other keys', async () => {
        await storage.save('folder/inside.txt', 'x')
        expect(await rejectionOf(storage.stat('folder'))).toBeInstanceOf(FileNotFoundError)
      })

      it('throws FileNotFoundError for a key that goes through a file', async () => {
        await storage.save('file.txt', 'x')
        expect(await rejectionOf(storage.stat('file.txt/inside.txt'))).toBeInstanceOf(FileNotFoundError)
      })
    })

    describe('exists()', () => {
      it('returns true for a saved file', async () => {
        await storage.save('here.txt', 'x')
        expect(await storage.exists('here.txt')).toBe(true)
      })

      it('returns false for a missing file', async () => {
        expect(await storage.exists('missing.txt')).toBe(false)
      })

      it('returns false for a key that is only a prefix of other keys', async () => {
        await storage.save('folder/inside.txt', 'x')
        expect(await storage.exists('folder')).toBe(false)
      })

      it.each(UNSAFE_KEYS)('returns false, not a throw, for %s', async (_label, key) => {
        await expect(storage.exists(key)).resolves.toBe(false)
      })
    })

    describe('open()', () => {
      beforeEach(async () => {
        await storage.save('nums.txt', '123456789')
      })

      it('returns a Readable of the whole file', async () => {
        const stream = await storage.open('nums.txt')
        expect(stream).toBeInstanceOf(Readable)
        expect((await readAll(stream)).toString()).toBe('123456789')
      })

      it.each([
        ['the middle', { start: 2, end: 5 }, '3456'],
        ['the first byte', { start: 0, end: 0 }, '1'],
        ['the last byte', { start: 8, end: 8 }, '9'],
        ['a single byte', { start: 4, end: 4 }, '5'],
        ['every byte', { start: 0, end: 8 }, '123456789'],
        ['a tail', { start: 6, end: 8 }, '789'],
      ])('reads %s of an inclusive range', async (_label, range, expected) => {
        expect(await read('nums.txt', range)).toBe(expected)
      })

      it('reads a range that runs past the end as far as the file goes', async () => {
        // What ZipFile relies on: one byte past a member's end shows a file that grew.
        expect(await read('nums.txt', { start: 6, end: 9 })).toBe('789')
        expect(await read('nums.txt', { start: 0, end: 1000 })).toBe('123456789')
      })

      it('rejects with FileNotFoundError for a missing key, before any stream exists', async () => {
        expect(await rejectionOf(storage.open('missing.txt'))).toBeInstanceOf(FileNotFoundError)
      })

      it('rejects with FileNotFoundError for a key that is only a prefix of other keys', async () => {
        await storage.save('folder/inside.txt', 'x')
        expect(await rejectionOf(storage.open('folder'))).toBeInstanceOf(FileNotFoundError)
      })

      it('serves many readers of the same file at once', async () => {
        const bodies = await Promise.all(
          Array.from({ length: 8 }, (_, i) => read('nums.txt', { start: i, end: 8 })),
        )
        expect(bodies).toEqual(Array.from({ length: 8 }, (_, i) => '123456789'.slice(i)))
      })

      it('keeps serving the file after a stream is destroyed unread', async () => {
        const stream = await storage.open('nums.txt')
        stream.destroy()
        await once(stream, 'close')
        expect(await read('nums.txt')).toBe('123456789')
        expect(await read('nums.txt', { start: 2, end: 5 })).toBe('3456')
      })

      it('keeps serving the file after a stream is destroyed midway', async () => {
        const payload = binaryPayload()
        await storage.save('big.bin', payload)
        const stream = await storage.open('big.bin')
        const [first] = (await once(stream, 'data')) as [Buffer]
        expect(first.length).toBeGreaterThan(0)
        stream.destroy()
        await once(stream, 'close')
        expectSameBytes(await readAll(await storage.open('big.bin')), payload)
        expect(await storage.exists('big.bin')).toBe(true)
      })
    })

    describe('delete()', () => {
      it('removes the file', async () => {
        await storage.save('doomed.txt', 'x')
        await storage.delete('doomed.txt')
        expect(await rejectionOf(storage.stat('doomed.txt'))).toBeInstanceOf(FileNotFoundError)
        expect(await rejectionOf(storage.open('doomed.txt'))).toBeInstanceOf(FileNotFoundError)
        expect(await storage.exists('doomed.txt')).toBe(false)
      })

      it('resolves for a missing file', async () => {
        await expect(storage.delete('never-there.txt')).resolves.toBeUndefined()
        await expect(storage.delete('nowhere/never-there.txt')).resolves.toBeUndefined()
      })

      it('leaves the files under a key that is only a prefix of theirs', async () => {
        await storage.save('folder/inside.txt', 'inside')
        await expect(storage.delete('folder')).resolves.toBeUndefined()
        expect(await read('folder/inside.txt')).toBe('inside')
      })

      it('leaves the other files alone', async () => {
        await storage.save('dir/keep.txt', 'keep')
        await storage.save('dir/drop.txt', 'drop')
        await storage.delete('dir/drop.txt')
        expect(await read('dir/keep.txt')).toBe('keep')
      })

      it('lets the key be saved again', async () => {
        await storage.save('again.txt', 'first')
        await storage.delete('again.txt')
        await storage.save('again.txt', 'second')
        expect(await read('again.txt')).toBe('second')
      })
    })

    describe('list()', () => {
      /** Every key `list(prefix)` yields, sorted (the contract promises no order). */
      const listed = async (prefix?: string): Promise<string[]> => {
        const keys: string[] = []
        for await (const key of storage.list!(prefix)) keys.push(key)
        return keys.sort()
      }

      // list() is optional: an adapter without it skips these tests, and tools report that it cannot list.
      const itLists = (title: string, test: () => Promise<void>) =>
        it(title, async () => {
          if (storage.list) await test()
        })

      itLists('yields nothing for an empty storage', async () => {
        expect(await listed()).toEqual([])
      })

      itLists('yields every saved key, nested ones included, in normalised form', async () => {
        await storage.save('b.txt', 'b')
        await storage.save('a//./nested/c.txt', 'c')
        await storage.save('a/z.txt', 'z')
        expect(await listed()).toEqual(['a/nested/c.txt', 'a/z.txt', 'b.txt'])
      })

      itLists('yields each key once, as stat() and open() accept it', async () => {
        await storage.save('dossier/été/naïve café.txt', 'nested')
        await storage.save('.hidden/...txt', 'dots')
        await storage.save('empty.txt', '')
        const keys = await listed()
        expect(keys).toEqual(['.hidden/...txt', 'dossier/été/naïve café.txt', 'empty.txt'])
        for (const key of keys) expect((await storage.stat(key)).size).toBe((await read(key)).length)
      })

      itLists('yields no key for a "directory", only the files under it', async () => {
        await storage.save('folder/inside.txt', 'x')
        expect(await listed()).not.toContain('folder')
      })

      itLists('forgets deleted keys', async () => {
        await storage.save('keep.txt', 'k')
        await storage.save('drop/drop.txt', 'd')
        await storage.delete('drop/drop.txt')
        expect(await listed()).toEqual(['keep.txt'])
      })

      itLists('yields the replaced key once', async () => {
        await storage.save('doc.txt', 'first')
        await storage.save('doc.txt', 'second')
        expect(await listed()).toEqual(['doc.txt'])
      })

      describe('with a prefix', () => {
        beforeEach(async () => {
          for (const key of ['variants/a.webp', 'variants/deep/b.webp', 'variants.txt', 'docs/report.pdf'])
            await storage.save(key, key)
        })

        itLists('that ends with a slash: yields only the keys under that folder', async () => {
          expect(await listed('variants/')).toEqual(['variants/a.webp', 'variants/deep/b.webp'])
        })

        itLists('that does not: matches as a plain string prefix, as in S3', async () => {
          expect(await listed('variants')).toEqual([
            'variants.txt',
            'variants/a.webp',
            'variants/deep/b.webp',
          ])
          expect(await listed('docs/re')).toEqual(['docs/report.pdf'])
          expect(await listed('variants/deep/b')).toEqual(['variants/deep/b.webp'])
        })

        itLists('normalises it like a key: ./variants//deep/ is variants/deep/', async () => {
          expect(await listed('./variants//deep/')).toEqual(['variants/deep/b.webp'])
        })

        itLists('yields everything for an empty prefix, or one of only slashes and dots', async () => {
          expect(await listed('')).toHaveLength(4)
          expect(await listed('./')).toHaveLength(4)
        })

        itLists('yields nothing when no key matches', async () => {
          expect(await listed('nothing/')).toEqual([])
          expect(await listed('docs/report.pdf/')).toEqual([])
          expect(await listed('variants/a.webp/x')).toEqual([])
        })

        it.each([
          ['a parent segment', '../', UnsafePathError],
          ['an absolute prefix', '/variants/', UnsafePathError],
          ['a backslash', 'variants\\', UnsafePathError],
          ['a NUL byte', 'variants\u0000', BadPathError],
        ])('rejects %s with the error an unsafe key gets', async (_label, prefix, errorClass) => {
          if (!storage.list) return
          expect(await rejectionOf(listed(prefix))).toBeInstanceOf(errorClass)
        })
      })

      itLists('lets the listed keys be deleted while iterating', async () => {
        const keys = ['a/1.txt', 'a/2.txt', 'b/3.txt', 'c.txt']
        for (const key of keys) await storage.save(key, key)
        const seen: string[] = []
        for await (const key of storage.list!()) {
          seen.push(key)
          await storage.delete(key)
        }
        expect(seen.sort()).toEqual(keys)
        expect(await listed()).toEqual([])
      })
    })

    describe('keys', () => {
      it('nest with slashes', async () => {
        await storage.save('a/b/c.txt', 'deep')
        expect(await read('a/b/c.txt')).toBe('deep')
        expect((await storage.stat('a/b/c.txt')).size).toBe(4)
      })

      it('are normalised on save: a//./b.txt is a/b.txt', async () => {
        await storage.save('a//./b.txt', 'same')
        expect(await read('a/b.txt')).toBe('same')
      })

      it('are normalised on stat, open, exists and delete', async () => {
        await storage.save('a/b.txt', 'same')
        expect((await storage.stat('./a//b.txt')).size).toBe(4)
        expect(await read('a/./b.txt')).toBe('same')
        expect(await storage.exists('a//b.txt/')).toBe(true)
        await storage.delete('./a/b.txt')
        expect(await storage.exists('a/b.txt')).toBe(false)
      })

      it('round-trip Unicode names', async () => {
        await storage.save('naïve café.txt', 'Unicode name\n')
        await storage.save('dossier/été/naïve café.txt', 'nested')
        expect(await read('naïve café.txt')).toBe('Unicode name\n')
        expect(await read('dossier/été/naïve café.txt')).toBe('nested')
        expect(await storage.exists('naive cafe.txt')).toBe(false)
      })

      it('treat percent-encoded dots as literal names', async () => {
        await storage.save('%2e%2e/x.txt', 'literal')
        expect(await read('%2e%2e/x.txt')).toBe('literal')
        expect(await storage.exists('x.txt')).toBe(false)
      })

      it('allow dots that are not whole segments', async () => {
        await storage.save('.hidden/...txt', 'dots')
        expect(await read('.hidden/...txt')).toBe('dots')
      })
    })

    describe.each(UNSAFE_KEYS)('a key with %s', (_label, key, errorClass) => {
      const refuses = async (promise: Promise<unknown>) => {
        const error = await rejectionOf(promise)
        expect(error).toBeInstanceOf(errorClass)
        expect(error).not.toBeInstanceOf(otherClass(errorClass))
      }

      it(`is refused by stat() with ${errorClass.name}`, async () => {
        await refuses(storage.stat(key))
      })

      it(`is refused by open() with ${errorClass.name}`, async () => {
        await refuses(storage.open(key))
      })

      it(`is refused by open() with a range, with ${errorClass.name}`, async () => {
        await refuses(storage.open(key, { start: 0, end: 0 }))
      })

      it(`is refused by save() with ${errorClass.name}, and nothing is stored`, async () => {
        await refuses(storage.save(key, 'payload'))
        for (const guess of ['x', 'b.txt', 'b', 'a', 'etc/passwd', 'passwd']) {
          expect(await storage.exists(guess)).toBe(false)
        }
      })

      it(`is refused by delete() with ${errorClass.name}`, async () => {
        await refuses(storage.delete(key))
      })
    })
  })
}
