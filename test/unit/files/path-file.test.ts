/** @module PathFile: a local file described by one stat, opened whole or by range. */
import { mkdir, mkdtemp, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { BadPathError, FileNotFoundError } from '../../../src/errors'
import { PathFile } from '../../../src/files/path-file'
import { readAll, rejectionOf } from '../../helpers/streams'

const FIXTURES = path.resolve(__dirname, '../../fixtures')
const NUMS = path.join(FIXTURES, 'nums.txt')

let folder: string

beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'downloadview-path-file-'))
  await writeFile(path.join(folder, 'nums.txt'), '123456789')
  await mkdir(path.join(folder, 'sub'))
})

afterAll(async () => {
  await rm(folder, { recursive: true, force: true })
})

describe('PathFile.describe()', () => {
  it('takes the size and the modification time from one stat', async () => {
    const file = await PathFile.describe(NUMS)
    const stats = await stat(NUMS)
    expect(file.size).toBe(9)
    expect(file.modifiedAt).toEqual(stats.mtime)
  })

  it('has a path location', async () => {
    expect((await PathFile.describe(NUMS)).location).toEqual({ kind: 'path', path: NUMS })
  })

  it('normalises the path', async () => {
    const file = await PathFile.describe(`${FIXTURES}/./sub/../nums.txt`)
    expect(file.path).toBe(NUMS)
  })

  it("is named after the path's basename", async () => {
    expect((await PathFile.describe(path.join(FIXTURES, 'naïve café.txt'))).name).toBe('naïve café.txt')
  })

  it('takes the name and the media type it is given', async () => {
    const file = await PathFile.describe(NUMS, { name: 'numbers.csv', contentType: 'text/csv' })
    expect(file.name).toBe('numbers.csv')
    expect(file.contentType).toBe('text/csv')
  })

  it('leaves the media type to the responder when none is given', async () => {
    expect((await PathFile.describe(NUMS)).contentType).toBeUndefined()
  })

  it('rejects with BadPathError for a relative path', async () => {
    expect(await rejectionOf(PathFile.describe('test/fixtures/nums.txt'))).toBeInstanceOf(BadPathError)
  })

  it('rejects with BadPathError for a NUL byte', async () => {
    expect(await rejectionOf(PathFile.describe(`${NUMS}\u0000.png`))).toBeInstanceOf(BadPathError)
  })

  it('rejects with FileNotFoundError for a missing file', async () => {
    expect(await rejectionOf(PathFile.describe(path.join(folder, 'nope.txt')))).toBeInstanceOf(
      FileNotFoundError,
    )
  })

  it('rejects with FileNotFoundError below a file (ENOTDIR)', async () => {
    expect(await rejectionOf(PathFile.describe(path.join(folder, 'nums.txt', 'x')))).toBeInstanceOf(
      FileNotFoundError,
    )
  })

  it('rejects with FileNotFoundError for a directory', async () => {
    expect(await rejectionOf(PathFile.describe(path.join(folder, 'sub')))).toBeInstanceOf(FileNotFoundError)
  })

  it('follows a symlink, since the path is trusted as given', async () => {
    const link = path.join(folder, 'link.txt')
    await symlink(NUMS, link)
    const file = await PathFile.describe(link)
    expect(file.size).toBe(9)
    expect(file.name).toBe('link.txt')
    expect((await readAll(await file.open())).toString()).toBe('123456789')
  })
})

describe('PathFile.open()', () => {
  it('opens the whole file', async () => {
    const file = await PathFile.describe(NUMS)
    expect((await readAll(await file.open())).toString()).toBe('123456789')
  })

  it('opens bytes=2-5 as "3456"', async () => {
    const file = await PathFile.describe(NUMS)
    expect((await readAll(await file.open({ start: 2, end: 5 }))).toString()).toBe('3456')
  })

  it('opens a one-byte range at the end', async () => {
    const file = await PathFile.describe(NUMS)
    expect((await readAll(await file.open({ start: 8, end: 8 }))).toString()).toBe('9')
  })

  it('reads in chunks of the size it is given', async () => {
    const file = await PathFile.describe(NUMS, {}, 4)
    const chunks: number[] = []
    for await (const chunk of await file.open()) chunks.push((chunk as Buffer).length)
    expect(chunks).toEqual([4, 4, 1])
  })

  it('rejects with FileNotFoundError when the file vanished after it was described', async () => {
    const gone = path.join(folder, 'gone.txt')
    await writeFile(gone, 'soon gone')
    const file = await PathFile.describe(gone)
    await unlink(gone)
    expect(await rejectionOf(file.open())).toBeInstanceOf(FileNotFoundError)
  })

  it('rejects with FileNotFoundError when a directory replaced the file', async () => {
    const replaced = path.join(folder, 'replaced.txt')
    await writeFile(replaced, 'soon a folder')
    const file = await PathFile.describe(replaced)
    await unlink(replaced)
    await mkdir(replaced)
    expect(await rejectionOf(file.open())).toBeInstanceOf(FileNotFoundError)
  })
})
