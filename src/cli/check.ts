/**
 * @module `check`: rows whose file is missing or changed, rows whose metadata is incomplete, images
 * that do not decode, and files that no row references. Reads rows in keyset pages and stats (and
 * hashes, and decodes) their files.
 */
import os from 'node:os'
import { sha256Of } from '../columns/checksum'
import type { FileColumnMetadata } from '../columns/file-column'
import { mapLimit } from '../concurrency'
import { BadPathError, FileNotFoundError, UnsafePathError } from '../errors'
import { loadSharp } from '../images/sharp'
import { concurrencyLimit, type DecodeResult, decodeImage } from '../images/variants'
import type { Storage } from '../storage/storage'
import type { CheckOptions } from './args'
import { type CommandContext, formatBytes, plural, printLine, progressFor } from './context'
import {
  collectReferences,
  KeyFilter,
  type ListingTally,
  listOrphans,
  type Orphan,
  References,
} from './orphans'
import type { Progress } from './progress'
import {
  type FileEntity,
  missingFields,
  type RawRow,
  rawPages,
  resolveStorages,
  rowId,
  rowLabel,
  ScanTable,
  selectEntities,
} from './scan'

/** Where a finding is: a row's file column. */
interface Place {
  entity: string
  id: unknown
  column: string
  storage: string
  path: string
}

interface Missing extends Place {
  /** `not found`, `unsafe key`, or the error that stat() raised. */
  reason: string
}

interface Changed extends Place {
  /** What differs: the size, or (same size) the SHA-256. */
  reason: 'size' | 'sha256'
  expected: { size: number | null; sha256: string | null }
  actual: { size: number; sha256?: string }
}

interface Incomplete extends Place {
  /** The metadata fields that are NULL. */
  fields: string[]
}

interface Undecodable extends Place {
  /** sharp's message, on one line. */
  reason: string
}

/** The whole result, as `--json` prints it. */
export interface CheckReport {
  command: 'check'
  /** No missing, changed, undecodable or orphan file (incomplete rows are warnings). */
  ok: boolean
  counts: {
    rows: number
    files: number
    missing: number
    changed: number
    incomplete: number
    /** Images that sharp cannot decode (with --decode-images). */
    undecodable: number
    orphans: number
    /** Files listed in the storages (under --prefix, excluded keys left out). */
    listed: number
    /** Unreferenced files younger than --min-age, not reported. */
    recent: number
    /** Images decoded (with --decode-images), whether they decoded or not. */
    decoded: number
  }
  missing: Missing[]
  changed: Changed[]
  incomplete: Incomplete[]
  undecodable: Undecodable[]
  orphans: (Omit<Orphan, 'modifiedAt'> & { modifiedAt: string })[]
  warnings: string[]
}

/** Files hashed or stat'ed at once within a page. */
const CONCURRENCY = 8

type Finding =
  | { kind: 'missing'; value: Missing }
  | { kind: 'changed'; value: Changed }
  | { kind: 'incomplete'; value: Incomplete }
  | { kind: 'undecodable'; value: Undecodable }

/** Decodes the image at `key` of `storage` (with --decode-images). */
type Decode = (storage: Storage, key: string) => Promise<DecodeResult>

