/**
 * @module What the bench found: every run's raw numbers, the medians over rounds, the ratios of
 * each of ours' contenders (caches off and on) over send and nginx, the targets' verdicts, printed
 * as a table and written as JSON.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import {
  type ContenderId,
  cachedOf,
  SCENARIOS,
  type Scenario,
  type ScenarioId,
  TARGETS,
  uncachedOf,
} from './scenarios'
import type { CacheReport } from './servers/ours'
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
  /** The peak minus the RSS when the run began (what the run itself added), in bytes. */
  rssGrowth?: number
  rounds: number
}

/** A target's outcome: met, missed, or not measured in this run. */
export interface Verdict {
  label: string
  /** What `value` is: a ratio (`x`), or MiB (RSS). */
  unit: 'x' | 'MiB'
  /** The judged contender (ours with the caches on), when the target is about one. */
  contender?: ContenderId
  /** The measured ratio, or MiB (RSS growth; idle RSS over send's). */
  value?: number
  /** The same measure for ours with the caches off: for comparison, not judged. */
  uncached?: { contender: ContenderId; value?: number }
  /** Ratios: at least this; MiB: less than this (RSS growth) or at most this (idle RSS). */
  threshold: number
  met?: boolean
  note?: string
}

/** A contender's median over send's and over nginx's, in the same scenario. */
export interface Ratios {
  overSend?: number
  overNginx?: number
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
    /** Every contender that ran, by id. */
    medians: Partial<Record<ContenderId, Median>>
    /** Each of ours' contenders (`ours`, `ours-cached`, …) over send and nginx. */
    ratios: Partial<Record<ContenderId, Ratios>>
  }[]
  targets: Verdict[]
  /** ours' cache counters after the checks (`verified`) and after the rounds (`end`). */
  caches?: { verified: CacheReport; end: CacheReport }
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
    const growths = same.flatMap((other) => (other.rss ? [other.rss.peak - other.rss.start] : []))
    row[run.contender] = {
      value: median(same.map((other) => other.value)),
      p50Ms: median(same.map((other) => other.result.latencyMs.p50)),
      p99Ms: median(same.map((other) => other.result.latencyMs.p99)),
      rssPeak: peaks.length > 0 ? median(peaks) : undefined,
      rssGrowth: growths.length > 0 ? median(growths) : undefined,
      rounds: same.length,
    }
  }
  return table
}

/** Each of ours' contenders of `scenario` over send and nginx, from the medians. */
export function ratios(
  scenario: Scenario,
  row: Partial<Record<ContenderId, Median>>,
): Partial<Record<ContenderId, Ratios>> {
  const send = row.send?.value
  const nginx = row.nginx?.value
  const result: Partial<Record<ContenderId, Ratios>> = {}
  for (const id of scenario.contenders.filter((contender) => contender.startsWith('ours'))) {
    const ours = row[id]?.value
    if (ours === undefined) continue
    result[id] = {
      overSend: send ? ours / send : undefined,
      overNginx: nginx ? ours / nginx : undefined,
    }
  }
  return result
}

type Table = Map<ScenarioId, Partial<Record<ContenderId, Median>>>

/**
 * The verdicts of the targets (scenarios.ts TARGETS), each on ours with the caches on, with the
 * caches-off figure beside it. RSS growth: the median over rounds of the contender's peak in the
 * scenario, minus ours' idle RSS (both contenders are the same process, sampled during their own
 * runs).
 */
