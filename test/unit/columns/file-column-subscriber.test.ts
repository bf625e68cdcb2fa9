/** @module fillFileColumns() and FileColumnSubscriber: file column metadata filled from the storage on save. */
import { createHash } from 'node:crypto'
import type { InsertEvent, ObjectLiteral, UpdateEvent } from 'typeorm'
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm'
import { attachFile } from '../../../src/columns/attach-file'
import { FileColumn } from '../../../src/columns/file-column'
import { FileColumnSubscriber, fillFileColumns } from '../../../src/columns/file-column-subscriber'
import { StoredFile } from '../../../src/columns/stored-file'
import { BadPathError, ConfigurationError, FileColumnError, UnsafePathError } from '../../../src/errors'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { storages } from '../../../src/storage/registry'
import { crc32 } from '../../../src/zip/crc32'
import { CountingStorage } from '../../helpers/storage'
import { rejectionOf } from '../../helpers/streams'

@Entity()
class Document {
  @PrimaryGeneratedColumn() id!: number
  @Column({ type: 'text' }) slug!: string
  @FileColumn() file!: StoredFile | null
}

@Entity()
class Archive {
  @PrimaryGeneratedColumn() id!: number
  @FileColumn({ storage: 'archives' }) file!: StoredFile | null
}

const sha256 = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex')

/** A StoredFile with the given fields, the rest null. */
const stored = (fields: Partial<StoredFile>) => Object.assign(new StoredFile(), fields)

/** A Document whose file column holds `fields`. */
function documentWith(fields: Partial<StoredFile> | null): Document {
  const document = new Document()
  document.slug = 'a'
  document.file = fields === null ? null : stored(fields)
  return document
}

const REPORT = Buffer.from('%PDF-1.4 pretend report')
const NOTES = Buffer.from('plain notes\n')

let memory: MemoryStorage
let storage: CountingStorage

beforeEach(async () => {
  memory = new MemoryStorage({ name: 'TestMemory' })
  await memory.save('docs/report.pdf', REPORT)
  await memory.save('docs/notes.txt', NOTES)
  await memory.save('docs/blob', Buffer.from([0, 1, 2, 3]))
  storage = new CountingStorage(memory)
  storages.register('default', storage)
})

afterEach(() => {
  storages.clear()
})

