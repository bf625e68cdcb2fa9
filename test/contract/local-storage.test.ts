/** @module LocalStorage passes the Storage contract, stays inside its root, and leaks no file descriptors. */
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import { BadPathError, ConfigurationError, FileNotFoundError, UnsafePathError } from '../../src/errors'
import { LocalStorage, type LocalStorageOptions } from '../../src/storage/local-storage'
import { readAll, rejectionOf } from '../helpers/streams'
import { binaryPayload, describeStorageContract } from './storage.contract'

const temporaryDirectory = () => mkdtemp(path.join(os.tmpdir(), 'downloadview-local-'))

describeStorageContract('LocalStorage', async () => {
  const root = await temporaryDirectory()
  return { storage: new LocalStorage({ root }), cleanup: () => rm(root, { recursive: true, force: true }) }
})

// The same contract from a root that does not exist yet, read in the smallest chunks allowed.
describeStorageContract('LocalStorage with a missing root and readChunkSize 1024', async () => {
  const parent = await temporaryDirectory()
  return {
    storage: new LocalStorage({ root: path.join(parent, 'media', 'nested'), readChunkSize: 1024 }),
    cleanup: () => rm(parent, { recursive: true, force: true }),
  }
})

/** Every file name under `directory`, relative to it. */
async function listFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true })
  return entries.map(String).sort()
}

