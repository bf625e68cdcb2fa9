/**
 * @module `cleanup --orphans`: lists the files that no row references and, with `--delete` only,
 * deletes them. Every entity with file columns counts, so a file that another entity references is
 * never an orphan; each file is asked about again, in the database, right before it is deleted.
 */
import type { CleanupOptions } from './args'
import { type CommandContext, formatBytes, plural, printLine, progressFor } from './context'
import {
  collectReferences,
  isReferencedNow,
  KeyFilter,
  type ListingTally,
  listOrphans,
  type Orphan,
  References,
} from './orphans'
import { resolveStorages } from './scan'

type Listed = Omit<Orphan, 'modifiedAt'> & { modifiedAt: string }

/** The whole result, as `--json` prints it. */
export interface CleanupReport {
  command: 'cleanup'
  dryRun: boolean
  /** No deletion failed. */
  ok: boolean
  counts: {
    rows: number
    listed: number
    orphans: number
    deleted: number
    /** Orphans that a row referenced by the time they were to be deleted. */
    kept: number
    failed: number
    /** Unreferenced files younger than --min-age, left alone. */
    recent: number
    bytes: number
  }
  /** The orphans: deleted ones with --delete, the ones that would be with --dry-run. */
  orphans: Listed[]
  failed: (Listed & { reason: string })[]
  warnings: string[]
}

/** Runs `cleanup --orphans`; resolves to the exit status (0 done, 1 some deletion failed). */
export async function runCleanup(options: CleanupOptions, context: CommandContext): Promise<number> {
  const storageOf = resolveStorages(context.entities)
  const filter = new KeyFilter(options)
  const references = new References(filter, storageOf, context.entities)
  const report: CleanupReport = {
    command: 'cleanup',
    dryRun: options.dryRun,
    ok: true,
    counts: { rows: 0, listed: 0, orphans: 0, deleted: 0, kept: 0, failed: 0, recent: 0, bytes: 0 },
    orphans: [],
    failed: [],
    warnings: [],
  }
  const print = (progress: Parameters<typeof printLine>[1], line: string) => {
    if (!options.json) printLine(context, progress, line)
  }

  report.counts.rows = await collectReferences(
    context.dataSource,
    context.entities,
    references,
    storageOf,
    options.batchSize,
    (entity, total) => progressFor(context, options.progress, entity.name, 'rows', total),
  )
  const tally: ListingTally = { listed: 0, recent: 0 }
  for (const scan of references.storages) {
    const label = scan.names.join(',')
    if (!scan.storage.list) {
      report.warnings.push(
        `${scan.storage.name} (storage "${label}") cannot list its files: nothing cleaned there`,
      )
      continue
    }
    const progress = progressFor(context, options.progress, `orphans in ${label}`, 'files')
    for await (const orphan of listOrphans(scan, filter, options.minAgeMs, context.now(), tally, progress)) {
      const listed = { ...orphan, modifiedAt: orphan.modifiedAt.toISOString() }
      const size = formatBytes(orphan.size)
      if (options.dryRun) {
        report.orphans.push(listed)
        report.counts.bytes += orphan.size
        print(progress, `would delete  ${label}  ${orphan.path} (${size})`)
        continue
      }
      if (await isReferencedNow(context.dataSource, scan, orphan.path)) {
        report.counts.kept++
        print(progress, `kept          ${label}  ${orphan.path}: a row references it now`)
        continue
      }
      try {
        await scan.storage.delete(orphan.path)
        report.orphans.push(listed)
        report.counts.bytes += orphan.size
        print(progress, `deleted       ${label}  ${orphan.path} (${size})`)
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error)
        report.failed.push({ ...listed, reason })
        print(progress, `failed        ${label}  ${orphan.path}: ${reason}`)
      }
    }
    progress.done()
  }

  report.counts.listed = tally.listed
  report.counts.recent = tally.recent
  report.counts.orphans = report.orphans.length
  report.counts.deleted = options.dryRun ? 0 : report.orphans.length
  report.counts.failed = report.failed.length
  report.ok = report.failed.length === 0
  if (options.json) context.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else {
    for (const warning of report.warnings) context.stderr.write(`warning: ${warning}\n`)
    context.stdout.write(summary(report))
  }
  return report.ok ? 0 : 1
}

function summary(report: CleanupReport): string {
  const { counts } = report
  const files = `${plural(counts.orphans, 'orphan file')} (${formatBytes(counts.bytes)})`
  const lines = [
    `Scanned ${plural(counts.rows, 'row')} and ${plural(counts.listed, 'stored file')}.`,
    report.dryRun
      ? counts.orphans > 0
        ? `Dry run: ${files} would be deleted. Run again with --delete to delete them.`
        : 'Dry run: no orphan files.'
      : `Deleted ${files}.`,
  ]
  if (counts.kept > 0) lines.push(`Kept ${plural(counts.kept, 'file')} that a row references now.`)
  if (counts.failed > 0) lines.push(`Failed to delete ${plural(counts.failed, 'file')}.`)
  if (counts.recent > 0)
    lines.push(`Left alone: ${plural(counts.recent, 'unreferenced file')} younger than --min-age.`)
  return `${lines.join('\n')}\n`
}
