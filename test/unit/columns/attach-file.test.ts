/** @module attachFile(): new content written to a file column's storage, with its metadata computed on the way. */

import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm'
import { type AttachFileOptions, type AttachSource, attachFile } from '../../../src/columns/attach-file'
import { FileColumn } from '../../../src/columns/file-column'
import { StoredFile } from '../../../src/columns/stored-file'
import { ConfigurationError } from '../../../src/errors'
import { normalizeKey } from '../../../src/storage/keys'
import { LocalStorage } from '../../../src/storage/local-storage'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { storages } from '../../../src/storage/registry'
import { CountingStorage } from '../../helpers/storage'
import { readAll, rejectionOf } from '../../helpers/streams'

@Entity()
class Document {
  @PrimaryGeneratedColumn() id!: number
  @Column({ type: 'text' }) slug!: string
  @FileColumn() file!: StoredFile | null
  @FileColumn({ uploadTo: 'uploads/scans' }) scan!: StoredFile | null
}

@Entity()
class Archive {
  @PrimaryGeneratedColumn() id!: number
  @FileColumn({ storage: 'archives' }) file!: StoredFile | null
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
const HELLO = Buffer.from('Hello world!\n')

const sha256 = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex')

/** The bytes `document.file` points at in the memory storage. */
async function storedBytes(value: StoredFile | null): Promise<Buffer> {
  if (!value?.path) throw new Error('The column holds no file')
  return readAll(await memory.open(value.path))
}

let memory: MemoryStorage
let storage: CountingStorage
let document: Document

beforeEach(() => {
  memory = new MemoryStorage()
  storage = new CountingStorage(memory)
  storages.register('default', storage)
  document = new Document()
  document.slug = 'a'
  document.file = null
})

afterEach(() => {
  storages.clear()
})

describe('attachFile()', () => {
  describe.each<[string, () => AttachSource]>([
    ['a Buffer', () => Buffer.from(HELLO)],
    ['a Uint8Array', () => new Uint8Array(HELLO)],
    [
      'a Uint8Array view into a larger buffer',
      () => new Uint8Array(Buffer.concat([Buffer.from('xx'), HELLO])).subarray(2),
    ],
    ['a Readable', () => Readable.from([HELLO.subarray(0, 5), HELLO.subarray(5)])],
    [
      'an async generator',
      () =>
        (async function* () {
          yield HELLO.subarray(0, 3)
          yield HELLO.subarray(3, 9)
          yield HELLO.subarray(9)
        })(),
    ],
  ])('with %s', (_label, source) => {
    let value: StoredFile

    beforeEach(async () => {
      value = await attachFile(document, 'file', source(), { name: 'hello.txt' })
    })

    it('stores the bytes unchanged', async () => {
      expect(await storedBytes(document.file)).toEqual(HELLO)
    })

    it('sets the size', () => {
      expect(value.size).toBe(HELLO.length)
    })

    it('sets the SHA-256 of the bytes', () => {
      expect(value.sha256).toBe(sha256(HELLO))
    })

    it('sets the CRC-32 of the bytes, from the same pass', () => {
      // zlib.crc32(b'Hello world!\n')
      expect(value.crc32).toBe(0xb2a9e441)
    })
  })

  describe('with a Buffer and a name', () => {
    let value: StoredFile

    beforeEach(async () => {
      value = await attachFile(document, 'file', HELLO, { name: 'hello.txt' })
    })

    it('returns the value it set on the entity', () => {
      expect(document.file).toBe(value)
    })

    it('returns a StoredFile', () => {
      expect(value).toBeInstanceOf(StoredFile)
    })

    it('stores under <uploadTo>/<uuid>/<name>', () => {
      expect(value.path).toMatch(new RegExp(`^document/file/${UUID}/hello\\.txt$`))
    })

    it('keeps the name', () => {
      expect(value.name).toBe('hello.txt')
    })

    it('derives the content type from the name', () => {
      expect(value.contentType).toBe('text/plain')
    })

    it('sets the modification time the storage reports', async () => {
      const stat = await memory.stat(value.path as string)
      expect(value.modifiedAt?.getTime()).toBe(stat.modifiedAt.getTime())
    })

    it('sets every field', () => {
      expect(Object.values(value).every((field) => field !== null)).toBe(true)
    })

    it('writes through the storage exactly once', () => {
      expect(storage.calls.save).toBe(1)
    })
  })

  describe('when called twice with the same name', () => {
    it('stores each under its own key', async () => {
      const first = await attachFile(document, 'file', HELLO, { name: 'hello.txt' })
      const second = await attachFile(document, 'file', HELLO, { name: 'hello.txt' })
      expect(second.path).not.toBe(first.path)
    })

    it('leaves the first file in place', async () => {
      const first = await attachFile(document, 'file', HELLO, { name: 'hello.txt' })
      await attachFile(document, 'file', Buffer.from('other'), { name: 'hello.txt' })
      expect(await storedBytes(first)).toEqual(HELLO)
    })
  })

  describe('with a column that sets uploadTo', () => {
    it('stores under that prefix', async () => {
      const value = await attachFile(document, 'scan', HELLO, { name: 'scan.png' })
      expect(value.path).toMatch(new RegExp(`^uploads/scans/${UUID}/scan\\.png$`))
    })

    it('sets only that property', async () => {
      await attachFile(document, 'scan', HELLO, { name: 'scan.png' })
      expect(document.file).toBeNull()
    })
  })

  describe('with { path } of a local file', () => {
    let directory: string
    let file: string

    beforeEach(async () => {
      directory = await mkdtemp(path.join(os.tmpdir(), 'downloadview-attach-'))
      file = path.join(directory, 'Annual Report.pdf')
      await writeFile(file, HELLO)
    })

    afterEach(async () => {
      await rm(directory, { recursive: true, force: true })
    })

    it('stores the bytes of the file', async () => {
      await attachFile(document, 'file', { path: file })
      expect(await storedBytes(document.file)).toEqual(HELLO)
    })

    it('names the file after its basename by default', async () => {
      const value = await attachFile(document, 'file', { path: file })
      expect(value.name).toBe('Annual Report.pdf')
    })

    it('derives the content type from that basename', async () => {
      const value = await attachFile(document, 'file', { path: file })
      expect(value.contentType).toBe('application/pdf')
    })

    it('makes the basename safe for the key', async () => {
      const value = await attachFile(document, 'file', { path: file })
      expect(value.path).toMatch(new RegExp(`^document/file/${UUID}/Annual_Report\\.pdf$`))
    })

    it('names a file stream after its path', async () => {
      const value = await attachFile(document, 'file', createReadStream(file))
      expect(value.name).toBe('Annual Report.pdf')
    })

    it('prefers an explicit name', async () => {
      const value = await attachFile(document, 'file', { path: file }, { name: 'summary.pdf' })
      expect(value.name).toBe('summary.pdf')
    })

    it('rejects when the file does not exist, leaving the entity unchanged', async () => {
      const error = await rejectionOf(attachFile(document, 'file', { path: path.join(directory, 'missing') }))
      expect((error as NodeJS.ErrnoException).code).toBe('ENOENT')
      expect(document.file).toBeNull()
    })
  })

  describe('with no name and a source that has none', () => {
    let value: StoredFile

    beforeEach(async () => {
      value = await attachFile(document, 'file', HELLO)
    })

    it('names the file "file"', () => {
      expect(value.name).toBe('file')
    })

    it('stores under <uploadTo>/<uuid>/file', () => {
      expect(value.path).toMatch(new RegExp(`^document/file/${UUID}/file$`))
    })

    it('uses application/octet-stream', () => {
      expect(value.contentType).toBe('application/octet-stream')
    })
  })

  describe('with an explicit content type', () => {
    it('keeps it rather than deriving one from the name', async () => {
      const value = await attachFile(document, 'file', HELLO, {
        name: 'hello.txt',
        contentType: 'text/markdown; charset=utf-8',
      })
      expect(value.contentType).toBe('text/markdown; charset=utf-8')
    })
  })

  describe('with a content type that is not a string', () => {
    it('throws a ConfigurationError naming "contentType"', async () => {
      const options = { name: 'a.txt', contentType: 42 } as unknown as AttachFileOptions
      const error = await rejectionOf(attachFile(document, 'file', HELLO, options))
      expect(error).toBeInstanceOf(ConfigurationError)
      expect((error as Error).message).toContain('"contentType"')
    })
  })

  describe('with a name that is not ASCII', () => {
    let value: StoredFile

    beforeEach(async () => {
      value = await attachFile(document, 'file', HELLO, { name: 'naïve café.txt' })
    })

    it('keeps the original name for clients', () => {
      expect(value.name).toBe('naïve café.txt')
    })

    it('stores under an ASCII rendering of it', () => {
      expect(value.path).toMatch(new RegExp(`^document/file/${UUID}/naive_cafe\\.txt$`))
    })
  })

  describe('with a hostile name', () => {
    it.each([
      ['parent segments', '../../etc/passwd', 'passwd', 'passwd'],
      ['Windows separators', 'C:\\Users\\x\\secret.doc', 'secret.doc', 'secret.doc'],
      ['control characters', 'a\u0000b\r\nc.txt', 'abc.txt', 'abc.txt'],
      ['a bidi override', 'evil\u202Etxt.exe', 'eviltxt.exe', 'eviltxt.exe'],
      ['only dots', '..', 'file', 'file'],
      ['quotes and percent signs', '"50%" off.txt', '"50%" off.txt', '_50___off.txt'],
    ])('with %s, keeps a safe basename and a safe key', async (_label, name, safeName, keyName) => {
      const value = await attachFile(document, 'file', HELLO, { name })
      expect({
        name: value.name,
        key: value.path?.replace(new RegExp(`^document/file/${UUID}/`), ''),
      }).toEqual({
        name: safeName,
        key: keyName,
      })
    })

    it.each(['../../etc/passwd', '/etc/passwd', 'a/../../b', '..', '.', ' . ', 'x\u0000', '\u202E'])(
      'stores %j under a key the storage accepts as it is',
      async (name) => {
        const value = await attachFile(document, 'file', HELLO, { name })
        expect(normalizeKey(value.path as string)).toBe(value.path)
      },
    )
  })

  describe('with a property that is not a file column', () => {
    const attempt = () => attachFile(document, 'slug', HELLO, { name: 'a.txt' })

    it('throws a ConfigurationError naming Entity.property', async () => {
      const error = await rejectionOf(attempt())
      expect(error).toBeInstanceOf(ConfigurationError)
      expect((error as Error).message).toContain('Document.slug')
    })

    it('writes nothing', async () => {
      await rejectionOf(attempt())
      expect(storage.calls.save).toBe(0)
    })

    it('leaves the property unchanged', async () => {
      await rejectionOf(attempt())
      expect(document.slug).toBe('a')
    })
  })

  describe('with a column whose storage is not registered', () => {
    it('throws a ConfigurationError naming the storage', async () => {
      const error = await rejectionOf(attachFile(new Archive(), 'file', HELLO))
      expect(error).toBeInstanceOf(ConfigurationError)
      expect((error as Error).message).toContain('"archives"')
    })
  })

  describe('when the source fails midway', () => {
    const failure = new Error('disk gone')
    const sources: [string, () => AttachSource][] = [
      [
        'an async generator',
        () =>
          (async function* () {
            yield Buffer.from('partial ')
            throw failure
          })(),
      ],
      [
        'a Readable',
        () =>
          new Readable({
            read() {
              this.push(Buffer.from('partial '))
              this.destroy(failure)
            },
          }),
      ],
    ]

    it.each(sources)('rejects with the source’s error for %s', async (_label, source) => {
      expect(await rejectionOf(attachFile(document, 'file', source(), { name: 'a.txt' }))).toBe(failure)
    })

    it.each(sources)('leaves the property unchanged for %s', async (_label, source) => {
      const previous = Object.assign(new StoredFile(), { path: 'old/a.txt', name: 'a.txt', size: 3 })
      document.file = previous
      await rejectionOf(attachFile(document, 'file', source(), { name: 'a.txt' }))
      expect(document.file).toBe(previous)
      expect({ ...document.file }).toEqual({ ...new StoredFile(), path: 'old/a.txt', name: 'a.txt', size: 3 })
    })
  })
})

describe('attachFile() with a long name', () => {
  let root: string

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'downloadview-attach-'))
    storages.register('default', new LocalStorage({ root }))
  })

  afterEach(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it.each([
    ['237 ASCII characters', `${'a'.repeat(233)}.pdf`],
    ['1,000 ASCII characters', `${'b'.repeat(996)}.pdf`],
    ['300 two-byte characters', `${'é'.repeat(296)}.pdf`],
  ])(
    'stores %s under a key that fits the file system, the extension kept, the name whole',
    async (_what, name) => {
      const value = await attachFile(document, 'file', HELLO, { name })
      const segment = value.path?.split('/').pop() ?? ''
      expect(Buffer.byteLength(segment)).toBeLessThanOrEqual(100)
      expect(segment.endsWith('.pdf')).toBe(true)
      expect(value.name).toBe(name)
      expect(value.size).toBe(HELLO.length)
    },
  )
})
