import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { FileNotFoundError, MissingChecksumError } from '../../../src/errors'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import type { ByteRange, SaveSource, Storage, StorageStat } from '../../../src/storage/storage'
import { crc32 } from '../../../src/zip/crc32'
import { Crc32Memo, type ZipMember, ZipFile } from '../../../src/zip/zip-file'
import { readAll, rejectionOf } from '../../helpers/streams'
import { bsdtarExtract, bsdtarList, pythonZip, unzipTest } from '../../helpers/zip-tools'

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'downloadview-zip-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

/** Stores `files` in `storage` and describes each as a member, with its CRC-32 and SHA-256. */
async function membersOf(storage: Storage, files: [name: string, content: Buffer][]): Promise<ZipMember[]> {
  const members: ZipMember[] = []
  for (const [index, [name, content]] of files.entries()) {
    const key = `k/${index}/${name.replace(/[^\w.]/g, '_')}`
    await storage.save(key, content)
    members.push({
      storage,
      key,
      name,
      size: content.length,
      crc32: crc32(content),
      sha256: sha256(content),
      modifiedAt: new Date(Date.UTC(2026, 10, 24, 15, 10, 12)),
    })
  }
  return members
}

/** The whole archive, read through `open()`, and written to a file for the tools. */
async function written(zip: ZipFile, name = 'archive.zip'): Promise<{ bytes: Buffer; file: string }> {
  const bytes = await readAll(await zip.open())
  const file = path.join(dir, name)
  await writeFile(file, bytes)
  return { bytes, file }
}

const CONTENTS: [string, Buffer][] = [
  ['hello.txt', Buffer.from('Hello world!\n')],
  ['empty.txt', Buffer.alloc(0)],
  ['naïve café.txt', Buffer.from('Unicode name\n')],
  ['data/random.bin', randomBytes(300_000)],
]

