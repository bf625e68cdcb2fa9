/** @module parseArguments(): every option on and off, and what bad usage says. */
import {
  type BackfillOptions,
  type CheckOptions,
  type CleanupOptions,
  parseArguments,
  parseDuration,
  UsageError,
} from '../../../src/cli/args'

const check = (...args: string[]) => parseArguments(['check', '-d', 'ds.ts', ...args]) as CheckOptions
const backfill = (...args: string[]) =>
  parseArguments(['backfill', '-d', 'ds.ts', ...args]) as BackfillOptions
const cleanup = (...args: string[]) =>
  parseArguments(['cleanup', '--orphans', '-d', 'ds.ts', ...args]) as CleanupOptions

/** The UsageError message that parsing `argv` throws. */
function usageError(argv: string[]): string {
  try {
    parseArguments(argv)
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError)
    return (error as Error).message
  }
  throw new Error(`parseArguments(${JSON.stringify(argv)}) did not throw`)
}

describe('parseArguments()', () => {
  describe('help', () => {
    it.each([[[]], [['--help']], [['-h']], [['help']], [['check', '--help']], [['cleanup', '-h']]])(
      'asks for the help text for %j',
      (argv) => {
        expect(parseArguments(argv)).toEqual({ command: 'help' })
      },
    )
  })

  describe('the command', () => {
    it('is refused when unknown', () => {
      expect(usageError(['verify', '-d', 'x.ts'])).toBe(
        'Unknown command "verify": expected check, backfill or cleanup',
      )
    })

    it('must come before the options', () => {
      expect(usageError(['-d', 'x.ts', 'check'])).toBe(
        'Expected a command (check, backfill or cleanup) before "-d"',
      )
    })
  })

  describe('-d / --dataSource / --data-source', () => {
    it.each([
      ['-d', ['-d', 'ormconfig.ts']],
      ['--dataSource', ['--dataSource', 'ormconfig.ts']],
      ['--dataSource=', ['--dataSource=ormconfig.ts']],
      ['--data-source', ['--data-source', 'ormconfig.ts']],
    ])('is read from %s', (_label, args) => {
      expect((parseArguments(['check', ...args]) as CheckOptions).dataSource).toBe('ormconfig.ts')
    })

    it('is required', () => {
      expect(usageError(['check'])).toBe(
        'check: -d <file> is required: the module that exports the DataSource',
      )
    })

    it('is refused when given both ways', () => {
      expect(usageError(['backfill', '-d', 'a.ts', '--data-source', 'b.ts'])).toMatch(
        /give the DataSource once/,
      )
    })

    it('needs a value', () => {
      expect(usageError(['check', '-d'])).toMatch(
        /^check: Option '-d, --dataSource <value>' argument missing/,
      )
    })
  })

  describe('--storage', () => {
    it('is empty by default', () => {
      expect(check().storages).toEqual([])
    })

    it('takes name=path, repeatedly, and keeps any = in the path', () => {
      expect(check('--storage', 'default=./media', '--storage', 'thumbs=/srv/a=b').storages).toEqual([
        { name: 'default', root: './media' },
        { name: 'thumbs', root: '/srv/a=b' },
      ])
    })

    it.each(['media', '=./media', 'media='])('refuses "%s"', (spec) => {
      expect(usageError(['check', '-d', 'x.ts', '--storage', spec])).toBe(
        `check: --storage takes name=path (such as default=./media), not "${spec}"`,
      )
    })
  })

  describe('--batch-size', () => {
    it('is 500 by default', () => {
      expect(check().batchSize).toBe(500)
    })

    it('takes a whole number', () => {
      expect(backfill('--batch-size', '50').batchSize).toBe(50)
    })

    it.each(['0', '-5', '1.5', 'ten', '100001', ''])('refuses "%s"', (size) => {
      expect(usageError(['check', '-d', 'x.ts', `--batch-size=${size}`])).toMatch(
        /^check: --batch-size must be a whole number from 1 to 100000/,
      )
    })
  })

  describe('--json', () => {
    it('is off by default', () => {
      expect(check().json).toBe(false)
    })

    it('is on when given', () => {
      expect(check('--json').json).toBe(true)
      expect(backfill('--json').json).toBe(true)
      expect(cleanup('--json').json).toBe(true)
    })

    it('takes no value', () => {
      expect(usageError(['check', '-d', 'x.ts', '--json=yes'])).toMatch(/--json' does not take an argument/)
    })
  })

  describe('--quiet', () => {
    it('leaves progress on by default', () => {
      expect(check().progress).toBe(true)
    })

    it('turns progress off', () => {
      expect(check('--quiet').progress).toBe(false)
    })
  })

  describe('--entity', () => {
    it('selects every entity by default', () => {
      expect(check().entities).toEqual([])
      expect(backfill().entities).toEqual([])
    })

    it('is repeatable', () => {
      expect(check('--entity', 'Document', '--entity', 'photo').entities).toEqual(['Document', 'photo'])
    })

    it('is not an option of cleanup, which always scans every entity', () => {
      expect(usageError(['cleanup', '--orphans', '-d', 'x.ts', '--entity', 'Document'])).toMatch(
        /^cleanup: Unknown option '--entity'/,
      )
    })
  })

  describe('check', () => {
    it('has these defaults', () => {
      expect(check()).toEqual({
        command: 'check',
        dataSource: 'ds.ts',
        storages: [],
        entities: [],
        batchSize: 500,
        json: false,
        progress: true,
        checksum: true,
        orphans: true,
        decodeImages: false,
        prefix: '',
        exclude: ['variants/'],
        minAgeMs: 0,
      })
    })

    it('turns hashing off with --no-checksum, on with --checksum', () => {
      expect(check('--no-checksum').checksum).toBe(false)
      expect(check('--checksum').checksum).toBe(true)
    })

    it('turns the orphan scan off with --no-orphans, on with --orphans', () => {
      expect(check('--no-orphans').orphans).toBe(false)
      expect(check('--orphans').orphans).toBe(true)
    })

    it('decodes images with --decode-images, not with --no-decode-images', () => {
      expect(check('--decode-images').decodeImages).toBe(true)
      expect(check('--no-decode-images').decodeImages).toBe(false)
    })

    it('refuses options of other commands', () => {
      expect(usageError(['check', '-d', 'x.ts', '--delete'])).toMatch(/^check: Unknown option '--delete'/)
      expect(usageError(['check', '-d', 'x.ts', '--resume-from', '5'])).toMatch(/^check: Unknown option/)
    })

    it('refuses positional arguments', () => {
      expect(usageError(['check', '-d', 'x.ts', 'extra'])).toMatch(/^check: Unexpected argument 'extra'/)
    })
  })

  describe('--prefix and --exclude', () => {
    it('scan every key but variants/ by default', () => {
      expect(cleanup()).toMatchObject({ prefix: '', exclude: ['variants/'] })
    })

    it('take a prefix, and add exclusions to variants/', () => {
      expect(check('--prefix', 'docs/', '--exclude', 'tmp/', '--exclude', 'cache/')).toMatchObject({
        prefix: 'docs/',
        exclude: ['variants/', 'tmp/', 'cache/'],
      })
    })

    it('refuse an empty exclusion, which would exclude everything', () => {
      expect(usageError(['check', '-d', 'x.ts', '--exclude', ''])).toMatch(/--exclude needs a key prefix/)
    })
  })

  describe('--min-age', () => {
    it('is 0 for check and 1h for cleanup by default', () => {
      expect(check().minAgeMs).toBe(0)
      expect(cleanup().minAgeMs).toBe(3_600_000)
    })

    it('takes a duration', () => {
      expect(check('--min-age', '15m').minAgeMs).toBe(900_000)
      expect(cleanup('--min-age', '0').minAgeMs).toBe(0)
    })

    it('refuses what is not a duration', () => {
      expect(usageError(['check', '-d', 'x.ts', '--min-age', 'soon'])).toBe(
        '--min-age takes a duration such as 30s, 15m, 1h or 2d, not "soon"',
      )
    })
  })

  describe('backfill', () => {
    it('has these defaults', () => {
      expect(backfill()).toEqual({
        command: 'backfill',
        dataSource: 'ds.ts',
        storages: [],
        entities: [],
        batchSize: 500,
        json: false,
        progress: true,
        resumeFrom: undefined,
      })
    })

    it('takes --resume-from', () => {
      expect(backfill('--resume-from', '1200').resumeFrom).toBe('1200')
    })

    it('refuses an empty --resume-from', () => {
      expect(usageError(['backfill', '-d', 'x.ts', '--resume-from', ''])).toBe(
        'backfill: --resume-from needs a primary key value',
      )
    })
  })

  describe('cleanup', () => {
    it('requires --orphans', () => {
      expect(usageError(['cleanup', '-d', 'x.ts'])).toMatch(/^cleanup: say what to clean up: --orphans/)
      expect(usageError(['cleanup', '-d', 'x.ts', '--no-orphans'])).toMatch(/^cleanup: say what to clean up/)
    })

    it('is a dry run by default', () => {
      expect(cleanup().dryRun).toBe(true)
      expect(cleanup('--dry-run').dryRun).toBe(true)
    })

    it('deletes with --delete or --no-dry-run', () => {
      expect(cleanup('--delete').dryRun).toBe(false)
      expect(cleanup('--no-dry-run').dryRun).toBe(false)
    })

    it('stays a dry run with --no-delete', () => {
      expect(cleanup('--no-delete').dryRun).toBe(true)
    })

    it.each([
      ['--dry-run', '--delete'],
      ['--no-dry-run', '--no-delete'],
    ])('refuses %s with %s', (first, second) => {
      expect(usageError(['cleanup', '--orphans', '-d', 'x.ts', first, second])).toBe(
        'cleanup: --dry-run and --delete contradict each other',
      )
    })
  })
})

describe('parseDuration()', () => {
  it.each([
    ['90', 90_000],
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5m', 90_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
  ])('reads %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each(['', '1w', '-1h', 'h'])('refuses "%s"', (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError)
  })
})
