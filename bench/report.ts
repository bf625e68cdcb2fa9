/**
 * @module What the bench found: every run's raw numbers, the medians over rounds, the ratios
 * ours/send and ours/nginx, the targets' verdicts, printed as a table and written as JSON.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import {
  type ContenderId,
  RSS_GROWTH_LIMIT,
  SCENARIOS,
  type Scenario,
  type ScenarioId,
  TARGETS,
} from './scenarios'
import type { LoadResult } from './wrk'

const MIB = 1024 * 1024

/** One measured run. */
export interface Run {
  round: number
  scenario: ScenarioId
  contender: ContenderId
  /** The scenario's metric: requests/s or MiB/s. */
  value: number
  result: LoadResult
  /** The sampled server's memory during the run (Node servers only), in bytes. */
  rss?: { pid: number; start: number; peak: number; samples: number }
  command: string
}

/** The medians of one contender in one scenario. */
export interface Median {
  value: number
  p50Ms: number
  p99Ms: number
  /** Bytes. */
  rssPeak?: number
  rounds: number
}

/** A target's outcome: met, missed, or not measured in this run. */
export interface Verdict {
  label: string
  /** The measured ratio (or the RSS growth in MiB). */
  value?: number
  threshold: number
  met?: boolean
  note?: string
}

