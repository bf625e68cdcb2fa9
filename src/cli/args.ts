/** @module The command line's arguments: node:util parseArgs per command, checked into one typed union. */
import { parseArgs } from 'node:util'

/** Wrong arguments: the CLI prints the message and exits with status 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** Options that every command takes. */
export interface CommonOptions {
  /** The DataSource module, as given (resolved against the working directory later). */
  dataSource: string
  /** `--storage name=path`: LocalStorages to register before anything runs. */
  storages: { name: string; root: string }[]
  /** Rows per query. */
  batchSize: number
  /** One JSON document on stdout instead of lines. */
  json: boolean
  /** Progress on stderr. */
  progress: boolean
}

/** Options of the commands that list storages for orphans. */
export interface OrphanScanOptions {
  /** Only keys that start with this prefix; `''` for every key. */
  prefix: string
  /** Keys under these prefixes are never reported or deleted (`variants/` always among them). */
  exclude: string[]
  /** Files modified less than this many milliseconds ago are left out. */
  minAgeMs: number
}

export interface CheckOptions extends CommonOptions, OrphanScanOptions {
  command: 'check'
  /** `--entity`: check only these entities' rows (class or table names); empty for every one. */
  entities: string[]
  /** Hash files whose size matches, to compare the SHA-256 too. */
  checksum: boolean
  /** List the storages for files that no row references. */
  orphans: boolean
  /** Decode the files of image columns, to find those that sharp cannot decode. */
  decodeImages: boolean
}

export interface BackfillOptions extends CommonOptions {
  command: 'backfill'
  /** `--entity`: fill only these entities' rows (class or table names); empty for every one. */
  entities: string[]
  /** Start after this primary key (a JSON array for a composite key). */
  resumeFrom: string | undefined
}

export interface CleanupOptions extends CommonOptions, OrphanScanOptions {
  command: 'cleanup'
  /** List what would be deleted, delete nothing. */
  dryRun: boolean
}

export type ParsedArguments = CheckOptions | BackfillOptions | CleanupOptions | { command: 'help' }

/** Keys under this prefix are derived files (image variants) that another module owns. */
export const DEFAULT_EXCLUDES = ['variants/']

/** How long a file must have gone unmodified before cleanup deletes it, unless `--min-age` says otherwise. */
export const CLEANUP_MIN_AGE = '1h'

