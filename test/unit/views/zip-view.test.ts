/** @module ZipDownloadView: its options (each wrong one a ConfigurationError that names it), and archives of `entries`. */
import type { IncomingMessage } from 'node:http'
import { DataSource } from 'typeorm'
import { Document } from '../../../entities/Document'
import { ConfigurationError, FileNotFoundError, MissingChecksumError } from '../../../src/errors'
import { xAccelRedirect } from '../../../src/handoff/nginx'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { storages } from '../../../src/storage/registry'
import type { DownloadRequest } from '../../../src/views/download-view'
import { ZipDownloadView, type ZipDownloadViewOptions } from '../../../src/views/zip-view'
import { ZipFile } from '../../../src/zip/zip-file'
import { readAll, rejectionOf } from '../../helpers/streams'

// Never initialized: the options are checked against the entity's decorators, not the database.
const dataSource = new DataSource({ type: 'postgres', entities: [Document] })
const rows = { dataSource, entity: Document } as const

const request = (url = '/', params: DownloadRequest['params'] = {}): DownloadRequest => ({
  req: { method: 'GET', url, headers: {} } as IncomingMessage,
  params,
})

/** The ConfigurationError message of building a view with `options`. */
function refusal(options: ZipDownloadViewOptions<Document>): string {
  try {
    new ZipDownloadView(options)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError)
    return (error as Error).message
  }
  throw new Error('the options were accepted')
}

describe('ZipDownloadView options', () => {
  it('takes one row by route parameter', () => {
    expect(
      () => new ZipDownloadView({ ...rows, lookup: 'slug', files: ['file', 'anotherFile'] }),
    ).not.toThrow()
  })

  it('takes the rows a query parameter lists, with one file column named as a string', () => {
    expect(
      () => new ZipDownloadView({ ...rows, lookup: { query: 'slug' }, files: 'file', maxRows: 5 }),
    ).not.toThrow()
  })

  it.each<[string, ZipDownloadViewOptions<Document>, RegExp]>([
    ['an unknown option', { ...rows, files: 'file', lookUp: 'slug' } as never, /unknown option "lookUp"/],
    ['no rows and no entries', {}, /"dataSource", "entity" and "files".*"entries"/],
    ['no files', { ...rows }, /option "files"/],
    ['an empty list of files', { ...rows, files: [] }, /option "files"/],
    ['a property that is no file column', { ...rows, files: ['slug'] }, /option "files" names "slug"/],
    ['a file column twice', { ...rows, files: ['file', 'file'] }, /option "files" names a property twice/],
    [
      'a lookup column the entity lacks',
      { ...rows, files: 'file', lookup: { query: 'code' } },
      /option "lookup"/,
    ],
    [
      'a query lookup that is not a name',
      { ...rows, files: 'file', lookup: { query: '' } },
      /option "lookup"/,
    ],
    [
      'maxRows without a query lookup',
      { ...rows, files: 'file', lookup: 'slug', maxRows: 5 },
      /option "maxRows"/,
    ],
    ['maxRows of 0', { ...rows, files: 'file', lookup: { query: 'slug' }, maxRows: 0 }, /option "maxRows"/],
    [
      'a negative maxChecksumBytes',
      { ...rows, files: 'file', maxChecksumBytes: -1 },
      /option "maxChecksumBytes"/,
    ],
    ['an empty name', { ...rows, files: 'file', name: '' }, /option "name"/],
    ['entries that are not a function', { entries: [] as never }, /option "entries"/],
    ['entries with rows', { ...rows, entries: () => [] }, /option "dataSource" is for rows/],
    [
      'a handoff',
      {
        ...rows,
        files: 'file',
        handoff: xAccelRedirect({ rules: [{ storage: 'default', location: '/protected/' }] }),
      } as never,
      /option "handoff"/,
    ],
    ['a bad respond option', { ...rows, files: 'file', maxRanges: 0 }, /option "maxRanges"/],
  ])('refuses %s, naming the option', (_label, options, message) => {
    expect(refusal(options)).toMatch(message)
  })
})

describe('ZipDownloadView with option entries', () => {
  let storage: MemoryStorage

  beforeEach(async () => {
    storage = new MemoryStorage({ name: 'zip-unit' })
    await storage.save('a.txt', 'alpha\n')
    await storage.save('dir/b.txt', 'beta\n')
    storages.register('zip-unit', storage)
  })

  afterEach(() => storages.clear('zip-unit'))

  const entries = () => [
    { storage: 'zip-unit', key: 'a.txt' },
    { storage, key: 'dir/b.txt', name: 'folder/b.txt' },
  ]

  it('makes a ZipFile of the keys, their sizes from the storage, named by key or by name', async () => {
    const file = await new ZipDownloadView({ entries }).getFile(request())
    expect(file).toBeInstanceOf(ZipFile)
    expect((file as ZipFile).layout.members.map((member) => [member.name, member.size])).toEqual([
      ['a.txt', 6],
      ['folder/b.txt', 5],
    ])
  })

  it('names the archive download.zip by default', async () => {
    expect((await new ZipDownloadView({ entries }).getFile(request())).name).toBe('download.zip')
  })

  it('names the archive with option name, a string or a function of the request', async () => {
    expect((await new ZipDownloadView({ entries, name: 'all.zip' }).getFile(request())).name).toBe('all.zip')
    const named = new ZipDownloadView({ entries, name: ({ req }) => `${req.url?.slice(1)}.zip` })
    expect((await named.getFile(request('/q3'))).name).toBe('q3.zip')
  })

  it('computes the CRC-32s the entries lack, within maxChecksumBytes (64 MiB by default)', async () => {
    const file = await new ZipDownloadView({ entries }).getFile(request())
    expect((await readAll(await file.open())).length).toBe(file.size)
  })

  it('refuses to compute them with maxChecksumBytes 0: a MissingChecksumError (500)', async () => {
    const view = new ZipDownloadView({ entries, maxChecksumBytes: 0 })
    expect(await rejectionOf(view.getFile(request()))).toBeInstanceOf(MissingChecksumError)
  })

  it('answers 404 for no entries', async () => {
    const view = new ZipDownloadView({ entries: () => [] })
    expect(await rejectionOf(view.getFile(request()))).toBeInstanceOf(FileNotFoundError)
  })

  it('answers 404 for a key with no file', async () => {
    const view = new ZipDownloadView({ entries: () => [{ storage, key: 'nothing.txt' }] })
    expect(await rejectionOf(view.getFile(request()))).toBeInstanceOf(FileNotFoundError)
  })

  it('refuses an entry without a key', async () => {
    const view = new ZipDownloadView({ entries: () => [{ storage } as never] })
    expect(String(await rejectionOf(view.getFile(request())))).toMatch(/has no "key"/)
  })

  it('refuses a CRC-32 that is not an unsigned 32-bit integer', async () => {
    const view = new ZipDownloadView({ entries: () => [{ storage, key: 'a.txt', crc32: -1 }] })
    expect(String(await rejectionOf(view.getFile(request())))).toMatch(/"crc32"/)
  })
})