/** Runs `check`; resolves to the exit status (0 clean, 1 problems). */
export async function runCheck(options: CheckOptions, context: CommandContext): Promise<number> {
  const selected = selectEntities(context.entities, options.entities)
  const storageOf = resolveStorages(options.orphans ? context.entities : selected)
  const filter = new KeyFilter(options)
  const references = new References(filter, storageOf, context.entities)
  const report: CheckReport = {
    command: 'check',
    ok: true,
    counts: {
      rows: 0,
      files: 0,
      missing: 0,
      changed: 0,
      incomplete: 0,
      undecodable: 0,
      orphans: 0,
      listed: 0,
      recent: 0,
      decoded: 0,
    },
    missing: [],
    changed: [],
    incomplete: [],
    undecodable: [],
    orphans: [],
    warnings: [],
  }
  const print = (progress: Progress, line: string) => {
    if (!options.json) printLine(context, progress, line)
  }
  const decode = options.decodeImages ? imageDecoder(selected, report) : undefined

  // Rows: stat (and hash) the files of the selected entities.
  for (const entity of selected) {
    const table = new ScanTable(context.dataSource, entity)
    const conditions = [table.anyFile()]
    const progress = progressFor(
      context,
      options.progress,
      entity.name,
      'rows',
      await table.count(conditions, undefined),
    )
    for await (const page of rawPages(table, conditions, options.batchSize)) {
      const tasks = page.flatMap((row) =>
        entity.columns.flatMap((column) => {
          const fields = row.files.get(column)
          return fields && typeof fields.path === 'string' && fields.path !== ''
            ? [{ row, column, fields }]
            : []
        }),
      )
      const findings = await mapLimit(tasks, CONCURRENCY, ({ row, column, fields }) => {
        const storage = storageOf.get(column) as Storage
        references.add(storage, fields.path as string)
        const place: Place = {
          entity: entity.name,
          id: rowId(table, row.key),
          column: column.propertyName,
          storage: column.storage,
          path: fields.path as string,
        }
        return inspect(storage, column, fields, place, options.checksum, decode)
      })
      for (const [index, found] of findings.entries()) {
        const task = tasks[index]
        if (!task) continue
        for (const finding of found) {
          record(report, finding)
          print(progress, describeFinding(finding, entity, task.row))
        }
      }
      report.counts.rows += page.length
      report.counts.files += tasks.length
      progress.tick(page.length)
    }
    progress.done()
  }

  // Orphans: the rows of the other entities only add references, then each storage is listed once.
  if (options.orphans) {
    const others = context.entities.filter((entity) => !selected.includes(entity))
    await collectReferences(
      context.dataSource,
      others,
      references,
      storageOf,
      options.batchSize,
      (entity, total) => progressFor(context, options.progress, `${entity.name} (references)`, 'rows', total),
    )
    const tally: ListingTally = { listed: 0, recent: 0 }
    for (const scan of references.storages) {
      const label = scan.names.join(',')
      if (!scan.storage.list) {
        report.warnings.push(
          `${scan.storage.name} (storage "${label}") cannot list its files: no orphan check there`,
        )
        continue
      }
      const progress = progressFor(context, options.progress, `orphans in ${label}`, 'files')
      for await (const orphan of listOrphans(
        scan,
        filter,
        options.minAgeMs,
        context.now(),
        tally,
        progress,
      )) {
        report.orphans.push({ ...orphan, modifiedAt: orphan.modifiedAt.toISOString() })
        print(
          progress,
          `orphan      ${label}  ${orphan.path} (${formatBytes(orphan.size)}, modified ${orphan.modifiedAt.toISOString()})`,
        )
      }
      progress.done()
    }
    report.counts.listed = tally.listed
    report.counts.recent = tally.recent
  }

  report.counts.missing = report.missing.length
  report.counts.changed = report.changed.length
  report.counts.incomplete = report.incomplete.length
  report.counts.undecodable = report.undecodable.length
  report.counts.orphans = report.orphans.length
  report.ok =
    report.counts.missing + report.counts.changed + report.counts.undecodable + report.counts.orphans === 0
  if (options.json) context.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else {
    for (const warning of report.warnings) context.stderr.write(`warning: ${warning}\n`)
    context.stdout.write(summary(report, selected, options))
  }
  return report.ok ? 0 : 1
}

function record(report: CheckReport, finding: Finding): void {
  if (finding.kind === 'missing') report.missing.push(finding.value)
  else if (finding.kind === 'changed') report.changed.push(finding.value)
  else if (finding.kind === 'undecodable') report.undecodable.push(finding.value)
  else report.incomplete.push(finding.value)
}

/**
 * `--decode-images`: decodes with sharp (loaded now, so that a missing sharp stops the command
 * before any row is read), as many images at a time as there are cores, as variants are made: a
 * decode is CPU-bound, and sharp holds each image's bytes (at most LIMIT_INPUT_BYTES) while it
 * decodes. Counts the images decoded in `report`. `undefined`, with a warning, when no selected
 * entity has an image column.
 */
function imageDecoder(selected: FileEntity[], report: CheckReport): Decode | undefined {
  if (!selected.some((entity) => entity.columns.some((column) => column.image))) {
    report.warnings.push('--decode-images: no selected entity has an @ImageColumn(), nothing to decode')
    return undefined
  }
  loadSharp()
  const decoding = concurrencyLimit(Math.max(1, os.availableParallelism()))
  return async (storage, key) => {
    const result = await decoding.run(() => decodeImage(storage, key))
    report.counts.decoded++
    return result
  }
}

