/**
 * @module attachFile() takes back what a storage kept of a source that failed or was destroyed
 * halfway (a client that left mid-upload): no partial file stays at the new key, whatever the
 * storage (one that writes straight to the key, as a plain file system or a naive adapter does).
 */
import { Readable } from 'node:stream'
import { Entity, PrimaryGeneratedColumn } from 'typeorm'
import { attachFile } from '../../../src/columns/attach-file'
import { FileColumn } from '../../../src/columns/file-column'
import { StoredFile } from '../../../src/columns/stored-file'
import { FileNotFoundError } from '../../../src/errors'
import { storages } from '../../../src/storage/registry'
import { toReadable } from '../../../src/storage/source'
import type { SaveSource, Storage, StorageStat } from '../../../src/storage/storage'
import { rejectionOf } from '../../helpers/streams'

@Entity()
class Upload {
  @PrimaryGeneratedColumn() id!: number
  @FileColumn() file!: StoredFile | null
}

/** A storage that writes each chunk at the key as it arrives: a failed source leaves a partial file. */
class WriteThroughStorage implements Storage {
  readonly name = 'WriteThroughStorage'
  readonly files = new Map<string, Buffer>()
  deletes = 0

  async save(key: string, source: SaveSource): Promise<StorageStat> {
    this.files.set(key, Buffer.alloc(0))
    for await (const chunk of toReadable(source)) {
      this.files.set(key, Buffer.concat([this.files.get(key) ?? Buffer.alloc(0), chunk as Buffer]))
    }
    return this.stat(key)
  }

  async stat(key: string): Promise<StorageStat> {
    const bytes = this.files.get(key)
    if (!bytes) throw new FileNotFoundError(`No file at "${key}" in ${this.name}`)
    return { size: bytes.length, modifiedAt: new Date() }
  }

  async exists(key: string): Promise<boolean> {
    return this.files.has(key)
  }

  async open(key: string): Promise<Readable> {
    return Readable.from([this.files.get(key) ?? Buffer.alloc(0)])
  }

  async delete(key: string): Promise<void> {
    this.deletes++
    this.files.delete(key)
  }
}

let storage: WriteThroughStorage
let upload: Upload

beforeEach(() => {
  storage = new WriteThroughStorage()
  storages.register('default', storage)
  upload = new Upload()
  upload.file = null
})

afterEach(() => {
  storages.clear()
})

describe('attachFile() when its source fails halfway', () => {
  const failure = new Error('the client left')

  it('rejects with the source’s error and deletes the partial file', async () => {
    const source = (async function* () {
      yield Buffer.from('the first half, ')
      throw failure
    })()
    expect(await rejectionOf(attachFile(upload, 'file', source, { name: 'a.txt' }))).toBe(failure)
    expect([...storage.files.keys()]).toEqual([])
    expect(storage.deletes).toBe(1)
    expect(upload.file).toBeNull()
  })

  it('deletes the partial file of a stream destroyed without an error', async () => {
    const stream = new Readable({ read() {} })
    stream.push(Buffer.from('the first half, '))
    const attaching = attachFile(upload, 'file', stream, { name: 'a.txt' })
    setTimeout(() => stream.destroy(), 10)
    const error = await rejectionOf(attaching)
    expect((error as NodeJS.ErrnoException).code).toBe('ERR_STREAM_PREMATURE_CLOSE')
    expect([...storage.files.keys()]).toEqual([])
  })

  it('keeps the file of a source that ends well, and deletes nothing', async () => {
    const value = await attachFile(upload, 'file', Readable.from([Buffer.from('whole')]), { name: 'a.txt' })
    expect(storage.files.get(value.path as string)).toEqual(Buffer.from('whole'))
    expect(storage.deletes).toBe(0)
  })

  it('leaves a file that was there before in the column as it was', async () => {
    const previous = Object.assign(new StoredFile(), { path: 'old/a.txt' })
    storage.files.set('old/a.txt', Buffer.from('old'))
    upload.file = previous
    const source = (async function* () {
      yield Buffer.from('new')
      throw failure
    })()
    await rejectionOf(attachFile(upload, 'file', source, { name: 'a.txt' }))
    expect(upload.file).toBe(previous)
    expect([...storage.files.keys()]).toEqual(['old/a.txt'])
  })
})