describe('fillFileColumns()', () => {
  describe('on insert, with only a path', () => {
    let document: Document

    beforeEach(async () => {
      document = documentWith({ path: 'docs/report.pdf' })
      await fillFileColumns(document, undefined)
    })

    it('fills the size from the storage', () => {
      expect(document.file?.size).toBe(REPORT.length)
    })

    it('fills the modification time from the storage', async () => {
      const { modifiedAt } = await memory.stat('docs/report.pdf')
      expect(document.file?.modifiedAt?.getTime()).toBe(modifiedAt.getTime())
    })

    it('fills the SHA-256 of the stored bytes', () => {
      expect(document.file?.sha256).toBe(sha256(REPORT))
    })

    it('takes the name from the basename of the path', () => {
      expect(document.file?.name).toBe('report.pdf')
    })

    it('derives the content type from the name', () => {
      expect(document.file?.contentType).toBe('application/pdf')
    })

    it('keeps the path', () => {
      expect(document.file?.path).toBe('docs/report.pdf')
    })
  })

  describe('on insert, with a name given', () => {
    it('keeps the name', async () => {
      const document = documentWith({ path: 'docs/blob', name: 'Quarterly report.pdf' })
      await fillFileColumns(document, undefined)
      expect(document.file?.name).toBe('Quarterly report.pdf')
    })

    it('derives the content type from that name, not from the key', async () => {
      const document = documentWith({ path: 'docs/blob', name: 'Quarterly report.pdf' })
      await fillFileColumns(document, undefined)
      expect(document.file?.contentType).toBe('application/pdf')
    })
  })

  describe('on insert, with a name of unknown type', () => {
    it('falls back to application/octet-stream', async () => {
      const document = documentWith({ path: 'docs/blob' })
      await fillFileColumns(document, undefined)
      expect(document.file?.contentType).toBe('application/octet-stream')
    })
  })

  describe('on insert, with an explicit content type', () => {
    it('keeps it rather than deriving one from the name', async () => {
      const document = documentWith({ path: 'docs/report.pdf', contentType: 'application/x-custom' })
      await fillFileColumns(document, undefined)
      expect(document.file?.contentType).toBe('application/x-custom')
    })
  })

  describe('on insert, with metadata already complete', () => {
    it('still reads the file, since nothing vouches for the metadata', async () => {
      const document = documentWith({
        path: 'docs/report.pdf',
        name: 'report.pdf',
        size: 1,
        modifiedAt: new Date(0),
        sha256: 'f'.repeat(64),
        contentType: 'application/pdf',
      })
      await fillFileColumns(document, undefined)
      expect(document.file?.size).toBe(REPORT.length)
    })
  })

  describe('on update, when the path is unchanged and the metadata complete', () => {
    const complete = () => ({
      path: 'docs/report.pdf',
      name: 'report.pdf',
      size: 1,
      modifiedAt: new Date(0),
      sha256: 'f'.repeat(64),
      crc32: 1,
      contentType: 'application/pdf',
    })

    it('reads nothing from the storage', async () => {
      await fillFileColumns(documentWith(complete()), documentWith(complete()))
      expect(storage.calls).toMatchObject({ stat: 0, open: 0 })
    })

    it('leaves the metadata as it is', async () => {
      const document = documentWith(complete())
      await fillFileColumns(document, documentWith(complete()))
      expect(document.file).toEqual(stored(complete()))
    })
  })

  describe('on update, when the path is unchanged but the metadata incomplete', () => {
    let document: Document

    beforeEach(async () => {
      const previous = documentWith({
        path: 'docs/report.pdf',
        name: 'report.pdf',
        contentType: 'text/x-mine',
      })
      document = documentWith({ path: 'docs/report.pdf', name: 'report.pdf', contentType: 'text/x-mine' })
      await fillFileColumns(document, previous)
    })

    it('fills the size, modification time and checksums', () => {
      expect(document.file).toMatchObject({
        size: REPORT.length,
        sha256: sha256(REPORT),
        crc32: crc32(Buffer.from(REPORT)),
      })
      expect(document.file?.modifiedAt).toBeInstanceOf(Date)
    })

    it('keeps the name and content type it already had', () => {
      expect(document.file).toMatchObject({ name: 'report.pdf', contentType: 'text/x-mine' })
    })

    it.each(['size', 'modifiedAt', 'sha256', 'crc32', 'contentType'] as const)(
      'reads the file when only %s is missing',
      async (missing) => {
        const complete = {
          path: 'docs/report.pdf',
          name: 'report.pdf',
          size: 1,
          modifiedAt: new Date(0),
          sha256: 'f'.repeat(64),
          crc32: 1,
          contentType: 'application/pdf',
        }
        const incomplete = documentWith({ ...complete, [missing]: null })
        await fillFileColumns(incomplete, documentWith(complete))
        expect(incomplete.file).toMatchObject({
          size: REPORT.length,
          sha256: sha256(REPORT),
          crc32: crc32(Buffer.from(REPORT)),
        })
      },
    )
  })

  describe('on update, when the path changed', () => {
    const previousFile = () => ({
      path: 'docs/report.pdf',
      name: 'report.pdf',
      size: REPORT.length,
      modifiedAt: new Date(0),
      sha256: sha256(REPORT),
      contentType: 'application/pdf',
    })

    it('recomputes size and checksum for the new file', async () => {
      const document = documentWith({ ...previousFile(), path: 'docs/notes.txt' })
      await fillFileColumns(document, documentWith(previousFile()))
      expect(document.file).toMatchObject({ size: NOTES.length, sha256: sha256(NOTES) })
    })

    it('replaces the modification time carried over from the previous file', async () => {
      const document = documentWith({ ...previousFile(), path: 'docs/notes.txt' })
      await fillFileColumns(document, documentWith(previousFile()))
      expect(document.file?.modifiedAt?.getTime()).toBe(
        (await memory.stat('docs/notes.txt')).modifiedAt.getTime(),
      )
    })

    it('replaces the name carried over from the previous file', async () => {
      const document = documentWith({ ...previousFile(), path: 'docs/notes.txt' })
      await fillFileColumns(document, documentWith(previousFile()))
      expect(document.file?.name).toBe('notes.txt')
    })

    it('replaces the content type carried over from the previous file', async () => {
      const document = documentWith({ ...previousFile(), path: 'docs/notes.txt' })
      await fillFileColumns(document, documentWith(previousFile()))
      expect(document.file?.contentType).toBe('text/plain')
    })

    it('keeps a name that was changed along with the path', async () => {
      const document = documentWith({ ...previousFile(), path: 'docs/blob', name: 'minutes.txt' })
      await fillFileColumns(document, documentWith(previousFile()))
      expect(document.file).toMatchObject({ name: 'minutes.txt', contentType: 'text/plain' })
    })

    it('keeps a content type that was changed along with the path', async () => {
      const document = documentWith({
        ...previousFile(),
        path: 'docs/notes.txt',
        contentType: 'text/markdown',
      })
      await fillFileColumns(document, documentWith(previousFile()))
      expect(document.file?.contentType).toBe('text/markdown')
    })

    it('reads the new file even when the previous row had no file', async () => {
      const document = documentWith({ path: 'docs/notes.txt' })
      await fillFileColumns(document, documentWith(null))
      expect(document.file?.sha256).toBe(sha256(NOTES))
    })
  })

  describe('when there is no file at the path', () => {
    const attempt = () => fillFileColumns(documentWith({ path: 'docs/missing.pdf' }), undefined)

    it('throws a FileColumnError', async () => {
      expect(await rejectionOf(attempt())).toBeInstanceOf(FileColumnError)
    })

    it('names Entity.property, the path and the storage', async () => {
      const error = (await rejectionOf(attempt())) as Error
      expect(error.message).toBe(
        'Cannot save Document.file: there is no file at "docs/missing.pdf" in Counting(TestMemory)',
      )
    })

    it('keeps the storage’s error as the cause', async () => {
      const error = (await rejectionOf(attempt())) as Error
      expect((error.cause as Error).name).toBe('FileNotFoundError')
    })

    it('fills no metadata', async () => {
      const document = documentWith({ path: 'docs/missing.pdf' })
      await rejectionOf(fillFileColumns(document, undefined))
      expect(document.file).toMatchObject({ size: null, sha256: null, name: null, contentType: null })
    })
  })

  describe('when the path escapes the storage', () => {
    it('throws a FileColumnError naming the property, caused by the UnsafePathError', async () => {
      const error = await rejectionOf(fillFileColumns(documentWith({ path: '../x' }), undefined))
      expect(error).toBeInstanceOf(FileColumnError)
      expect((error as Error).message).toMatch(/\.file: "\.\.\/x" is not a safe key/)
      expect((error as Error).cause).toBeInstanceOf(UnsafePathError)
    })

    it('fills no metadata', async () => {
      const document = documentWith({ path: '../x' })
      await rejectionOf(fillFileColumns(document, undefined))
      expect(document.file).toMatchObject({ size: null, sha256: null, name: null })
    })
  })

  describe('when the path holds a NUL byte', () => {
    it('throws a FileColumnError caused by the BadPathError', async () => {
      const error = await rejectionOf(fillFileColumns(documentWith({ path: 'a\u0000.txt' }), undefined))
      expect(error).toBeInstanceOf(FileColumnError)
      expect((error as Error).cause).toBeInstanceOf(BadPathError)
    })
  })

  describe('when the column’s storage is not registered', () => {
    it('throws a ConfigurationError naming the storage', async () => {
      const archive = new Archive()
      archive.file = stored({ path: 'docs/report.pdf' })
      const error = await rejectionOf(fillFileColumns(archive, undefined))
      expect(error).toBeInstanceOf(ConfigurationError)
      expect((error as Error).message).toContain('"archives"')
    })
  })

  describe('when the column is empty', () => {
    it.each([
      ['null', null],
      ['a null path', { path: null }],
      ['an empty path', { path: '' }],
    ])('skips %s without touching the storage', async (_label, fields) => {
      const document = documentWith(fields)
      await fillFileColumns(document, undefined)
      expect(storage.calls).toMatchObject({ stat: 0, open: 0 })
    })

    it('leaves an empty value empty', async () => {
      const document = documentWith({ path: '' })
      await fillFileColumns(document, undefined)
      expect(document.file).toEqual(stored({ path: '' }))
    })

    it('does not need the storage to be registered', async () => {
      storages.clear()
      await expect(fillFileColumns(documentWith(null), undefined)).resolves.toBeUndefined()
    })
  })

  describe('when given no entity', () => {
    it('does nothing', async () => {
      await expect(fillFileColumns(undefined, undefined)).resolves.toBeUndefined()
    })
  })

  describe('for an entity without file columns', () => {
    it('leaves it untouched', async () => {
      const plain = { file: stored({ path: 'docs/report.pdf' }) }
      await fillFileColumns(plain, undefined)
      expect(plain.file.size).toBeNull()
    })
  })

  describe('when attachFile() set the value', () => {
    let document: Document

    beforeEach(async () => {
      document = documentWith(null)
      await attachFile(document, 'file', Buffer.from('attached'), { name: 'a.txt' })
      storage.reset()
    })

    it('does not read the file again on insert', async () => {
      await fillFileColumns(document, undefined)
      expect(storage.calls).toMatchObject({ stat: 0, open: 0 })
    })

    it('does not read the file again on update', async () => {
      await fillFileColumns(document, documentWith({ path: 'docs/report.pdf', name: 'report.pdf' }))
      expect(storage.calls).toMatchObject({ stat: 0, open: 0 })
    })

    it('keeps the metadata attachFile() computed', async () => {
      const before = { ...document.file }
      await fillFileColumns(document, undefined)
      expect({ ...document.file }).toEqual(before)
    })

    it('reads the file once the path is changed afterwards', async () => {
      const value = document.file as StoredFile
      value.path = 'docs/notes.txt'
      await fillFileColumns(document, undefined)
      expect(value.sha256).toBe(sha256(NOTES))
    })
  })
})