describe('LocalStorage', () => {
  let base: string
  let root: string
  let outside: string
  let storage: LocalStorage

  beforeEach(async () => {
    base = await temporaryDirectory()
    root = path.join(base, 'root')
    outside = path.join(base, 'outside')
    await mkdir(root)
    await mkdir(outside)
    storage = new LocalStorage({ root })
  })

  afterEach(async () => {
    await rm(base, { recursive: true, force: true })
  })

  describe('with a symlink to a file outside the root', () => {
    beforeEach(async () => {
      await writeFile(path.join(outside, 'secret.txt'), 'secret')
      await symlink(path.join(outside, 'secret.txt'), path.join(root, 'link.txt'))
    })

    it('refuses stat() with UnsafePathError', async () => {
      expect(await rejectionOf(storage.stat('link.txt'))).toBeInstanceOf(UnsafePathError)
    })

    it('refuses open() with UnsafePathError', async () => {
      expect(await rejectionOf(storage.open('link.txt'))).toBeInstanceOf(UnsafePathError)
      expect(await rejectionOf(storage.open('link.txt', { start: 0, end: 1 }))).toBeInstanceOf(
        UnsafePathError,
      )
    })

    it('reports that nothing exists there', async () => {
      expect(await storage.exists('link.txt')).toBe(false)
    })

    it('refuses delete() and leaves the outside file alone', async () => {
      expect(await rejectionOf(storage.delete('link.txt'))).toBeInstanceOf(UnsafePathError)
      expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('secret')
    })

    it('lets save() replace the link itself, never writing through it', async () => {
      await storage.save('link.txt', 'replacement')
      expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('secret')
      expect((await readAll(await storage.open('link.txt'))).toString()).toBe('replacement')
    })

    it('keeps the outside path out of the error message', async () => {
      const error = (await rejectionOf(storage.stat('link.txt'))) as Error
      expect(error.message).not.toContain(outside)
    })
  })

  describe('with a symlinked directory that leads outside the root', () => {
    beforeEach(async () => {
      await symlink(outside, path.join(root, 'out'), 'dir')
    })

    it('refuses stat() and open() of a file under it', async () => {
      await writeFile(path.join(outside, 'secret.txt'), 'secret')
      expect(await rejectionOf(storage.stat('out/secret.txt'))).toBeInstanceOf(UnsafePathError)
      expect(await rejectionOf(storage.open('out/secret.txt'))).toBeInstanceOf(UnsafePathError)
      expect(await storage.exists('out/secret.txt')).toBe(false)
    })

    it('refuses save() into it and writes nothing outside', async () => {
      expect(await rejectionOf(storage.save('out/planted.txt', 'x'))).toBeInstanceOf(UnsafePathError)
      expect(await listFiles(outside)).toEqual([])
    })

    it('refuses save() of a nested key under it and creates no directory outside', async () => {
      expect(await rejectionOf(storage.save('out/new/deeper/planted.txt', 'x'))).toBeInstanceOf(
        UnsafePathError,
      )
      expect(await listFiles(outside)).toEqual([])
    })

    it('refuses delete() of a file under it and leaves that file alone', async () => {
      await writeFile(path.join(outside, 'secret.txt'), 'secret')
      expect(await rejectionOf(storage.delete('out/secret.txt'))).toBeInstanceOf(UnsafePathError)
      expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('secret')
    })
  })

  describe('with a symlink loop', () => {
    beforeEach(async () => {
      await symlink(path.join(root, 'b'), path.join(root, 'a'))
      await symlink(path.join(root, 'a'), path.join(root, 'b'))
    })

    it('refuses stat() with UnsafePathError', async () => {
      expect(await rejectionOf(storage.stat('a'))).toBeInstanceOf(UnsafePathError)
    })

    it('reports that nothing exists there', async () => {
      expect(await storage.exists('a')).toBe(false)
    })
  })

  describe('with a symlink to a file inside the root', () => {
    beforeEach(async () => {
      await mkdir(path.join(root, 'real'))
      await writeFile(path.join(root, 'real', 'nums.txt'), '123456789')
      await symlink(path.join(root, 'real', 'nums.txt'), path.join(root, 'alias.txt'))
    })

    it('serves it through stat() and open()', async () => {
      expect((await storage.stat('alias.txt')).size).toBe(9)
      expect((await readAll(await storage.open('alias.txt'))).toString()).toBe('123456789')
      expect((await readAll(await storage.open('alias.txt', { start: 2, end: 5 }))).toString()).toBe('3456')
    })

    it('reports that it exists', async () => {
      expect(await storage.exists('alias.txt')).toBe(true)
    })

    it('deletes the link on delete(), not the file it points to', async () => {
      await storage.delete('alias.txt')
      expect(await storage.exists('alias.txt')).toBe(false)
      expect(await readFile(path.join(root, 'real', 'nums.txt'), 'utf8')).toBe('123456789')
    })
  })

  describe('root', () => {
    it('is created on the first save when it does not exist yet', async () => {
      const missing = path.join(base, 'not', 'yet', 'there')
      const fresh = new LocalStorage({ root: missing })
      expect(await rejectionOf(stat(missing))).toMatchObject({ code: 'ENOENT' })
      await fresh.save('hello-world.txt', 'Hello world!\n')
      expect(await readFile(path.join(missing, 'hello-world.txt'), 'utf8')).toBe('Hello world!\n')
    })

    it('answers "not found" while it does not exist yet', async () => {
      const fresh = new LocalStorage({ root: path.join(base, 'absent') })
      expect(await rejectionOf(fresh.stat('a.txt'))).toBeInstanceOf(FileNotFoundError)
      expect(await rejectionOf(fresh.open('a.txt'))).toBeInstanceOf(FileNotFoundError)
      expect(await fresh.exists('a.txt')).toBe(false)
      await expect(fresh.delete('a.txt')).resolves.toBeUndefined()
    })

    it('is resolved to an absolute path, which its name never shows', () => {
      const relative = new LocalStorage({ root: path.join('some', 'media') })
      expect(relative.root).toBe(path.resolve('some', 'media'))
      expect(relative.name).toBe(`LocalStorage(${path.join('some', 'media')})`)
      expect(new LocalStorage({ root: '/srv/downloadview-media' }).name).toBe(
        'LocalStorage(…/downloadview-media)',
      )
    })

    it('may itself be a symlink', async () => {
      const linked = path.join(base, 'linked-root')
      await symlink(root, linked, 'dir')
      const viaLink = new LocalStorage({ root: linked })
      await viaLink.save('a/b.txt', 'through the link')
      expect(await readFile(path.join(root, 'a', 'b.txt'), 'utf8')).toBe('through the link')
      expect((await readAll(await viaLink.open('a/b.txt'))).toString()).toBe('through the link')
    })
  })

  describe('localPath()', () => {
    it('returns the absolute path of a normalised key', () => {
      expect(storage.localPath('a//./b.txt')).toBe(path.join(root, 'a', 'b.txt'))
    })

    it('points at the file save() wrote', async () => {
      await storage.save('naïve café.txt', 'Unicode name\n')
      expect(await readFile(storage.localPath('naïve café.txt'), 'utf8')).toBe('Unicode name\n')
    })

    it('refuses an unsafe key with UnsafePathError', () => {
      expect(() => storage.localPath('../x')).toThrow(UnsafePathError)
      expect(() => storage.localPath('/etc/passwd')).toThrow(UnsafePathError)
    })

    it('refuses a key with a NUL byte with BadPathError', () => {
      expect(() => storage.localPath('a\u0000b')).toThrow(BadPathError)
    })
  })

  describe('options', () => {
    const make = (options: unknown) => () => new LocalStorage(options as LocalStorageOptions)

    it.each([
      ['no options', undefined],
      ['no root', {}],
      ['an empty root', { root: '' }],
      ['a root that is not a string', { root: 42 }],
    ])('throws a ConfigurationError naming "root" for %s', (_label, options) => {
      expect(make(options)).toThrow(ConfigurationError)
      expect(make(options)).toThrow(/"root"/)
    })

    it.each([
      ['zero', 0],
      ['a negative number', -1],
      ['less than 1024', 1023],
      ['a fraction', 1024.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a string', '65536'],
    ])('throws a ConfigurationError naming "readChunkSize" for %s', (_label, readChunkSize) => {
      expect(make({ root, readChunkSize })).toThrow(ConfigurationError)
      expect(make({ root, readChunkSize })).toThrow(/"readChunkSize"/)
    })

    /** The sizes of the chunks open() yields for a file of `size` bytes. */
    async function chunkSizes(target: LocalStorage, size: number): Promise<number[]> {
      await target.save('chunks.bin', binaryPayload(size))
      const stream = await target.open('chunks.bin')
      const sizes: number[] = []
      // 'data' events, not async iteration: iteration may join chunks that were buffered together.
      stream.on('data', (chunk: Buffer) => sizes.push(chunk.length))
      await once(stream, 'end')
      return sizes
    }

    it('reads readChunkSize bytes at a time when it is set', async () => {
      const sizes = await chunkSizes(new LocalStorage({ root, readChunkSize: 1024 }), 5000)
      expect(sizes).toEqual([1024, 1024, 1024, 1024, 904])
    })

    it('reads a file that fits in one chunk in one go by default', async () => {
      const sizes = await chunkSizes(storage, 200_000)
      expect(sizes).toEqual([200_000])
    })

    it('reads 1 MiB at a time by default while few files stream', async () => {
      const sizes = await chunkSizes(storage, 3 * 1024 * 1024 + 5)
      expect(sizes).toEqual([1048576, 1048576, 1048576, 5])
    })

    it('reads less at a time, down to 64 KiB, when many files stream at once', async () => {
      await storage.save('many.bin', binaryPayload(2 * 1024 * 1024))
      // 600 streams open at once share the 32 MiB read budget: 32 MiB / 600 is below the 64 KiB floor.
      const streams = await Promise.all(Array.from({ length: 600 }, () => storage.open('many.bin')))
      const sizes: number[] = []
      const first = streams[0] as Readable
      first.on('data', (chunk: Buffer) => sizes.push(chunk.length))
      await once(first, 'end')
      for (const stream of streams) stream.destroy()
      expect(sizes.length).toBe(32)
      expect(new Set(sizes)).toEqual(new Set([65536]))
    })
  })

  describe('file descriptors', () => {
    const fdCount = () => readdirSync('/proc/self/fd').length

    /** The descriptor count once it has fallen to `target`, or after about a second of waiting for it. */
    async function settledFdCount(target: number): Promise<number> {
      let count = fdCount()
      for (let attempt = 0; attempt < 50 && count > target; attempt++) {
        await delay(20)
        count = fdCount()
      }
      return count
    }

    let before: number

    beforeEach(async () => {
      await storage.save('nums.txt', '123456789')
      await storage.save('big.bin', binaryPayload(256 * 1024))
      await storage.save('dir/inside.txt', 'x')
      // Warm up: whatever Node opens lazily on the first read is not a leak.
      await readAll(await storage.open('nums.txt'))
      before = await settledFdCount(0)
    })

    it('are all closed after 200 open() + destroy() cycles', async () => {
      for (let i = 0; i < 200; i++) {
        const stream = await storage.open(i % 2 === 0 ? 'big.bin' : 'nums.txt')
        stream.destroy()
      }
      expect(await settledFdCount(before)).toBeLessThanOrEqual(before)
    })

    it('are all closed after 200 streams destroyed midway', async () => {
      for (let i = 0; i < 200; i++) {
        const stream = await storage.open('big.bin')
        await new Promise((resolve) => stream.once('data', resolve))
        stream.destroy()
      }
      expect(await settledFdCount(before)).toBeLessThanOrEqual(before)
    })

    it('are all closed after 200 fully read open() calls', async () => {
      for (let i = 0; i < 200; i++) {
        await readAll(await storage.open('nums.txt', i % 2 === 0 ? undefined : { start: 2, end: 5 }))
      }
      expect(await settledFdCount(before)).toBeLessThanOrEqual(before)
    })

    it('are all closed after 200 open() calls refused because the key names a directory', async () => {
      for (let i = 0; i < 200; i++) {
        expect(await rejectionOf(storage.open('dir'))).toBeInstanceOf(FileNotFoundError)
      }
      expect(await settledFdCount(before)).toBeLessThanOrEqual(before)
    })
  })

  describe('save() atomicity', () => {
    /** A stream that sends three 64 KiB chunks, then fails. */
    function failingStream(): Readable {
      let sent = 0
      return new Readable({
        read() {
          if (sent++ < 3) this.push(Buffer.alloc(64 * 1024, 0x78))
          else this.destroy(new Error('source broke'))
        },
      })
    }

    it('leaves no .part file behind when the source stream fails midway', async () => {
      await storage.save('dir/doc.txt', 'original')
      expect(await rejectionOf(storage.save('dir/doc.txt', failingStream()))).toMatchObject({
        message: 'source broke',
      })
      await rejectionOf(storage.save('dir/other.txt', failingStream()))
      const files = await listFiles(root)
      expect(files.filter((file) => file.endsWith('.part'))).toEqual([])
      expect(files).toEqual(['dir', path.join('dir', 'doc.txt')])
    })

    it('leaves the existing file at that key untouched', async () => {
      await storage.save('doc.txt', 'original')
      await rejectionOf(storage.save('doc.txt', failingStream()))
      expect(await readFile(path.join(root, 'doc.txt'), 'utf8')).toBe('original')
      expect((await storage.stat('doc.txt')).size).toBe(8)
    })

    it('leaves no .part file behind after a successful save', async () => {
      await storage.save('a/b.txt', Readable.from([Buffer.from('one'), Buffer.from('two')]))
      expect(await listFiles(root)).toEqual(['a', path.join('a', 'b.txt')])
    })
  })
})

describe('LocalStorage.list()', () => {
  let base: string
  let root: string
  let outside: string
  let storage: LocalStorage

  /** Every key list(prefix) yields, in its own order. */
  async function listed(prefix?: string): Promise<string[]> {
    const keys: string[] = []
    for await (const key of storage.list(prefix)) keys.push(key)
    return keys
  }

  beforeEach(async () => {
    base = await temporaryDirectory()
    root = path.join(base, 'root')
    outside = path.join(base, 'outside')
    await mkdir(outside)
    storage = new LocalStorage({ root })
  })

  afterEach(async () => {
    await rm(base, { recursive: true, force: true })
  })

  it('yields nothing while the root does not exist', async () => {
    expect(await listed()).toEqual([])
    expect(await listed('a/b/')).toEqual([])
  })

  it('walks depth-first with each directory sorted', async () => {
    for (const key of ['b.txt', 'a/z.txt', 'a/b/c.txt', 'A.txt']) await storage.save(key, key)
    expect(await listed()).toEqual(['A.txt', 'a/b/c.txt', 'a/z.txt', 'b.txt'])
  })

  describe('with the .part file of a save in progress', () => {
    beforeEach(async () => {
      await storage.save('docs/report.pdf', 'done')
      await writeFile(path.join(root, 'docs', '.report.pdf.0123456789ab.part'), 'half')
      await writeFile(path.join(root, '.new.txt.abcdef012345.part'), 'half')
    })

    it('skips it', async () => {
      expect(await listed()).toEqual(['docs/report.pdf'])
    })

    it('still lists files whose names merely end in .part', async () => {
      await storage.save('notes.part', 'a user file')
      await storage.save('.draft.part', 'a user file')
      expect(await listed()).toEqual(['.draft.part', 'docs/report.pdf', 'notes.part'])
    })
  })

  describe('with symlinks', () => {
    beforeEach(async () => {
      await storage.save('real/nums.txt', '123456789')
      await writeFile(path.join(outside, 'secret.txt'), 'secret')
      await symlink(path.join(root, 'real', 'nums.txt'), path.join(root, 'alias.txt'))
      await symlink(path.join(outside, 'secret.txt'), path.join(root, 'leak.txt'))
      await symlink(outside, path.join(root, 'out'), 'dir')
      await symlink(path.join(root, 'real'), path.join(root, 'inside-dir'), 'dir')
      await symlink(path.join(root, 'loop-b'), path.join(root, 'loop-a'))
      await symlink(path.join(root, 'loop-a'), path.join(root, 'loop-b'))
    })

    it('lists a link to a file inside the root, and never what lies outside', async () => {
      expect(await listed()).toEqual(['alias.txt', 'real/nums.txt'])
    })

    it('does not enter a linked directory, even with a prefix that names it', async () => {
      expect(await listed('out/')).toEqual([])
      expect(await listed('inside-dir/')).toEqual([])
    })

    it('lists only keys that stat() accepts', async () => {
      for (const key of await listed()) await expect(storage.stat(key)).resolves.toBeDefined()
    })
  })

  it('skips names on disk that are not valid keys', async () => {
    await storage.save('good.txt', 'x')
    await writeFile(path.join(root, 'back\\slash.txt'), 'x')
    await writeFile(path.join(root, 'new\nline.txt'), 'x')
    expect(await listed()).toEqual(['good.txt'])
  })
})

describe('LocalStorage with names too long for the file system', () => {
  let root: string
  let storage: LocalStorage
  const long = `${'x'.repeat(300)}.txt`

  beforeEach(async () => {
    root = await temporaryDirectory()
    storage = new LocalStorage({ root })
  })

  afterEach(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('answers stat() and open() with "not found" (a 404), naming the key and not the root', async () => {
    for (const error of [await rejectionOf(storage.stat(long)), await rejectionOf(storage.open(long))]) {
      expect(error).toBeInstanceOf(FileNotFoundError)
      expect((error as Error).message).toContain('too long')
      expect((error as Error).message).not.toContain(root)
    }
  })

  it('refuses save() with a BadPathError that holds no absolute path, and leaves nothing behind', async () => {
    const error = await rejectionOf(storage.save(`a/${long}`, 'bytes'))
    expect(error).toBeInstanceOf(BadPathError)
    expect((error as Error).message).toContain('too long for the file system')
    expect((error as Error).message).not.toContain(root)
    expect(await listFiles(root)).toEqual(['a'])
  })
})

describe('LocalStorage.save() with something in the way', () => {
  let root: string
  let storage: LocalStorage

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'downloadview-inway-'))
    storage = new LocalStorage({ root })
    await storage.save('file.txt', 'a file')
    await storage.save('folder/inside.txt', 'inside')
  })

  afterEach(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('refuses a key below an existing file with a BadPathError that names no absolute path', async () => {
    const error = await storage.save('file.txt/inside.txt', 'x').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(BadPathError)
    expect((error as Error).message).not.toContain(`${root}/file.txt`)
  })

  it('refuses a key that is an existing folder with a BadPathError', async () => {
    await expect(storage.save('folder', 'x')).rejects.toThrow(BadPathError)
    expect(await storage.exists('folder/inside.txt')).toBe(true)
  })
})
