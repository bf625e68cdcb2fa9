/** @FileColumn on real Postgres: real columns, the save hook, attachFile(), and the migration. */
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import type { DataSource, Repository } from 'typeorm'
import { Document } from '../../entities/Document'
import { attachFile, FileColumnError, hasFile, StoredFile, storages } from '../../src'
import type { LocalStorage } from '../../src/storage/local-storage'
import { createTestDataSource, resetDatabase } from '../helpers/database'
import { temporaryStorage } from '../helpers/storage'

let dataSource: DataSource
let documents: Repository<Document>
let storage: LocalStorage
let root: string
let removeMedia: () => Promise<void>

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex')
const withPath = (key: string) => Object.assign(new StoredFile(), { path: key })

beforeAll(async () => {
  const media = await temporaryStorage()
  ;({ storage, root } = media)
  removeMedia = media.remove
  storages.register('default', storage)
  dataSource = await createTestDataSource()
  documents = dataSource.getRepository(Document)
})

beforeEach(async () => {
  await resetDatabase(dataSource)
})

afterAll(async () => {
  await dataSource.destroy()
  await removeMedia()
  storages.clear()
})

describe('the migration', () => {
  it('creates exactly the schema the entities describe', async () => {
    const pending = await dataSource.driver.createSchemaBuilder().log()
    expect(pending.upQueries.map((query) => query.query)).toEqual([])
  })

  it('stores each file field in its own typed column', async () => {
    const columns: { column_name: string; data_type: string }[] = await dataSource.query(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'document' AND column_name LIKE 'file_%' ORDER BY column_name`,
    )
    expect(Object.fromEntries(columns.map((column) => [column.column_name, column.data_type]))).toEqual({
      file_content_type: 'text',
      file_modified_at: 'timestamp with time zone',
      file_name: 'text',
      file_path: 'text',
      file_sha256: 'character',
      file_size: 'bigint',
      file_crc32: 'bigint',
    })
  })
})

describe('saving a row with a file path', () => {
  it('fills size, content type, modification time, checksums and name from the storage', async () => {
    const stat = await storage.save('docs/report.pdf', Buffer.from('%PDF-1.4 pretend'))
    const saved = await documents.save(documents.create({ slug: 'a', file: withPath('docs/report.pdf') }))
    const row = await documents.findOneByOrFail({ id: saved.id })
    expect(row.file).toMatchObject({
      path: 'docs/report.pdf',
      name: 'report.pdf',
      size: 16,
      contentType: 'application/pdf',
      sha256: sha256('%PDF-1.4 pretend'),
      // zlib.crc32(b'%PDF-1.4 pretend'), read back from the bigint as a number
      crc32: 516745221,
    })
    expect(row.file?.modifiedAt?.getTime()).toBe(stat.modifiedAt.getTime())
  })

  it('reads the size back as a number, not a string', async () => {
    await storage.save('n.txt', '12345')
    await documents.save(documents.create({ slug: 'n', file: withPath('n.txt') }))
    const row = await documents.findOneByOrFail({ slug: 'n' })
    expect(row.file?.size).toBe(5)
  })

  it('keeps an explicit content type', async () => {
    await storage.save('data.bin', 'x')
    const file = Object.assign(withPath('data.bin'), { contentType: 'application/x-custom' })
    await documents.save(documents.create({ slug: 'c', file }))
    expect((await documents.findOneByOrFail({ slug: 'c' })).file?.contentType).toBe('application/x-custom')
  })

  it('refuses a row whose file does not exist, and writes nothing', async () => {
    await expect(
      documents.save(documents.create({ slug: 'gone', file: withPath('nowhere.txt') })),
    ).rejects.toThrow(FileColumnError)
    await expect(
      documents.save(documents.create({ slug: 'gone', file: withPath('nowhere.txt') })),
    ).rejects.toThrow(/Document\.file: there is no file at "nowhere\.txt"/)
    expect(await documents.countBy({ slug: 'gone' })).toBe(0)
  })

  it('refuses a path that escapes the storage, and writes nothing', async () => {
    await expect(
      documents.save(documents.create({ slug: 'evil', file: withPath('../../etc/passwd') })),
    ).rejects.toThrow()
    expect(await documents.countBy({ slug: 'evil' })).toBe(0)
  })

  it('leaves an empty column empty, and loads it as null', async () => {
    await documents.save(documents.create({ slug: 'empty', file: null }))
    const [row] = await dataSource.query(`SELECT file_path, file_size FROM document WHERE slug = 'empty'`)
    expect(row).toEqual({ file_path: null, file_size: null })
    const loaded = await documents.findOneByOrFail({ slug: 'empty' })
    expect(loaded.file).toBeNull()
    expect(loaded.anotherFile).toBeNull()
  })

  it('leaves null in a property that was not given, once saved', async () => {
    const document = documents.create({ slug: 'none' })
    await documents.save(document)
    expect(document.file).toBeNull()
    expect(hasFile(document.file)).toBe(false)
  })
})

describe('clearing a file column', () => {
  /** The file columns of the document `slug`, as Postgres holds them. */
  async function fileColumns(slug: string): Promise<Record<string, unknown>> {
    const rows: Record<string, unknown>[] = await dataSource.query(
      `SELECT file_path, file_name, file_size, file_content_type, file_modified_at, file_sha256, file_crc32
         FROM document WHERE slug = $1`,
      [slug],
    )
    return rows[0] as Record<string, unknown>
  }

  beforeEach(async () => {
    await storage.save('clear/one.txt', 'one')
    await storage.save('clear/two.txt', 'two')
    await documents.save(
      documents.create({
        slug: 'c',
        file: withPath('clear/one.txt'),
        anotherFile: withPath('clear/two.txt'),
      }),
    )
  })

  it('writes NULL into every column of the file when the property is set to null', async () => {
    expect((await fileColumns('c')).file_sha256).toBe(sha256('one'))
    const document = await documents.findOneByOrFail({ slug: 'c' })
    document.file = null
    await documents.save(document)
    expect(await fileColumns('c')).toEqual({
      file_path: null,
      file_name: null,
      file_size: null,
      file_content_type: null,
      file_modified_at: null,
      file_sha256: null,
      file_crc32: null,
    })
  })

  it('leaves the property null after the save and loads it as null', async () => {
    const document = await documents.findOneByOrFail({ slug: 'c' })
    document.file = null
    await documents.save(document)
    expect(document.file).toBeNull()
    const loaded = await documents.findOneByOrFail({ slug: 'c' })
    expect(loaded.file).toBeNull()
    expect(hasFile(loaded.file)).toBe(false)
  })

  it('keeps the row’s other file column', async () => {
    const document = await documents.findOneByOrFail({ slug: 'c' })
    document.file = null
    await documents.save(document)
    expect((await documents.findOneByOrFail({ slug: 'c' })).anotherFile?.path).toBe('clear/two.txt')
  })

  it('deletes the cleared file from the storage (onReplace defaults to "delete")', async () => {
    const document = await documents.findOneByOrFail({ slug: 'c' })
    document.file = null
    await documents.save(document)
    expect(await storage.exists('clear/one.txt')).toBe(false)
    expect(await storage.exists('clear/two.txt')).toBe(true)
  })
})

describe('updating a row', () => {
  it('recomputes the metadata when the path changes', async () => {
    await storage.save('one.txt', 'one')
    await storage.save('two.json', '{"two":2}')
    const row = await documents.save(documents.create({ slug: 'u', file: withPath('one.txt') }))
    const loaded = await documents.findOneByOrFail({ id: row.id })
    loaded.file = withPath('two.json')
    await documents.save(loaded)
    expect((await documents.findOneByOrFail({ id: row.id })).file).toMatchObject({
      path: 'two.json',
      name: 'two.json',
      size: 9,
      contentType: 'application/json',
      sha256: sha256('{"two":2}'),
    })
  })

  it('recomputes the name and type when only the path is changed on the loaded value', async () => {
    await storage.save('one.txt', 'one')
    await storage.save('two.png', 'png')
    const row = await documents.save(documents.create({ slug: 'p', file: withPath('one.txt') }))
    const loaded = await documents.findOneByOrFail({ id: row.id })
    if (loaded.file) loaded.file.path = 'two.png'
    await documents.save(loaded)
    expect((await documents.findOneByOrFail({ id: row.id })).file).toMatchObject({
      name: 'two.png',
      contentType: 'image/png',
    })
  })

  it('does not read the file again when the path is unchanged', async () => {
    await storage.save('same.txt', 'same')
    const row = await documents.save(documents.create({ slug: 's', file: withPath('same.txt') }))
    // Change the bytes behind the row's back: an unchanged path must not trigger a re-read.
    await writeFile(path.join(root, 'same.txt'), 'different')
    const loaded = await documents.findOneByOrFail({ id: row.id })
    loaded.title = 'renamed'
    await documents.save(loaded)
    expect((await documents.findOneByOrFail({ id: row.id })).file?.sha256).toBe(sha256('same'))
  })

  it('refuses a new path with no file and keeps the old row', async () => {
    await storage.save('keep.txt', 'keep')
    const row = await documents.save(documents.create({ slug: 'k', file: withPath('keep.txt') }))
    const loaded = await documents.findOneByOrFail({ id: row.id })
    loaded.file = withPath('missing.txt')
    await expect(documents.save(loaded)).rejects.toThrow(FileColumnError)
    expect((await documents.findOneByOrFail({ id: row.id })).file?.path).toBe('keep.txt')
  })
})

describe('attachFile()', () => {
  it('writes a Buffer under a generated key and fills every field', async () => {
    const document = documents.create({ slug: 'b' })
    const stored = await attachFile(document, 'file', Buffer.from('buffer bytes'), { name: 'notes.txt' })
    expect(stored.path).toMatch(/^document\/file\/[0-9a-f-]{36}\/notes\.txt$/)
    await documents.save(document)
    const row = await documents.findOneByOrFail({ slug: 'b' })
    expect(row.file).toMatchObject({
      name: 'notes.txt',
      size: 12,
      contentType: 'text/plain',
      sha256: sha256('buffer bytes'),
    })
    const chunks: Buffer[] = []
    for await (const chunk of await storage.open(row.file?.path as string)) chunks.push(chunk as Buffer)
    expect(Buffer.concat(chunks).toString()).toBe('buffer bytes')
  })

  it('writes a stream', async () => {
    const document = documents.create({ slug: 's' })
    await attachFile(document, 'anotherFile', Readable.from([Buffer.from('a'), Buffer.from('b')]), {
      name: 'ab.bin',
    })
    await documents.save(document)
    const row = await documents.findOneByOrFail({ slug: 's' })
    expect(row.anotherFile).toMatchObject({
      size: 2,
      sha256: sha256('ab'),
      contentType: 'application/octet-stream',
    })
    expect(row.anotherFile?.path).toMatch(/^document\/another_file\//)
  })

  it('copies a local file and takes its name', async () => {
    const source = path.join(root, '..', `attach-source-${process.pid}.csv`)
    await writeFile(source, 'a,b\n1,2\n')
    const document = documents.create({ slug: 'l' })
    await attachFile(document, 'file', { path: source })
    await documents.save(document)
    expect((await documents.findOneByOrFail({ slug: 'l' })).file).toMatchObject({
      name: path.basename(source),
      contentType: 'text/csv',
      size: 8,
    })
  })

  it('keeps a non-ASCII name for the client and an ASCII key in storage', async () => {
    const document = documents.create({ slug: 'u' })
    const stored = await attachFile(document, 'file', Buffer.from('x'), { name: '../résumé "final".txt' })
    expect(stored.name).toBe('résumé "final".txt')
    expect(stored.path).toMatch(/^document\/file\/[0-9a-f-]{36}\/[\w.-]+$/)
  })

  it('throws a ConfigurationError for a property that is not a file column', async () => {
    const document = documents.create({ slug: 'x' })
    await expect(attachFile(document, 'title', Buffer.from('x'))).rejects.toThrow(
      /Document\.title is not a @FileColumn/,
    )
  })
})