const COMMON = {
  dataSource: { type: 'string', short: 'd' },
  'data-source': { type: 'string' },
  storage: { type: 'string', multiple: true },
  'batch-size': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

const SCAN = {
  prefix: { type: 'string' },
  exclude: { type: 'string', multiple: true },
  'min-age': { type: 'string' },
} as const

// Not for cleanup: an orphan is unreferenced by every entity, so it always scans them all.
const ENTITY = { type: 'string', multiple: true } as const

const OPTIONS = {
  check: {
    ...COMMON,
    ...SCAN,
    entity: ENTITY,
    checksum: { type: 'boolean' },
    orphans: { type: 'boolean' },
    'decode-images': { type: 'boolean' },
  },
  backfill: { ...COMMON, entity: ENTITY, 'resume-from': { type: 'string' } },
  cleanup: {
    ...COMMON,
    ...SCAN,
    orphans: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    delete: { type: 'boolean' },
  },
} as const

type Command = keyof typeof OPTIONS

/**
 * Parses `argv` (without `node` and the script): a command, then its options. Throws a UsageError
 * that says what is wrong; `--help` anywhere, or no arguments, asks for the help text.
 *
 * @example
 * parseArguments(['check', '-d', 'ormconfig.ts', '--no-checksum'])
 */
export function parseArguments(argv: readonly string[]): ParsedArguments {
  const [command, ...rest] = argv
  if (command === undefined || command === '-h' || command === '--help' || command === 'help')
    return { command: 'help' }
  if (!Object.hasOwn(OPTIONS, command)) {
    throw new UsageError(
      command.startsWith('-')
        ? `Expected a command (check, backfill or cleanup) before "${command}"`
        : `Unknown command "${command}": expected check, backfill or cleanup`,
    )
  }
  const name = command as Command
  let values: Record<string, unknown>
  try {
    ;({ values } = parseArgs({
      args: [...rest],
      options: OPTIONS[name],
      strict: true,
      allowPositionals: false,
      allowNegative: true,
    }))
  } catch (error) {
    // parseArgs' own messages are good ("Unknown option '--bogus'"); say which command refused.
    throw new UsageError(`${name}: ${(error as Error).message}`)
  }
  if (values.help) return { command: 'help' }

  const common = commonOptions(name, values)
  switch (name) {
    case 'check':
      return {
        command: 'check',
        ...common,
        ...scanOptions(values, '0'),
        entities: (values.entity as string[] | undefined) ?? [],
        checksum: flag(values, 'checksum', true),
        orphans: flag(values, 'orphans', true),
        decodeImages: flag(values, 'decode-images', false),
      }
    case 'backfill': {
      const resumeFrom = values['resume-from'] as string | undefined
      if (resumeFrom === '') throw new UsageError('backfill: --resume-from needs a primary key value')
      return {
        command: 'backfill',
        ...common,
        entities: (values.entity as string[] | undefined) ?? [],
        resumeFrom,
      }
    }
    case 'cleanup': {
      if (values.orphans !== true)
        throw new UsageError('cleanup: say what to clean up: --orphans (the only kind there is so far)')
      const dryRun = values['dry-run'] as boolean | undefined
      const remove = values.delete as boolean | undefined
      if ((dryRun === true && remove === true) || (dryRun === false && remove === false))
        throw new UsageError('cleanup: --dry-run and --delete contradict each other')
      return {
        command: 'cleanup',
        ...common,
        ...scanOptions(values, CLEANUP_MIN_AGE),
        dryRun: remove === true ? false : (dryRun ?? true),
      }
    }
  }
}

function commonOptions(command: Command, values: Record<string, unknown>): CommonOptions {
  const short = values.dataSource as string | undefined
  const long = values['data-source'] as string | undefined
  if (short !== undefined && long !== undefined)
    throw new UsageError(`${command}: give the DataSource once, with -d/--dataSource or --data-source`)
  const dataSource = short ?? long
  if (!dataSource)
    throw new UsageError(`${command}: -d <file> is required: the module that exports the DataSource`)
  return {
    dataSource,
    storages: ((values.storage as string[] | undefined) ?? []).map((spec) => storageOption(command, spec)),
    batchSize: batchSize(command, values['batch-size'] as string | undefined),
    json: flag(values, 'json', false),
    progress: !flag(values, 'quiet', false),
  }
}

function scanOptions(values: Record<string, unknown>, defaultMinAge: string): OrphanScanOptions {
  const exclude = (values.exclude as string[] | undefined) ?? []
  for (const prefix of exclude) {
    if (prefix === '') throw new UsageError('--exclude needs a key prefix such as "thumbnails/"')
  }
  return {
    prefix: (values.prefix as string | undefined) ?? '',
    exclude: [...DEFAULT_EXCLUDES, ...exclude],
    minAgeMs: parseDuration((values['min-age'] as string | undefined) ?? defaultMinAge),
  }
}

/** A boolean option: `--name` is true, `--no-name` false, neither the default. */
function flag(values: Record<string, unknown>, name: string, byDefault: boolean): boolean {
  return (values[name] as boolean | undefined) ?? byDefault
}

function storageOption(command: Command, spec: string): { name: string; root: string } {
  const equals = spec.indexOf('=')
  const name = spec.slice(0, equals)
  const root = spec.slice(equals + 1)
  if (equals <= 0 || root === '')
    throw new UsageError(`${command}: --storage takes name=path (such as default=./media), not "${spec}"`)
  return { name, root }
}

function batchSize(command: Command, text: string | undefined): number {
  if (text === undefined) return 500
  const size = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(size) || size < 1 || size > 100_000)
    throw new UsageError(`${command}: --batch-size must be a whole number from 1 to 100000, not "${text}"`)
  return size
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `90` (seconds), `500ms`, `30s`, `15m`, `1h`, `2d` → milliseconds; a UsageError for anything else. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim())
  if (!match) throw new UsageError(`--min-age takes a duration such as 30s, 15m, 1h or 2d, not "${text}"`)
  return Math.round(Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1000))
}
