/**
 * ContentCache: small files' bytes by SHA-256, filled by a file's first full read from a real
 * LocalStorage, served (whole or ranged) without another storage call; bounded in bytes; never
 * holding bytes that do not hash to the checksum the row states.
 */
import { createHash } from 'node:crypto'
import { ContentCache } from '../../../src/cache/content-cache'
import { ConfigurationError } from '../../../src/errors'
import { StorageFile } from '../../../src/files/storage-file'
import { respond } from '../../../src/http/respond'
import { CountingStorage, temporaryStorage } from '../../helpers/storage'
import { readAll } from '../../helpers/streams'

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const GET = { method: 'GET', headers: {} }

let folder: Awaited<ReturnType<typeof temporaryStorage>>
let storage: CountingStorage

beforeEach(async () => {
  folder = await temporaryStorage()
  storage = new CountingStorage(folder.storage)
})

afterEach(() => folder.remove())

/** The file at `key` (saved with `bytes`), as a row describes it: size and checksum. */
async function stored(key: string, bytes: Buffer, stated = sha256(bytes)): Promise<StorageFile> {
  await storage.save(key, bytes)
  const { modifiedAt } = await storage.stat(key)
  storage.reset()
  return new StorageFile(storage, key, { size: bytes.length, sha256: stated, modifiedAt })
}

/** The body the responder sends for `file` (and `headers`), read whole. */
async function body(file: ReturnType<ContentCache['wrap']>, headers: Record<string, string> = {}) {
  const plan = respond({ ...GET, headers }, file)
  const stream = await plan.body?.()
  return stream ? readAll(stream) : Buffer.alloc(0)
}

describe('ContentCache', () => {
  it('keeps a small file on its first full read, then serves it without the storage', async () => {
    const cache = new ContentCache()
    const bytes = Buffer.from('a small file\n')
    const file = await stored('docs/small.txt', bytes)
    expect(await body(cache.wrap(file))).toEqual(bytes)
    expect(storage.calls.open).toBe(1)
    expect(await body(cache.wrap(file))).toEqual(bytes)
    expect(await body(cache.wrap(file), { range: 'bytes=2-6' })).toEqual(bytes.subarray(2, 7))
    expect(storage.calls.open).toBe(1)
    expect(cache.stats).toMatchObject({ files: 1, bytes: bytes.length, stores: 1, hits: 2 })
  })

  it('keeps its own copy: the storage may reuse the buffer it read into', async () => {
    const cache = new ContentCache()
    const bytes = Buffer.from('copied bytes\n')
    const file = await stored('docs/copy.txt', bytes)
    const stream = await cache.wrap(file).open({ start: 0, end: bytes.length - 1 })
    const read = await readAll(stream)
    read.fill(0x78)
    expect(cache.get(sha256(bytes))).toEqual(bytes)
  })

  it('never keeps bytes that do not hash to the checksum the row states', async () => {
    const cache = new ContentCache()
    const bytes = Buffer.from('changed on disk since the row was written\n')
    const file = await stored('docs/changed.txt', bytes, sha256(Buffer.from('what the row says')))
    expect(await body(cache.wrap(file))).toEqual(bytes)
    expect(await body(cache.wrap(file))).toEqual(bytes)
    expect(storage.calls.open).toBe(2)
    expect(cache.stats.files).toBe(0)
  })

  it('leaves larger files, and files without a checksum, to the storage', async () => {
    const cache = new ContentCache({ maxFileSize: 16, maxBytes: 64 })
    const large = await stored('docs/large.txt', Buffer.alloc(17, 0x61))
    expect(cache.wrap(large)).toBe(large)
    const unsummed = new StorageFile(storage, 'docs/large.txt', { size: 17 })
    expect(cache.wrap(unsummed)).toBe(unsummed)
  })

  it('drops the least recently used files past maxBytes', async () => {
    const cache = new ContentCache({ maxFileSize: 10, maxBytes: 25 })
    const [a, b, c] = [Buffer.alloc(10, 0x61), Buffer.alloc(10, 0x62), Buffer.alloc(10, 0x63)]
    expect(cache.set(sha256(a), a)).toBe(true)
    expect(cache.set(sha256(b), b)).toBe(true)
    cache.get(sha256(a))
    expect(cache.set(sha256(c), c)).toBe(true)
    expect(cache.get(sha256(b))).toBeUndefined()
    expect(cache.get(sha256(a))).toEqual(a)
    expect(cache.stats).toMatchObject({ files: 2, bytes: 20, evictions: 1 })
  })

  it('keeps the file’s metadata and location (a hand-off still sees the storage key)', async () => {
    const cache = new ContentCache()
    const file = await stored('docs/where.txt', Buffer.from('where\n'))
    const wrapped = cache.wrap(file)
    expect(wrapped).toMatchObject({
      name: 'where.txt',
      size: 6,
      sha256: file.sha256,
      location: file.location,
    })
  })

  it('refuses bad options, naming them', () => {
    expect(() => new ContentCache({ maxBytes: 0 })).toThrow(
      new ConfigurationError('ContentCache: option "maxBytes" must be a whole number of bytes from 1'),
    )
    expect(() => new ContentCache({ maxBytes: 10, maxFileSize: 11 })).toThrow(
      /"maxFileSize" must not be larger/,
    )
    expect(() => new ContentCache({ ttl: 1 } as never)).toThrow('ContentCache: unknown option "ttl"')
  })
})