export function verdicts(table: Table, idleRss: { ours?: number; send?: number }): Verdict[] {
  return TARGETS.map((target): Verdict => {
    switch (target.kind) {
      case 'ratio': {
        const base = table.get(target.base.scenario)?.[target.base.contender]?.value
        const of = (id: ContenderId | undefined) => {
          const value = id === undefined ? undefined : table.get(target.scenario)?.[id]?.value
          return value !== undefined && base ? value / base : undefined
        }
        const value = of(target.contender)
        const uncached = target.uncached && { contender: target.uncached, value: of(target.uncached) }
        if (value === undefined)
          return {
            label: target.label,
            unit: 'x',
            contender: target.contender,
            uncached,
            threshold: target.factor,
            note: `not measured (needs ${target.scenario}/${target.contender} and ${target.base.scenario}/${target.base.contender})`,
          }
        return {
          label: target.label,
          unit: 'x',
          contender: target.contender,
          value,
          uncached,
          threshold: target.factor,
          met: value >= target.factor,
        }
      }
      case 'rss-growth': {
        const idle = idleRss.ours
        const growth = (id: ContenderId | undefined) => {
          const peak = id === undefined ? undefined : table.get(target.scenario)?.[id]?.rssPeak
          return peak !== undefined && idle !== undefined ? (peak - idle) / MIB : undefined
        }
        const value = growth(target.contender)
        const uncached = target.uncached && { contender: target.uncached, value: growth(target.uncached) }
        const judged = table.get(target.scenario)?.[target.contender]
        const peak = judged?.rssPeak
        // What the runs themselves added: the rest of the peak is what earlier scenarios left.
        const inRun =
          judged?.rssGrowth === undefined
            ? ''
            : `; within its runs +${(judged.rssGrowth / MIB).toFixed(1)} MiB (peak − RSS at the run's start)`
        return {
          label: target.label,
          unit: 'MiB',
          contender: target.contender,
          value,
          uncached,
          threshold: target.limit / MIB,
          met: value === undefined ? undefined : value * MIB < target.limit,
          note:
            value === undefined || idle === undefined || peak === undefined
              ? `not measured (needs ${target.scenario}/${target.contender})`
              : `idle ${(idle / MIB).toFixed(1)} MiB, peak ${(peak / MIB).toFixed(1)} MiB (median of rounds)${inRun}`,
        }
      }
      default: {
        // 'idle-rss'
        const { ours, send } = idleRss
        if (ours === undefined || send === undefined)
          return {
            label: target.label,
            unit: 'MiB',
            threshold: target.margin / MIB,
            note: 'not measured (needs both Node servers)',
          }
        return {
          label: target.label,
          unit: 'MiB',
          value: (ours - send) / MIB,
          threshold: target.margin / MIB,
          met: ours - send <= target.margin,
          note: `ours ${(ours / MIB).toFixed(1)} MiB, send ${(send / MIB).toFixed(1)} MiB, before any load (one process: caches off and on alike)`,
        }
      }
    }
  })
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

/**
 * The table of medians and ratios, one row per scenario (plus the latency of the 1 KiB GETs): ours
 * with the caches off (`ours`) and on (`cached`), each over send and nginx of the same scenario.
 */
export function resultTable(report: BenchReport): string {
  const rows: string[][] = [
    [
      'scenario',
      'conns',
      'unit',
      'ours',
      'cached',
      'send',
      'nginx',
      'ours/send',
      'cached/send',
      'ours/nginx',
      'cached/nginx',
      'send-1MiB',
      'RSS MiB ours/cached',
    ],
  ]
  for (const entry of report.scenarios) {
    const scenario = SCENARIOS[entry.id]
    const oursId = uncachedOf(scenario)
    const cachedId = cachedOf(scenario)
    const ours = oursId && entry.medians[oursId]
    const cached = cachedId && entry.medians[cachedId]
    const oursRatios = (oursId && entry.ratios[oursId]) || undefined
    const cachedRatios = (cachedId && entry.ratios[cachedId]) || undefined
    rows.push([
      scenario.title,
      String(scenario.connections),
      scenario.metric,
      formatNumber(ours?.value),
      formatNumber(cached?.value),
      formatNumber(entry.medians.send?.value),
      formatNumber(entry.medians.nginx?.value),
      ratio(oursRatios?.overSend),
      ratio(cachedRatios?.overSend),
      ratio(oursRatios?.overNginx),
      ratio(cachedRatios?.overNginx),
      formatNumber(entry.medians['send-1MiB']?.value),
      `${mib(ours?.rssPeak)}/${mib(cached?.rssPeak)}`,
    ])
    if (scenario.latency) {
      const latency = (median?: Median) =>
        median ? `${formatNumber(median.p50Ms, 2)}/${formatNumber(median.p99Ms, 2)}` : '-'
      rows.push([
        '  latency p50/p99',
        '',
        'ms',
        latency(ours),
        latency(cached),
        latency(entry.medians.send),
        latency(entry.medians.nginx),
        '',
        '',
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
        '',
        formatNumber(entry.medians['send-get'].value),
        '',
        '',
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

/** The targets, one line each: the verdict on ours with the caches on, then the caches-off figure. */
export function targetLines(report: BenchReport): string {
  const rows = report.targets.map((verdict) => {
    const mark = verdict.met === undefined ? 'n/a ' : verdict.met ? 'MET ' : 'MISS'
    const show = (value: number | undefined) =>
      value === undefined
        ? '-'
        : verdict.unit === 'MiB'
          ? `${value >= 0 ? '+' : ''}${value.toFixed(1)} MiB`
          : `${value.toFixed(2)}x`
    const needs =
      verdict.unit === 'MiB' ? `limit ${verdict.threshold} MiB` : `needs ${verdict.threshold.toFixed(1)}x`
    const measured =
      verdict.value === undefined
        ? ''
        : `${verdict.contender ? `${verdict.contender} ` : ''}${show(verdict.value)} (${needs})`
    const uncached = verdict.uncached
      ? `cache off (${verdict.uncached.contender}): ${show(verdict.uncached.value)}`
      : ''
    return [`[${mark}]`, verdict.label, measured, uncached, verdict.note ?? '']
  })
  return layout(rows, [0, 1, 2, 3, 4])
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
