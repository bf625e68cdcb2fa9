/** @module loadDataSource() and pickDataSource(): which export is the DataSource, and what failures say. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { isDataSource, loadDataSource, pickDataSource } from '../../../src/cli/load-data-source'
import { ConfigurationError } from '../../../src/errors'
import { rejectionOf } from '../../helpers/streams'

/** A DataSource by shape: what the CLI accepts from any copy of typeorm. */
function fakeDataSource(name = 'fake') {
  return {
    name,
    options: { type: 'postgres' },
    isInitialized: false,
    initialize: jest.fn(async function (this: { isInitialized: boolean }) {
      this.isInitialized = true
      return this
    }),
    destroy: jest.fn(async () => undefined),
  }
}

const globals = globalThis as typeof globalThis & { __cliTestExports?: unknown }

describe('isDataSource()', () => {
  it('accepts an object with initialize, destroy, options and isInitialized', () => {
    expect(isDataSource(fakeDataSource())).toBe(true)
  })

  it.each([
    ['null', null],
    ['a string', 'ds'],
    ['an object without initialize()', { ...fakeDataSource(), initialize: undefined }],
    ['an object without options', { ...fakeDataSource(), options: undefined }],
    ['an object without isInitialized', { ...fakeDataSource(), isInitialized: undefined }],
  ])('refuses %s', (_label, value) => {
    expect(isDataSource(value)).toBe(false)
  })
})

describe('pickDataSource()', () => {
  it('takes the default export', async () => {
    const ds = fakeDataSource()
    expect(await pickDataSource({ default: ds, other: fakeDataSource() }, 'a.ts')).toBe(ds)
  })

  it('awaits a default export that is a promise', async () => {
    const ds = fakeDataSource()
    expect(await pickDataSource({ default: Promise.resolve(ds) }, 'a.ts')).toBe(ds)
  })

  it('unwraps a default export that is itself a module with a default (CommonJS seen as ESM)', async () => {
    const ds = fakeDataSource()
    expect(await pickDataSource({ default: { default: ds } }, 'a.ts')).toBe(ds)
  })

  it('takes module.exports when it is the DataSource', async () => {
    const ds = fakeDataSource()
    expect(await pickDataSource(ds, 'a.js')).toBe(ds)
  })

  it('takes the only named DataSource export, or the promise of one', async () => {
    const ds = fakeDataSource()
    expect(await pickDataSource({ AppDataSource: ds, entities: [] }, 'a.ts')).toBe(ds)
    expect(await pickDataSource({ ready: Promise.resolve(ds), url: 'x' }, 'a.ts')).toBe(ds)
  })

  it('refuses several named DataSources and names them', async () => {
    const error = await rejectionOf(pickDataSource({ a: fakeDataSource(), b: fakeDataSource() }, 'a.ts'))
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as Error).message).toBe(
      'a.ts exports several DataSources (a, b): export the one to use as default',
    )
  })

  it('refuses a module without a DataSource', async () => {
    const error = await rejectionOf(pickDataSource({ createDataSource: () => undefined }, 'a.ts'))
    expect((error as Error).message).toMatch(/^a\.ts exports no DataSource: export one as default/)
  })

  it('refuses a module that is not an object', async () => {
    expect(await rejectionOf(pickDataSource(42, 'a.js'))).toBeInstanceOf(ConfigurationError)
  })
})

describe('loadDataSource()', () => {
  let directory: string

  beforeEach(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'downloadview-ds-'))
  })

  afterEach(async () => {
    delete globals.__cliTestExports
    await rm(directory, { recursive: true, force: true })
  })

  /** A module in the temporary folder whose exports the test chooses. */
  async function moduleExporting(exports: unknown, name = 'data-source.js'): Promise<string> {
    globals.__cliTestExports = exports
    await writeFile(path.join(directory, name), 'module.exports = globalThis.__cliTestExports\n')
    return name
  }

  it('loads the file relative to the working directory and initializes its DataSource', async () => {
    const ds = fakeDataSource()
    const file = await moduleExporting({ default: ds })
    expect(await loadDataSource(file, directory)).toBe(ds)
    expect(ds.initialize).toHaveBeenCalledTimes(1)
  })

  it('does not initialize a DataSource that already is', async () => {
    const ds = { ...fakeDataSource(), isInitialized: true }
    expect(await loadDataSource(await moduleExporting(ds), directory)).toBe(ds)
    expect(ds.initialize).not.toHaveBeenCalled()
  })

  it('names a file that does not exist', async () => {
    const error = await rejectionOf(loadDataSource('nowhere.ts', directory))
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as Error).message).toBe(
      `No DataSource file at nowhere.ts (${path.join(directory, 'nowhere.ts')})`,
    )
  })

  it('names the file when loading it throws', async () => {
    await writeFile(path.join(directory, 'broken.js'), "throw new Error('no DATABASE_URL')\n")
    const error = await rejectionOf(loadDataSource('broken.js', directory))
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as Error).message).toBe('Cannot load broken.js: no DATABASE_URL')
  })

  it('names the file when initialize() fails', async () => {
    const ds = fakeDataSource()
    ds.initialize.mockRejectedValueOnce(new Error('connect ECONNREFUSED 127.0.0.1:5432'))
    const error = await rejectionOf(loadDataSource(await moduleExporting(ds), directory))
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as Error).message).toBe(
      'Cannot initialize the DataSource of data-source.js: connect ECONNREFUSED 127.0.0.1:5432',
    )
  })
})