/** What is wrong with one file column of one row, if anything. */
async function inspect(
  storage: Storage,
  column: FileColumnMetadata,
  fields: Record<string, unknown>,
  place: Place,
  checksum: boolean,
  decode: Decode | undefined,
): Promise<Finding[]> {
  const findings: Finding[] = []
  const empty = missingFields(column, fields)
  if (empty.length > 0) findings.push({ kind: 'incomplete', value: { ...place, fields: empty } })

  // Postgres bigint arrives as a string from a raw query.
  const size = fields.size === null || fields.size === undefined ? null : Number(fields.size)
  const sha256 = typeof fields.sha256 === 'string' ? fields.sha256.trim() : null
  try {
    const stat = await storage.stat(place.path)
    const expected = { size, sha256 }
    if (size !== null && stat.size !== size) {
      findings.push({
        kind: 'changed',
        value: { ...place, reason: 'size', expected, actual: { size: stat.size } },
      })
      return findings
    }
    if (checksum && sha256 !== null) {
      const actual = await sha256Of(await storage.open(place.path))
      if (actual !== sha256) {
        findings.push({
          kind: 'changed',
          value: { ...place, reason: 'sha256', expected, actual: { size: stat.size, sha256: actual } },
        })
        return findings
      }
    }
    // Only the row's own file is decoded: a changed one is reported already.
    if (decode && column.image) {
      const result = await decode(storage, place.path)
      if (result.kind === 'undecodable')
        findings.push({ kind: 'undecodable', value: { ...place, reason: result.reason } })
    }
  } catch (error) {
    findings.push({ kind: 'missing', value: { ...place, reason: missingReason(error) } })
  }
  return findings
}

function missingReason(error: unknown): string {
  if (error instanceof FileNotFoundError) return 'not found'
  if (error instanceof UnsafePathError || error instanceof BadPathError) return 'not a safe key'
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return `unreadable (${code ?? (error instanceof Error ? error.message : String(error))})`
}

function describeFinding(finding: Finding, entity: FileEntity, row: RawRow): string {
  const where = `${rowLabel(entity, row.key)}.${finding.value.column}  ${finding.value.path}`
  switch (finding.kind) {
    case 'missing':
      return `missing     ${where}: ${finding.value.reason}`
    case 'changed': {
      const { expected, actual } = finding.value
      return finding.value.reason === 'size'
        ? `changed     ${where}: size ${expected.size} → ${actual.size} bytes`
        : `changed     ${where}: SHA-256 differs (same size, ${formatBytes(actual.size)})`
    }
    case 'incomplete':
      return `incomplete  ${where}: no ${finding.value.fields.join(', ')} (backfill fills them)`
    case 'undecodable':
      return `undecodable ${where}: ${finding.value.reason}`
  }
}

function summary(report: CheckReport, selected: FileEntity[], options: CheckOptions): string {
  const { counts } = report
  const lines = [
    `Checked ${plural(counts.rows, 'row')} (${plural(counts.files, 'file')}${options.decodeImages ? `; decoded ${plural(counts.decoded, 'image')}` : ''}) of ${selected.map((entity) => entity.name).join(', ')}` +
      (options.orphans ? `; listed ${plural(counts.listed, 'stored file')}.` : '.'),
  ]
  const problems = [
    counts.missing && `${counts.missing} missing`,
    counts.changed && `${counts.changed} changed`,
    counts.undecodable && `${counts.undecodable} undecodable`,
    counts.orphans && plural(counts.orphans, 'orphan'),
  ].filter(Boolean)
  lines.push(problems.length > 0 ? `Problems: ${problems.join(', ')}.` : 'No problems.')
  if (counts.incomplete > 0)
    lines.push(
      `Warning: ${plural(counts.incomplete, 'file')} with incomplete metadata; run backfill to fill it.`,
    )
  if (counts.recent > 0)
    lines.push(`Not reported: ${plural(counts.recent, 'unreferenced file')} younger than --min-age.`)
  return `${lines.join('\n')}\n`
}
