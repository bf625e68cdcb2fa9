/**
 * @module `backfill`: fills the NULL metadata of existing rows (size, content type, modification
 * time, SHA-256, and an image column's fields) with the save hook's own fillFileColumns(), a keyset
 * page at a time, each page written in its own short transaction.
 */
import type { EntityManager, ObjectLiteral } from 'typeorm'
import type { FileColumnMetadata } from '../columns/file-column'
import { fillFileColumns } from '../columns/file-column-subscriber'
import { hasFile, type StoredFile } from '../columns/stored-file'
import { mapLimit } from '../concurrency'
import { ConfigurationError } from '../errors'
import type { BackfillOptions } from './args'
import { type CommandContext, plural, printLine, progressFor } from './context'
import {
  columnsOf,
  type FileEntity,
  keyText,
  missingFields,
  parseKey,
  resolveStorages,
  rowId,
  rowLabel,
  ScanTable,
  selectEntities,
} from './scan'

/** Rows described (stat + hash) at once within a page. */
const CONCURRENCY = 4

interface Failure {
  entity: string
  id: unknown
  column: string
  storage: string
  path: string
  reason: string
}

interface EntityTally {
  entity: string
  /** Incomplete rows looked at. */
  rows: number
  /** Rows written. */
  filled: number
  /** File columns that could not be described (their file is missing, say). */
  failed: number
  /** Rows whose path changed while they were being described: left for the next run. */
  skipped: number
  /** The last primary key looked at, as --resume-from takes it; null when there was nothing to do. */
  lastKey: string | null
}

/** The whole result, as `--json` prints it. */
export interface BackfillReport {
  command: 'backfill'
  /** Every incomplete file column could be filled. */
  ok: boolean
  /** Stopped by Ctrl-C after a committed page; resume with the last key. */
  interrupted: boolean
  counts: { rows: number; filled: number; failed: number; skipped: number }
  entities: EntityTally[]
  failed: Failure[]
}

/** One row's outcome: the columns to write, and the columns that failed. */
interface Described {
  row: ObjectLiteral
  key: unknown[]
  values: Map<FileColumnMetadata, StoredFile & { path: string }>
  failures: Failure[]
}

/** Runs `backfill`; resolves to the exit status (0 all filled, 1 some failed, 130 interrupted). */
export async function runBackfill(options: BackfillOptions, context: CommandContext): Promise<number> {
  const selected = selectEntities(context.entities, options.entities)
  resolveStorages(selected)
  if (options.resumeFrom !== undefined && selected.length !== 1) {
    throw new ConfigurationError(
      `--resume-from is a key of one entity: add --entity <name> (one of ${selected.map((entity) => entity.name).join(', ')})`,
    )
  }
  const report: BackfillReport = {
    command: 'backfill',
    ok: true,
    interrupted: false,
    counts: { rows: 0, filled: 0, failed: 0, skipped: 0 },
    entities: [],
    failed: [],
  }

  for (const entity of selected) {
    if (context.signal?.aborted) break
    const tally = await backfillEntity(entity, options, context, report)
    report.entities.push(tally)
    report.counts.rows += tally.rows
    report.counts.filled += tally.filled
    report.counts.failed += tally.failed
    report.counts.skipped += tally.skipped
  }
  report.interrupted = context.signal?.aborted ?? false
  report.ok = report.counts.failed === 0

  if (options.json) context.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else context.stdout.write(summary(report))
  if (report.interrupted) return 130
  return report.ok ? 0 : 1
}

async function backfillEntity(
  entity: FileEntity,
  options: BackfillOptions,
  context: CommandContext,
  report: BackfillReport,
): Promise<EntityTally> {
  const table = new ScanTable(context.dataSource, entity)
  const tally: EntityTally = { entity: entity.name, rows: 0, filled: 0, failed: 0, skipped: 0, lastKey: null }
  // Only rows still incomplete are selected, so a rerun resumes by itself; the keyset moves past
  // rows that cannot be filled, so one run visits each row once.
  const conditions = [table.anyIncomplete()]
  let after = options.resumeFrom === undefined ? undefined : parseKey(table, options.resumeFrom)
  const total = await table.count(conditions, after)
  const progress = progressFor(context, options.progress, entity.name, 'rows', total)
  try {
    for (;;) {
      if (context.signal?.aborted) break
      const rows = await table.rows(conditions, after, options.batchSize)
      if (rows.length === 0) break
      const described = await mapLimit(rows, CONCURRENCY, (row) => describeRow(table, row))
      const written = await context.dataSource.transaction((manager) => writePage(manager, table, described))
      for (const outcome of described) {
        for (const failure of outcome.failures) {
          report.failed.push(failure)
          tally.failed++
          if (!options.json)
            printLine(
              context,
              progress,
              `failed      ${rowLabel(entity, outcome.key)}.${failure.column}  ${failure.path}: ${failure.reason}`,
            )
        }
      }
      tally.rows += rows.length
      tally.filled += written.filled
      tally.skipped += written.skipped
      after = described[described.length - 1]?.key
      if (after) tally.lastKey = keyText(after)
      progress.tick(rows.length)
      if (rows.length < options.batchSize) break
    }
  } finally {
    progress.done()
  }
  return tally
}

