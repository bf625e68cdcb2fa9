/** @module main(): exit statuses and messages for help, bad usage and bad configuration, without a database. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { HELP, main } from '../../../src/cli/main'
import { FileColumn } from '../../../src/columns/file-column'
import type { StoredFile } from '../../../src/columns/stored-file'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { storages } from '../../../src/storage/registry'

class Invoice {
  id!: number
  @FileColumn({ storage: 'invoices' }) pdf!: StoredFile | null
  @FileColumn() scan!: StoredFile | null
}

class Receipt {
  id!: number
  @FileColumn() photo!: StoredFile | null
}

class Plain {
  id!: number
}

const globals = globalThis as typeof globalThis & { __cliTestExports?: unknown }

/** A DataSource by shape whose entities are `targets`; it records whether it was destroyed. */
function fakeDataSource(targets: Function[]) {
  return {
    options: { type: 'postgres' },
    isInitialized: false,
    entityMetadatas: targets.map((target) => ({
      target,
      name: target.name,
      tableName: target.name.toLowerCase(),
    })),
    initialize: jest.fn(async function (this: { isInitialized: boolean }) {
      this.isInitialized = true
      return this
    }),
    destroy: jest.fn(async () => undefined),
  }
}

let directory: string
let stdout: string
let stderr: string

const environment = () => ({
  stdout: { write: (text: string) => (stdout += text) },
  stderr: { write: (text: string) => (stderr += text) },
  cwd: directory,
})

beforeEach(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'downloadview-main-'))
  await writeFile(path.join(directory, 'ds.js'), 'module.exports = globalThis.__cliTestExports\n')
  stdout = ''
  stderr = ''
})

afterEach(async () => {
  delete globals.__cliTestExports
  storages.clear()
  await rm(directory, { recursive: true, force: true })
})

describe('main()', () => {
  describe('with --help or no arguments', () => {
    it.each([[['--help']], [[]], [['backfill', '-h']]])(
      'prints the help on stdout and returns 0 for %j',
      async (argv) => {
        expect(await main(argv, environment())).toBe(0)
        expect(stdout).toBe(HELP)
        expect(stderr).toBe('')
      },
    )
  })

  describe('with bad usage', () => {
    it('returns 2 and says what is wrong on stderr, with a pointer to --help', async () => {
      expect(await main(['check', '-d', 'ds.js', '--bogus'], environment())).toBe(2)
      expect(stdout).toBe('')
      expect(stderr).toMatch(/^typeorm-downloadview: check: Unknown option '--bogus'/)
      expect(stderr).toMatch(/\nRun typeorm-downloadview --help for usage\.\n$/)
    })

    it('loads no DataSource', async () => {
      const ds = fakeDataSource([Invoice])
      globals.__cliTestExports = ds
      await main(['cleanup', '-d', 'ds.js'], environment())
      expect(ds.initialize).not.toHaveBeenCalled()
    })
  })

  describe('with a bad configuration', () => {
    it('returns 2 when the DataSource file is missing', async () => {
      expect(await main(['check', '-d', 'missing.ts'], environment())).toBe(2)
      expect(stderr).toMatch(/^typeorm-downloadview: No DataSource file at missing\.ts/)
    })

    it('returns 2 when no entity has file columns, and destroys the DataSource', async () => {
      const ds = fakeDataSource([Plain])
      globals.__cliTestExports = ds
      expect(await main(['check', '-d', 'ds.js'], environment())).toBe(2)
      expect(stderr).toMatch(
        /^typeorm-downloadview: No entity of the DataSource has a @FileColumn\(\) \(entities: Plain\)/,
      )
      expect(ds.destroy).toHaveBeenCalledTimes(1)
    })

    it('returns 2 and names a storage that is not registered, and the columns that use it', async () => {
      globals.__cliTestExports = fakeDataSource([Invoice])
      expect(await main(['check', '-d', 'ds.js', '--storage', 'default=media'], environment())).toBe(2)
      expect(stderr).toBe(
        'typeorm-downloadview: Storage "invoices" is not registered (used by Invoice.pdf): pass --storage ' +
          'invoices=<path> or register it in the DataSource file (storages.register("invoices", …))\n',
      )
    })

    it('returns 2 for an --entity that has no file columns', async () => {
      globals.__cliTestExports = fakeDataSource([Invoice, Plain])
      expect(await main(['backfill', '-d', 'ds.js', '--entity', 'Plain'], environment())).toBe(2)
      expect(stderr).toBe(
        'typeorm-downloadview: --entity Plain: no entity of that name has file columns (Invoice)\n',
      )
    })

    it('returns 2 for --resume-from without one entity', async () => {
      globals.__cliTestExports = fakeDataSource([Invoice, Receipt])
      const argv = ['backfill', '-d', 'ds.js', '--storage', 'default=a', '--storage', 'invoices=b']
      expect(await main([...argv, '--resume-from', '3'], environment())).toBe(2)
      expect(stderr).toBe(
        'typeorm-downloadview: --resume-from is a key of one entity: add --entity <name> (one of Invoice, Receipt)\n',
      )
    })

    it('returns 2 for an unsafe --prefix', async () => {
      globals.__cliTestExports = fakeDataSource([Invoice])
      const argv = [
        'cleanup',
        '--orphans',
        '-d',
        'ds.js',
        '--storage',
        'default=a',
        '--storage',
        'invoices=b',
      ]
      expect(await main([...argv, '--prefix', '../'], environment())).toBe(2)
      expect(stderr).toMatch(/^typeorm-downloadview: --prefix "\.\.\/": Unsafe storage key prefix/)
    })
  })

  describe('--storage', () => {
    it('gives a storage it replaced back to the registry afterwards', async () => {
      const mine = new MemoryStorage()
      storages.register('default', mine)
      globals.__cliTestExports = fakeDataSource([Plain])
      await main(['check', '-d', 'ds.js', '--storage', 'default=media'], environment())
      expect(storages.get('default')).toBe(mine)
    })

    it('registers LocalStorages resolved against the working directory for the run, then forgets them', async () => {
      globals.__cliTestExports = fakeDataSource([Plain])
      let seen: string | undefined
      const register = storages.register.bind(storages)
      const spy = jest.spyOn(storages, 'register').mockImplementation((name, storage) => {
        seen = (storage as { root?: string }).root
        return register(name, storage)
      })
      await main(['check', '-d', 'ds.js', '--storage', 'default=media'], environment())
      spy.mockRestore()
      expect(seen).toBe(path.join(directory, 'media'))
      expect(storages.tryGet('default')).toBeUndefined()
    })
  })
})