describe('ZipFile', () => {
  describe('an archive of four members', () => {
    let zip: ZipFile
    let bytes: Buffer
    let file: string

    beforeAll(async () => {
      zip = new ZipFile({ name: 'four.zip', members: await membersOf(new MemoryStorage(), CONTENTS) })
      ;({ bytes, file } = await written(zip, 'four.zip'))
    })

    it('is exactly as long as it says before any byte is read', () => {
      expect(bytes.length).toBe(zip.size)
    })

    it('passes unzip -t', async () => {
      const result = await unzipTest(file)
      expect(result.code).toBe(0)
      expect(result.output).toContain('No errors detected')
    })

    it("lists every entry with bsdtar, and bsdtar extracts each member's bytes", async () => {
      const listed = await bsdtarList(file)
      expect(listed.code).toBe(0)
      expect(listed.names).toEqual(CONTENTS.map(([name]) => name))
      for (const [name, content] of CONTENTS) expect(await bsdtarExtract(file, name)).toEqual(content)
    })

    it("is read by Python's zipfile: testzip() finds no bad CRC, every member's bytes are right", async () => {
      const report = await pythonZip(file)
      expect(report.testzip).toBeNull()
      expect(report.zip64End).toBe(false)
      expect(report.entries.map((entry) => [entry.name, entry.size, entry.sha256])).toEqual(
        CONTENTS.map(([name, content]) => [name, content.length, sha256(content)]),
      )
    })

    it('stores every member uncompressed (method 0), its name in UTF-8 (flag bit 11)', async () => {
      for (const entry of (await pythonZip(file, { readData: false, test: false })).entries) {
        expect(entry.method).toBe(0)
        expect(entry.compressSize).toBe(entry.size)
        expect(entry.flags & 0x0800).toBe(0x0800)
        // No data descriptor: the sizes and CRC are in the local header.
        expect(entry.flags & 0x0008).toBe(0)
        expect(entry.zip64).toBe(false)
      }
    })

    it('dates each entry with its modification time (UTC)', async () => {
      const [entry] = (await pythonZip(file, { readData: false, test: false })).entries
      expect(entry?.date).toEqual([2026, 11, 24, 15, 10, 12])
    })

    it('is the content type application/zip, with a strong ETag', () => {
      expect(zip.contentType).toBe('application/zip')
      expect(zip.etag).toMatch(/^"zip-[0-9a-f]{64}"$/)
    })

    it.each([
      ['the first byte', 0, 0],
      ['inside the first local header', 3, 20],
      ['from a header into content', 25, 60],
      ['across three members', 40, 400],
      ['deep inside the large member', 100_000, 250_000],
      ['from content into the central directory', 300_000, 300_200],
      ['the end record', -22, -1],
      ['the last byte', -1, -1],
    ])('opens %s as exactly those bytes of the archive', async (_label, from, to) => {
      const start = from < 0 ? zip.size + from : from
      const end = to < 0 ? zip.size + to : to
      expect(await readAll(await zip.open({ start, end }))).toEqual(bytes.subarray(start, end + 1))
    })

    it('opens 200 random ranges as exactly those bytes', async () => {
      for (let i = 0; i < 200; i++) {
        const start = Math.floor(Math.random() * zip.size)
        const end = start + Math.floor(Math.random() * (zip.size - start))
        const got = await readAll(await zip.open({ start, end }))
        if (!got.equals(bytes.subarray(start, end + 1))) throw new Error(`bytes ${start}-${end} differ`)
      }
    })
  })

  describe('entry names', () => {
    it('makes duplicates unique and unsafe names safe, as the tools then list them', async () => {
      const storage = new MemoryStorage()
      const members = await membersOf(storage, [
        ['a.txt', Buffer.from('1')],
        ['a.txt', Buffer.from('2')],
        ['A.txt', Buffer.from('3')],
        ['../../etc/passwd', Buffer.from('4')],
        ['C:\\evil\\b.txt', Buffer.from('5')],
        ['tab\there.txt', Buffer.from('6')],
      ])
      const { file } = await written(new ZipFile({ name: 'n.zip', members }), 'names.zip')
      const expected = ['a.txt', 'a (2).txt', 'A (3).txt', 'etc/passwd', 'C_/evil/b.txt', 'tabhere.txt']
      expect((await bsdtarList(file)).names).toEqual(expected)
      expect((await pythonZip(file)).entries.map((entry) => [entry.name, entry.sha256])).toEqual(
        expected.map((name, index) => [name, sha256(Buffer.from(String(index + 1)))]),
      )
    })
  })

  describe('with ZIP64 forced', () => {
    it('passes unzip -t, bsdtar and zipfile, with ZIP64 extra fields and end records', async () => {
      const members = await membersOf(new MemoryStorage(), CONTENTS)
      const zip = new ZipFile({ name: 'z64.zip', members, forceZip64: true })
      const { bytes, file } = await written(zip, 'z64.zip')
      expect(bytes.length).toBe(zip.size)
      expect((await unzipTest(file)).code).toBe(0)
      expect((await bsdtarList(file)).names).toEqual(CONTENTS.map(([name]) => name))
      const report = await pythonZip(file)
      expect(report.testzip).toBeNull()
      expect(report.zip64End).toBe(true)
      expect(report.entries.every((entry) => entry.zip64)).toBe(true)
      expect(report.entries.map((entry) => entry.sha256)).toEqual(
        CONTENTS.map(([, content]) => sha256(content)),
      )
      // The ZIP64 end of central directory record, then its locator, then the end record.
      expect(bytes.readUInt32LE(bytes.length - 22 - 20 - 56)).toBe(0x06064b50)
      expect(bytes.readUInt32LE(bytes.length - 22 - 20)).toBe(0x07064b50)
    })
  })

  describe('with 70,000 entries (more than 65,535)', () => {
    it('ends with the ZIP64 records, and every tool lists every entry', async () => {
      const storage = new MemoryStorage()
      await storage.save('one', 'x')
      const members: ZipMember[] = Array.from({ length: 70_000 }, (_, index) => ({
        storage,
        key: 'one',
        name: `f/${index}.txt`,
        size: 1,
        crc32: crc32(Buffer.from('x')),
      }))
      const zip = new ZipFile({ name: 'many.zip', members })
      expect(zip.layout.zip64).toBe(true)
      const { bytes, file } = await written(zip, 'many.zip')
      expect(bytes.length).toBe(zip.size)
      const report = await pythonZip(file, { readData: false })
      expect(report.testzip).toBeNull()
      expect(report.zip64End).toBe(true)
      expect(report.entries).toHaveLength(70_000)
      expect(report.entries[69_999]?.name).toBe('f/69999.txt')
      expect((await bsdtarList(file)).names).toHaveLength(70_000)
      const tested = await unzipTest(file)
      expect(tested.code).toBe(0)
      expect(tested.output).toContain('No errors detected')
      // The end record says "see the ZIP64 record" for the count.
      expect(bytes.readUInt16LE(bytes.length - 22 + 10)).toBe(0xffff)
    }, 60_000)
  })

  describe('the ETag', () => {
    async function tag(change: (members: ZipMember[]) => void = () => undefined): Promise<string> {
      const members = await membersOf(new MemoryStorage(), CONTENTS)
      change(members)
      return new ZipFile({ name: 'a.zip', members }).etag
    }

    it('is the same for the same manifest', async () => {
      expect(await tag()).toBe(await tag())
    })

    it.each([
      ['a name', (m: ZipMember[]) => Object.assign(m[0] as ZipMember, { name: 'other.txt' })],
      ['a key', (m: ZipMember[]) => Object.assign(m[0] as ZipMember, { key: 'elsewhere' })],
      ['a checksum', (m: ZipMember[]) => Object.assign(m[0] as ZipMember, { sha256: 'f'.repeat(64) })],
      ['a date', (m: ZipMember[]) => Object.assign(m[0] as ZipMember, { modifiedAt: new Date(0) })],
      ['the order', (m: ZipMember[]) => m.reverse()],
      ['a member less', (m: ZipMember[]) => m.pop()],
    ])('changes with %s', async (_label, change) => {
      expect(await tag(change)).not.toBe(await tag())
    })

    it('is weak when a member states no SHA-256', async () => {
      expect(await tag((m) => Object.assign(m[1] as ZipMember, { sha256: undefined }))).toMatch(/^W\/"zip-/)
    })
  })

  describe('members whose CRC-32 is not stored', () => {
    it('computes them by reading the files, before the first byte, within maxChecksumBytes', async () => {
      const storage = new MemoryStorage()
      const members = (await membersOf(storage, CONTENTS)).map(({ crc32: _crc, ...member }) => member)
      const zip = new ZipFile({ name: 'c.zip', members, maxChecksumBytes: 1_000_000 })
      const { file } = await written(zip, 'computed.zip')
      expect((await unzipTest(file)).code).toBe(0)
      expect((await pythonZip(file)).testzip).toBeNull()
    })

    it('remembers the CRCs computed, so the next request reads no file for them', async () => {
      const storage = new CountingMemoryStorage()
      const members = (await membersOf(storage, CONTENTS)).map(({ crc32: _crc, ...member }) => member)
      const memo = new Crc32Memo()
      const first = new ZipFile({ name: 'c.zip', members, maxChecksumBytes: 1_000_000, memo })
      await readAll(await first.open())
      expect(storage.opened).toBeGreaterThan(0)
      // The next request: the CRCs are known, and none is over budget any more.
      const again = new ZipFile({ name: 'c.zip', members, maxChecksumBytes: 0, memo })
      storage.opened = 0
      const tail = await readAll(await again.open({ start: again.size - 100, end: again.size - 1 }))
      expect(tail).toHaveLength(100)
      expect(storage.opened).toBe(0)
    })

    it('computes only the CRCs that the range reads, for a range inside one member', async () => {
      const storage = new CountingMemoryStorage()
      const members = (await membersOf(storage, CONTENTS)).map(({ crc32: _crc, ...member }) => member)
      const zip = new ZipFile({ name: 'c.zip', members, maxChecksumBytes: 1_000_000 })
      const start = zip.layout.dataOffset(3) + 10
      await readAll(await zip.open({ start, end: start + 99 }))
      // One open: the slice itself; no member was read whole for a checksum.
      expect(storage.opened).toBe(1)
    })

    it('refuses, with a MissingChecksumError that says what to do, past maxChecksumBytes', async () => {
      const members = (await membersOf(new MemoryStorage(), CONTENTS)).map(
        ({ crc32: _crc, ...member }) => member,
      )
      let error: unknown
      try {
        new ZipFile({ name: 'c.zip', members, maxChecksumBytes: 1000 })
      } catch (caught) {
        error = caught
      }
      expect(error).toBeInstanceOf(MissingChecksumError)
      expect((error as Error).message).toMatch(/no CRC-32 stored.*backfill/)
    })

    it('fails when the file is not the size its row says, rather than compute a wrong CRC', async () => {
      const storage = new MemoryStorage()
      const members = (await membersOf(storage, CONTENTS)).map(({ crc32: _crc, ...member }) => member)
      await storage.save(members[0]?.key as string, 'Hello world!\nand more')
      const zip = new ZipFile({ name: 'c.zip', members, maxChecksumBytes: 1_000_000 })
      expect(String(await rejectionOf(zip.open()))).toMatch(/does not have the 13 bytes its row says/)
    })
  })

  describe('a member that is gone or changed', () => {
    async function fourMembers(): Promise<{ storage: MemoryStorage; zip: ZipFile; members: ZipMember[] }> {
      const storage = new MemoryStorage()
      const members = await membersOf(storage, CONTENTS)
      return { storage, zip: new ZipFile({ name: 'g.zip', members }), members }
    }

    /** Reads `stream` to its end or its error: the bytes that came, and the error. */
    async function drain(stream: Readable): Promise<{ bytes: number; error: unknown }> {
      let bytes = 0
      try {
        for await (const chunk of stream) bytes += (chunk as Buffer).length
      } catch (error) {
        return { bytes, error }
      }
      return { bytes, error: undefined }
    }

    it('rejects open() with FileNotFoundError when the first member read is gone: a 404 before any header', async () => {
      const { storage, zip, members } = await fourMembers()
      await storage.delete(members[0]?.key as string)
      expect(await rejectionOf(zip.open())).toBeInstanceOf(FileNotFoundError)
    })

    it('fails the stream, short of the archive, when a later member vanished', async () => {
      const { storage, zip, members } = await fourMembers()
      const body = await zip.open()
      await storage.delete(members[3]?.key as string)
      const { bytes, error } = await drain(body)
      expect(error).toBeInstanceOf(FileNotFoundError)
      expect(bytes).toBeLessThan(zip.size)
    })

    it('fails the stream when an empty member vanished', async () => {
      const { storage, zip, members } = await fourMembers()
      const body = await zip.open()
      await storage.delete(members[1]?.key as string)
      expect((await drain(body)).error).toBeInstanceOf(FileNotFoundError)
    })

    it('fails the stream when a member shrank', async () => {
      const { storage, zip, members } = await fourMembers()
      const body = await zip.open()
      await storage.save(members[3]?.key as string, randomBytes(1000))
      const { bytes, error } = await drain(body)
      expect(String(error)).toMatch(/ended after 1000 of the 300000 bytes/)
      expect(bytes).toBeLessThan(zip.size)
    })

    it('fails the stream, before its last byte, when a member grew', async () => {
      const { storage, zip, members } = await fourMembers()
      const body = await zip.open()
      await storage.save(members[2]?.key as string, 'Unicode name\nand then some')
      const { bytes, error } = await drain(body)
      expect(String(error)).toMatch(/has more bytes than its row says \(13\)/)
      // Not one byte of that member went out: it came in one chunk, held back until the probe byte.
      expect(bytes).toBe(zip.layout.dataOffset(2))
    })

    it('fails a range that ends on a member that grew, before the range completes', async () => {
      const { storage, zip, members } = await fourMembers()
      // It grew after its row was read, before the request for the range that ends with it.
      await storage.save(members[2]?.key as string, 'Unicode name\n!')
      const start = zip.layout.dataOffset(2)
      const { bytes, error } = await drain(await zip.open({ start, end: start + 12 }))
      expect(String(error)).toMatch(/has more bytes than its row says/)
      expect(bytes).toBeLessThan(13)
    })
  })

  describe('backpressure', () => {
    it('reads at most a few chunks ahead of a consumer that stops, whatever the member size', async () => {
      const storage = new ChunkStorage(64 * 1024)
      const size = 64 * 1024 * 1024
      const zip = new ZipFile({
        name: 'big.zip',
        members: [{ storage, key: 'big', name: 'big.bin', size, crc32: 0 }],
      })
      const body = await zip.open()
      let consumed = 0
      for await (const chunk of body) {
        consumed += (chunk as Buffer).length
        if (consumed >= 1024 * 1024) break
      }
      // Stopped after 1 MiB: the member was read a few 64 KiB chunks further, not 64 MiB.
      expect(storage.produced - consumed).toBeLessThanOrEqual(4 * 64 * 1024)
      expect(storage.destroyed).toBe(true)
    })
  })
})

/** A MemoryStorage that counts opens. */
class CountingMemoryStorage extends MemoryStorage {
  opened = 0

  override open(key: string, range?: ByteRange): Promise<Readable> {
    this.opened++
    return super.open(key, range)
  }
}

/** A storage whose one file is made on demand, chunk by chunk: it counts what was asked of it. */
class ChunkStorage implements Storage {
  readonly name = 'ChunkStorage'
  produced = 0
  destroyed = false

  constructor(private readonly chunk: number) {}

  async stat(): Promise<StorageStat> {
    return { size: Number.MAX_SAFE_INTEGER, modifiedAt: new Date(0) }
  }

  async exists(): Promise<boolean> {
    return true
  }

  async open(_key: string, range?: ByteRange): Promise<Readable> {
    let left = (range?.end ?? 0) - (range?.start ?? 0) + 1
    const storage = this
    return new Readable({
      highWaterMark: 1,
      read() {
        if (left <= 0) {
          this.push(null)
          return
        }
        const length = Math.min(storage.chunk, left)
        left -= length
        storage.produced += length
        this.push(Buffer.alloc(length))
      },
      destroy(error, callback) {
        storage.destroyed = true
        callback(error)
      },
    })
  }

  async save(_key: string, _source: SaveSource): Promise<StorageStat> {
    throw new Error('read-only')
  }

  async delete(): Promise<void> {}
}