/** The whole result, as written to bench/results/*.json. */
export interface BenchReport {
  date: string
  machine: Record<string, unknown>
  options: Record<string, unknown>
  notes: string[]
  files: { id: string; size: number; key: string; sha256: string }[]
  idleRss: { ours?: number; send?: number }
  runs: Run[]
  scenarios: {
    id: ScenarioId
    title: string
    metric: string
    connections: number
    tool: string
    medians: Partial<Record<ContenderId, Median>>
    ratios: { oursOverSend?: number; oursOverNginx?: number }
  }[]
  targets: Verdict[]
  skipped: string[]
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/** The medians of every contender of every scenario that ran. */
export function medians(runs: Run[]): Map<ScenarioId, Partial<Record<ContenderId, Median>>> {
  const table = new Map<ScenarioId, Partial<Record<ContenderId, Median>>>()
  for (const run of runs) {
    const row = table.get(run.scenario) ?? {}
    table.set(run.scenario, row)
    if (row[run.contender]) continue
    const same = runs.filter((other) => other.scenario === run.scenario && other.contender === run.contender)
    const peaks = same.flatMap((other) => (other.rss ? [other.rss.peak] : []))
    row[run.contender] = {
      value: median(same.map((other) => other.value)),
      p50Ms: median(same.map((other) => other.result.latencyMs.p50)),
      p99Ms: median(same.map((other) => other.result.latencyMs.p99)),
      rssPeak: peaks.length > 0 ? median(peaks) : undefined,
      rounds: same.length,
    }
  }
  return table
}

/** "ours" of a scenario: its first contender (ours, or ours behind nginx). */
function oursOf(scenario: Scenario): ContenderId {
  return scenario.contenders[0] as ContenderId
}

/** ours/send and ours/nginx of each scenario, from the medians. */
export function ratios(
  scenario: Scenario,
  row: Partial<Record<ContenderId, Median>>,
): { oursOverSend?: number; oursOverNginx?: number } {
  const ours = row[oursOf(scenario)]?.value
  const send = row.send?.value
  const nginx = row.nginx?.value
  return {
    oursOverSend: ours !== undefined && send ? ours / send : undefined,
    oursOverNginx: ours !== undefined && nginx ? ours / nginx : undefined,
  }
}

/**
 * The verdicts of issue 5's targets. The RSS target uses the largest of the 100 MiB medians'
 * peaks (Node streaming) over the idle RSS of the server.
 */
export function verdicts(
  table: Map<ScenarioId, Partial<Record<ContenderId, Median>>>,
  idleRss: number | undefined,
): Verdict[] {
  const verdicts: Verdict[] = TARGETS.map((target) => {
    const value = table.get(target.scenario)?.[target.contender]?.value
    const base = table.get(target.base.scenario)?.[target.base.contender]?.value
    if (value === undefined || !base) {
      return {
        label: target.label,
        threshold: target.factor,
        note: `not measured (needs ${target.scenario} and ${target.base.scenario}/${target.base.contender})`,
      }
    }
    const ratio = value / base
    return { label: target.label, value: ratio, threshold: target.factor, met: ratio >= target.factor }
  })
  const peak = table.get('100m')?.ours?.rssPeak
  const label = 'RSS under 4 × 100 MiB downloads grows < 50 MiB over idle'
  if (peak === undefined || idleRss === undefined) {
    verdicts.push({ label, threshold: RSS_GROWTH_LIMIT / MIB, note: 'not measured (needs 100m)' })
  } else {
    const growth = (peak - idleRss) / MIB
    verdicts.push({
      label,
      value: growth,
      threshold: RSS_GROWTH_LIMIT / MIB,
      met: peak - idleRss < RSS_GROWTH_LIMIT,
      note: `idle ${(idleRss / MIB).toFixed(1)} MiB, peak ${(peak / MIB).toFixed(1)} MiB (median of rounds)`,
    })
  }
  return verdicts
}

/** `1234.5` → `1,235`; small numbers keep a decimal. */
export function formatNumber(value: number | undefined, digits?: number): string {
  if (value === undefined || !Number.isFinite(value)) return '-'
  const fraction = digits ?? (Math.abs(value) >= 100 ? 0 : 1)
  return value.toLocaleString('en-US', { minimumFractionDigits: fraction, maximumFractionDigits: fraction })
}

function ratio(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '-' : `${value.toFixed(2)}x`
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '-' : `${(bytes / MIB).toFixed(1)}`
}

/** Lays out `rows` in columns: the `left` ones left-aligned, the others right-aligned. */
export function layout(rows: string[][], left: readonly number[] = [0]): string {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length)
    })
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (left.includes(i) ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** The table of medians and ratios, one row per scenario (plus the latency of the 1 KiB GET). */
export function resultTable(report: BenchReport): string {
  const rows: string[][] = [
    [
      'scenario',
      'conns',
      'unit',
      'ours',
      'send',
      'nginx',
      'ours/send',
      'ours/nginx',
      'send-1MiB',
      'ours RSS MiB',
    ],
  ]
  for (const entry of report.scenarios) {
    const scenario = SCENARIOS[entry.id]
    const ours = entry.medians[oursOf(scenario)]
    rows.push([
      scenario.title,
      String(scenario.connections),
      scenario.metric,
      formatNumber(ours?.value),
      formatNumber(entry.medians.send?.value),
      formatNumber(entry.medians.nginx?.value),
      ratio(entry.ratios.oursOverSend),
      ratio(entry.ratios.oursOverNginx),
      formatNumber(entry.medians['send-1MiB']?.value),
      mib(ours?.rssPeak),
    ])
    if (scenario.latency) {
      const latency = (median?: Median) =>
        median ? `${formatNumber(median.p50Ms, 2)}/${formatNumber(median.p99Ms, 2)}` : '-'
      rows.push([
        '  latency p50/p99',
        '',
        'ms',
        latency(ours),
        latency(entry.medians.send),
        latency(entry.medians.nginx),
        '',
        '',
        '',
        '',
      ])
    }
    if (scenario.id === 'head' && entry.medians['send-get']) {
      rows.push([
        "  send's 1 KiB GET (ab)",
        String(scenario.connections),
        'req/s',
        '',
        formatNumber(entry.medians['send-get'].value),
        '',
        '',
        '',
        '',
        '',
      ])
    }
  }
  return layout(rows)
}

/** The targets, one line each. */
export function targetLines(report: BenchReport): string {
  const rows = report.targets.map((verdict) => {
    const mark = verdict.met === undefined ? 'n/a ' : verdict.met ? 'MET ' : 'MISS'
    const isRss = verdict.label.startsWith('RSS')
    const measured =
      verdict.value === undefined
        ? ''
        : isRss
          ? `${verdict.value >= 0 ? '+' : ''}${verdict.value.toFixed(1)} MiB (limit ${verdict.threshold} MiB)`
          : `${verdict.value.toFixed(2)}x (needs ${verdict.threshold.toFixed(1)}x)`
    return [`[${mark}]`, verdict.label, measured, verdict.note ?? '']
  })
  return rows.map((row) => row.filter(Boolean).join('  ')).join('\n')
}

/** Writes the report to bench/results/<timestamp>.json and bench/results/latest.json; returns the first path. */
export async function writeReport(report: BenchReport, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true })
  const stamp = report.date.replace(/[:.]/g, '-')
  const file = path.join(dir, `${stamp}.json`)
  const text = `${JSON.stringify(report, null, 2)}\n`
  await writeFile(file, text)
  await writeFile(path.join(dir, 'latest.json'), text)
  return file
}
