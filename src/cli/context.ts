/** @module What every command gets from main: the DataSource, the entities, the streams and a clock. */
import type { DataSource } from 'typeorm'
import { createProgress, type Progress, type ProgressStream, silentProgress } from './progress'
import type { FileEntity } from './scan'

/** A stream to print to: `process.stdout`, or a fake in tests. */
export interface OutputStream {
  write(text: string): unknown
}

/** The environment of one command run. */
export interface CommandContext {
  dataSource: DataSource
  /** Every entity of the DataSource that has file columns. */
  entities: FileEntity[]
  stdout: OutputStream
  /** Progress and warnings go here, so that `--json` keeps stdout to one document. */
  stderr: ProgressStream
  /** The clock, in milliseconds. */
  now: () => number
  /** Aborted on the first Ctrl-C: backfill finishes its batch and says where to resume. */
  signal?: AbortSignal
}

/** A Progress on `context.stderr`; a silent one with `--quiet` (`enabled` false) or nothing to do. */
export function progressFor(
  context: CommandContext,
  enabled: boolean,
  title: string,
  unit: string,
  total?: number,
): Progress {
  if (!enabled || total === 0) return silentProgress
  return createProgress({ stream: context.stderr, title, unit, total, now: context.now })
}

/** Prints `line` on stdout, with the progress bar out of its way. */
export function printLine(context: CommandContext, progress: Progress, line: string): void {
  progress.above(() => context.stdout.write(`${line}\n`))
}

/** `1 file`, `3 files`. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? singular : pluralForm}`
}

/** `6 bytes`, `1.5 KiB`, `3.2 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return plural(bytes, 'byte')
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}