describe('FileColumnSubscriber', () => {
  const subscriber = new FileColumnSubscriber()
  /** The part of an InsertEvent the subscriber reads. */
  const insertEvent = (entity: ObjectLiteral) => ({ entity }) as unknown as InsertEvent<ObjectLiteral>

  describe('afterLoad()', () => {
    it('sets a file column without a file to null', () => {
      const document = documentWith({ path: null })
      subscriber.afterLoad(document)
      expect(document.file).toBeNull()
    })

    it('keeps a file column that points at a file', () => {
      const document = documentWith({ path: 'docs/notes.txt' })
      subscriber.afterLoad(document)
      expect(document.file?.path).toBe('docs/notes.txt')
    })
  })

  describe('beforeInsert()', () => {
    it('fills the file columns of event.entity', async () => {
      const document = documentWith({ path: 'docs/notes.txt' })
      await subscriber.beforeInsert(insertEvent(document))
      expect(document.file?.sha256).toBe(sha256(NOTES))
    })

    it('refuses a row whose file is missing', async () => {
      const event = insertEvent(documentWith({ path: 'docs/missing.pdf' }))
      expect(await rejectionOf(subscriber.beforeInsert(event))).toBeInstanceOf(FileColumnError)
    })
  })

  describe('beforeUpdate()', () => {
    it('fills the file columns of event.entity when the path changed from event.databaseEntity', async () => {
      const document = documentWith({ path: 'docs/notes.txt', name: 'report.pdf' })
      const event = {
        entity: document,
        databaseEntity: documentWith({ path: 'docs/report.pdf', name: 'report.pdf' }),
      } as unknown as UpdateEvent<ObjectLiteral>
      await subscriber.beforeUpdate(event)
      expect(document.file).toMatchObject({ name: 'notes.txt', sha256: sha256(NOTES) })
    })

    it('compares with event.databaseEntity, so an unchanged complete file is not read', async () => {
      const complete = {
        path: 'docs/report.pdf',
        name: 'report.pdf',
        size: REPORT.length,
        modifiedAt: new Date(0),
        sha256: sha256(REPORT),
        crc32: crc32(Buffer.from(REPORT)),
        contentType: 'application/pdf',
      }
      const event = {
        entity: documentWith(complete),
        databaseEntity: documentWith(complete),
      } as unknown as UpdateEvent<ObjectLiteral>
      await subscriber.beforeUpdate(event)
      expect(storage.calls).toMatchObject({ stat: 0, open: 0 })
    })

    it('does nothing when the event has no entity', async () => {
      const event = {
        entity: undefined,
        databaseEntity: documentWith(null),
      } as unknown as UpdateEvent<ObjectLiteral>
      await expect(subscriber.beforeUpdate(event)).resolves.toBeUndefined()
    })
  })
})
