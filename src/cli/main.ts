/**
 * @module The `typeorm-downloadview` command line: parses the arguments, loads the DataSource,
 * registers `--storage` storages, runs one command, and turns the outcome into an exit status
 * (0 clean, 1 problems found, 2 usage or configuration error).
 */

import path from 'node:path'
import { format } from 'node:util'
import { ConfigurationError, DownloadError } from '../errors'
import { LocalStorage } from '../storage/local-storage'
import { storages } from '../storage/registry'
import type { Storage } from '../storage/storage'
import { type CommonOptions, type ParsedArguments, parseArguments, UsageError } from './args'
import { runBackfill } from './backfill'
import { runCheck } from './check'
import { runCleanup } from './cleanup'
import type { CommandContext, OutputStream } from './context'
import { loadDataSource } from './load-data-source'
import type { ProgressStream } from './progress'
import { findFileEntities } from './scan'

/** The help text: `typeorm-downloadview --help`. */
export const HELP = `Usage: typeorm-downloadview <command> -d <data-source file> [options]

Checks and repairs the files of the rows of entities with @FileColumn() properties.

Commands:
  check              Report rows whose file is missing or changed (size, then SHA-256),
                     files that no row references (orphans), images that do not decode
                     (with --decode-images), and rows whose metadata is incomplete (a
                     warning: backfill fills it). Exit 1 when problems are found.
  backfill           Fill missing metadata (size, content type, mtime, SHA-256, image fields)
                     of existing rows, a batch at a time, each batch in its own transaction.
  cleanup --orphans  List orphan files; delete them only with --delete.

Every command:
  -d, --dataSource <file>  Module whose default export (or only exported DataSource, or a
                           promise of one) is the DataSource; .ts is loaded through tsx.
                           The CLI initializes it; it runs no migrations.
  --storage <name=path>    Register a LocalStorage rooted at path under name (repeatable);
                           storages the DataSource file registers need no option
  --batch-size <n>         Rows per query, paged by primary key             [default: 500]
  --json                   Print one JSON document on stdout instead of lines
  --quiet                  No progress on stderr (a bar on a terminal, lines otherwise)
  -h, --help               Show this help

check:
  --entity <name>          Check only this entity's rows (repeatable)        [default: all]
  --no-checksum            Compare sizes only; do not hash the files
  --no-orphans             Do not list the storages for orphan files
  --decode-images          Decode the file of every image column with sharp, as a variant
                           would, and report those that do not decode (cut short, corrupt);
                           costs the CPU of one small variant per image
  --prefix <prefix>        Look for orphans only among keys with this prefix
  --exclude <prefix>       Never report keys under this prefix (repeatable; variants/ always)
  --min-age <duration>     Do not report files modified more recently (30s, 15m, 1h, 2d)
                                                                             [default: 0]
backfill:
  --entity <name>          Fill only this entity's rows (repeatable)         [default: all]
  --resume-from <key>      Start after this primary key (with one --entity); a rerun
                           resumes by itself, as only incomplete rows are selected

cleanup:
  --orphans                What to clean up (required)
  --dry-run                List what would be deleted                      [the default]
  --delete, --no-dry-run   Delete the orphan files
  --prefix, --exclude      As for check
  --min-age <duration>     Keep files modified more recently than this       [default: 1h]

Exit status: 0 done and clean, 1 problems found (or files that could not be filled or
deleted), 2 usage or configuration error.

Example:
  npx typeorm-downloadview check -d ormconfig.ts --storage default=./media
`

/** What main() runs in: real streams and the real clock in run(), fakes in tests. */
export interface CliEnvironment {
  stdout: OutputStream
  stderr: ProgressStream
  cwd: string
  now?: () => number
  signal?: AbortSignal
}

/**
 * Runs the command line on `argv` (without `node` and the script) and resolves to the exit status.
 * Never throws: errors are printed on stderr.
 *
 * @example
 * process.exitCode = await main(['check', '-d', 'ormconfig.ts'], { stdout, stderr, cwd })
 */
export async function main(argv: readonly string[], environment: CliEnvironment): Promise<number> {
  let parsed: ParsedArguments
  try {
    parsed = parseArguments(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    environment.stderr.write(
      `typeorm-downloadview: ${error.message}\nRun typeorm-downloadview --help for usage.\n`,
    )
    return 2
  }
  if (parsed.command === 'help') {
    environment.stdout.write(HELP)
    return 0
  }

  const replaced = new Map<string, Storage | undefined>()
  let context: CommandContext | undefined
  try {
    const dataSource = await loadDataSource(parsed.dataSource, environment.cwd)
    context = {
      dataSource,
      entities: [],
      stdout: environment.stdout,
      stderr: environment.stderr,
      now: environment.now ?? Date.now,
      signal: environment.signal,
    }
    registerStorages(parsed, environment.cwd, replaced)
    context.entities = findFileEntities(dataSource)
    if (parsed.command === 'check') return await runCheck(parsed, context)
    if (parsed.command === 'backfill') return await runBackfill(parsed, context)
    return await runCleanup(parsed, context)
  } catch (error) {
    environment.stderr.write(`typeorm-downloadview: ${describeError(error)}\n`)
    return 2
  } finally {
    if (context?.dataSource.isInitialized) await context.dataSource.destroy().catch(() => undefined)
    // In-process callers get their registry back as it was.
    for (const [name, previous] of replaced) {
      if (previous) storages.register(name, previous)
      else storages.clear(name)
    }
  }
}

/**
 * `--storage name=path`: a LocalStorage each, registered after the DataSource file, so options win.
 * `replaced` records what each name held before.
 */
function registerStorages(
  options: CommonOptions,
  cwd: string,
  replaced: Map<string, Storage | undefined>,
): void {
  for (const { name, root } of options.storages) {
    if (!replaced.has(name)) replaced.set(name, storages.tryGet(name))
    storages.register(name, new LocalStorage({ root: path.resolve(cwd, root) }))
  }
}

function describeError(error: unknown): string {
  if (error instanceof ConfigurationError || error instanceof DownloadError) return error.message
  if (error instanceof Error) return error.stack ?? error.message
  return String(error)
}

/**
 * The bin's entry: runs main() on the process's arguments and streams and sets the exit status.
 * Ctrl-C ends the process, except that during backfill a first one finishes the current batch and
 * prints where to resume (a second one ends it at once).
 */
export function run(): void {
  const argv = process.argv.slice(2)
  // stdout carries the command's results alone (`--json` is piped into other programs): console
  // output from anything else, such as a DataSource's query logging, goes to stderr.
  const toStderr = (...args: unknown[]) => {
    process.stderr.write(`${format(...args)}\n`)
  }
  console.log = console.info = console.debug = toStderr
  const controller = new AbortController()
  if (argv[0] === 'backfill') {
    process.once('SIGINT', () => {
      process.stderr.write('\nInterrupted: finishing the current batch (Ctrl-C again to stop at once)\n')
      controller.abort()
      process.once('SIGINT', () => process.exit(130))
    })
  }
  main(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
    signal: controller.signal,
  }).then(
    (status) => {
      process.exitCode = status
    },
    (error: unknown) => {
      process.stderr.write(`typeorm-downloadview: ${describeError(error)}\n`)
      process.exitCode = 2
    },
  )
}