/**
 * Fills each incomplete file column of `row` on its own, so that one missing file does not keep the
 * row's other columns from being filled. fillFileColumns() sees a stand-in that holds only that
 * column, and `previous` with the same path: its "same file, incomplete metadata" case.
 */
async function describeRow(table: ScanTable, row: ObjectLiteral): Promise<Described> {
  const key = table.primary.map((column) => column.getEntityValue(row))
  const outcome: Described = { row, key, values: new Map(), failures: [] }
  for (const column of table.entity.columns) {
    const value = row[column.propertyName] as StoredFile | null | undefined
    if (!hasFile(value) || !isIncomplete(column, value)) continue
    const standIn = Object.create(Object.getPrototypeOf(row)) as ObjectLiteral
    standIn[column.propertyName] = value
    try {
      await fillFileColumns(standIn, { [column.propertyName]: { ...value } })
      outcome.values.set(column, value)
    } catch (error) {
      outcome.failures.push({
        entity: table.entity.name,
        id: rowId(table, key),
        column: column.propertyName,
        storage: column.storage,
        path: value.path,
        reason: reasonOf(error),
      })
    }
  }
  return outcome
}

function isIncomplete(column: FileColumnMetadata, value: StoredFile): boolean {
  return missingFields(column, value as unknown as Record<string, unknown>).length > 0
}

/**
 * Writes the metadata columns of each described row, and nothing else: no other column, no
 * `@UpdateDateColumn` or `@VersionColumn` bump, no subscriber. The path is part of the WHERE, so a
 * row whose file was replaced meanwhile keeps its new metadata (and counts as skipped).
 */
async function writePage(
  manager: EntityManager,
  table: ScanTable,
  described: Described[],
): Promise<{ filled: number; skipped: number }> {
  // From the DataSource, not the manager: typeorm 0.3 names it manager.connection, 1.x manager.dataSource.
  const { driver } = table.dataSource
  let filled = 0
  let skipped = 0
  for (const { key, values } of described) {
    if (values.size === 0) continue
    const set: ObjectLiteral = {}
    const parameters: ObjectLiteral = {}
    const where: string[] = []
    table.primary.forEach((column, index) => {
      where.push(`${driver.escape(column.databaseName)} = :key${index}`)
      parameters[`key${index}`] = key[index]
    })
    let index = 0
    for (const [column, value] of values) {
      const fields = value as unknown as Record<string, unknown>
      set[column.propertyName] = Object.fromEntries(
        columnsOf(column)
          .filter(([field]) => field !== 'path')
          .map(([field]) => [field, fields[field] ?? null]),
      )
      where.push(`${driver.escape(table.fieldColumn(column, 'path').databaseName)} = :path${index}`)
      parameters[`path${index}`] = value.path
      index++
    }
    const result = await manager
      .createQueryBuilder()
      .update(table.entity.metadata.target)
      .set(set)
      .where(where.join(' AND '), parameters)
      .callListeners(false)
      .updateEntity(false)
      .execute()
    if (result.affected === 0) skipped++
    else filled++
  }
  return { filled, skipped }
}

function reasonOf(error: unknown): string {
  // fillFileColumns says "Cannot save …"; its cause says what is wrong with the file.
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  return cause instanceof Error ? cause.message : String(cause)
}

function summary(report: BackfillReport): string {
  const lines = report.entities.map((tally) => {
    if (tally.rows === 0) return `${tally.entity}: nothing to fill.`
    const parts = [`${plural(tally.filled, 'row')} filled`]
    if (tally.failed > 0) parts.push(`${plural(tally.failed, 'file')} failed`)
    if (tally.skipped > 0) parts.push(`${plural(tally.skipped, 'row')} skipped (changed meanwhile)`)
    return `${tally.entity}: ${parts.join(', ')}; last key ${tally.lastKey}.`
  })
  if (report.interrupted) {
    const last = report.entities[report.entities.length - 1]
    lines.push(
      last?.lastKey
        ? `Interrupted: resume with --entity ${last.entity} --resume-from ${last.lastKey} (or rerun: only incomplete rows are selected).`
        : 'Interrupted before any page was written.',
    )
  }
  return `${lines.join('\n')}\n`
}
