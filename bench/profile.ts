/**
 * @module Reading a `node --cpu-prof` profile: time per function, self and total, in the window of
 * the measured run, with TypeScript locations mapped back through tsx's source maps.
 */
import { readFile } from 'node:fs/promises'
import { findSourceMap, SourceMap } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { layout } from './report'

/** The parts of a .cpuprofile the summary reads. */
export interface CpuProfile {
  nodes: {
    id: number
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
    children?: number[]
  }[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** Time spent in one function (all its call sites merged). */
export interface FunctionTime {
  name: string
  /** `src/views/object-view.ts:123`, `node:internal/…:45`, `node_modules/express/…:67`. */
  location: string
  selfMs: number
  totalMs: number
}

/** The summary of a profile. */
export interface ProfileSummary {
  /** Milliseconds of samples counted (the run's window), and how many samples. */
  totalMs: number
  samples: number
  /** Whether only the samples inside the run's window were counted. */
  windowed: boolean
  idleMs: number
  gcMs: number
  functions: FunctionTime[]
}

/** Source maps by absolute file path: the server's own (dumped at exit), else this process's. */
export type SourceMaps = Record<string, unknown>

function filePath(url: string): string | undefined {
  if (url.startsWith('file://')) return fileURLToPath(url)
  return path.isAbsolute(url) ? url : undefined
}

/** Maps a generated position to `file:line` (1-based), through the source map when there is one. */
function locate(
  url: string,
  line: number,
  column: number,
  root: string,
  maps: SourceMaps,
  cache: Map<string, SourceMap | null>,
): string {
  if (!url) return ''
  const file = filePath(url)
  if (!file) return `${url}:${line + 1}`
  const relative = path.relative(root, file)
  // Our TypeScript only: a package's own maps point at sources it does not ship.
  if (relative.startsWith('..') || relative.split(path.sep).includes('node_modules'))
    return `${relative}:${line + 1}`
  let map = cache.get(file)
  if (map === undefined) {
    const payload = maps[file]
    map = payload
      ? new SourceMap(payload as ConstructorParameters<typeof SourceMap>[0])
      : (findSourceMap(file) ?? null)
    cache.set(file, map)
  }
  if (map) {
    const entry = map.findEntry(line, column) as { originalSource?: string; originalLine?: number }
    if (entry && typeof entry.originalLine === 'number') {
      const source = entry.originalSource ? (filePath(entry.originalSource) ?? file) : file
      return `${path.relative(root, source)}:${entry.originalLine + 1}`
    }
  }
  return `${relative}:${line + 1}`
}

/**
 * Self and total time per function. `window` (monotonic µs, the clock V8 stamps samples with)
 * limits the count to the measured run; when it would leave almost nothing, every sample counts.
 */
export function summarizeProfile(
  profile: CpuProfile,
  options: { root: string; maps?: SourceMaps; window?: { start: number; end: number } },
): ProfileSummary {
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const cache = new Map<string, SourceMap | null>()
  const keys = new Map<number, string>()
  const info = new Map<string, { name: string; location: string }>()
  for (const node of profile.nodes) {
    const frame = node.callFrame
    const key = `${frame.functionName}|${frame.url}|${frame.lineNumber}|${frame.columnNumber}`
    keys.set(node.id, key)
    if (!info.has(key)) {
      info.set(key, {
        name: frame.functionName || '(anonymous)',
        location: locate(
          frame.url,
          frame.lineNumber,
          frame.columnNumber,
          options.root,
          options.maps ?? {},
          cache,
        ),
      })
    }
  }

  // Sample i lasts until sample i + 1 (the next delta); the last one gets the mean.
  const times: number[] = []
  let time = profile.startTime
  for (const delta of profile.timeDeltas) {
    time += delta
    times.push(time)
  }
  const durationOf = (i: number) =>
    i + 1 < times.length
      ? (times[i + 1] as number) - (times[i] as number)
      : (profile.endTime - profile.startTime) / Math.max(1, times.length)
  const inWindow = (i: number) =>
    !options.window ||
    ((times[i] as number) >= options.window.start && (times[i] as number) <= options.window.end)
  let windowed = options.window !== undefined
  if (windowed && profile.samples.filter((_sample, i) => inWindow(i)).length < profile.samples.length * 0.05)
    windowed = false

  const self = new Map<string, number>()
  const total = new Map<string, number>()
  let totalUs = 0
  let samples = 0
  for (let i = 0; i < profile.samples.length; i++) {
    if (windowed && !inWindow(i)) continue
    const duration = durationOf(i)
    const id = profile.samples[i] as number
    totalUs += duration
    samples++
    const own = keys.get(id) as string
    self.set(own, (self.get(own) ?? 0) + duration)
    const seen = new Set<string>()
    for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
      const key = keys.get(node) as string
      if (seen.has(key)) continue
      seen.add(key)
      total.set(key, (total.get(key) ?? 0) + duration)
    }
  }
  const special = (name: string) =>
    [...self.entries()]
      .filter(([key]) => info.get(key)?.name === name)
      .reduce((sum, [, value]) => sum + value, 0) / 1000
  const functions = [...info.entries()].map(([key, { name, location }]) => ({
    name,
    location,
    selfMs: (self.get(key) ?? 0) / 1000,
    totalMs: (total.get(key) ?? 0) / 1000,
  }))
  return {
    totalMs: totalUs / 1000,
    samples,
    windowed,
    idleMs: special('(idle)'),
    gcMs: special('(garbage collector)'),
    functions,
  }
}

/** Reads and summarizes a .cpuprofile file. */
export async function readProfile(
  file: string,
  options: Parameters<typeof summarizeProfile>[1],
): Promise<ProfileSummary> {
  return summarizeProfile(JSON.parse(await readFile(file, 'utf8')) as CpuProfile, options)
}

/** The summary as text: the top `count` functions by self time, and our code (src/) by total time. */
export function formatProfile(summary: ProfileSummary, count = 20): string {
  const percent = (ms: number) => `${((ms / summary.totalMs) * 100).toFixed(1)}%`
  const ms = (value: number) => value.toFixed(0)
  const bySelf = summary.functions
    .filter((entry) => entry.name !== '(root)' && entry.selfMs > 0)
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, count)
  const ours = summary.functions
    .filter((entry) => entry.location.startsWith(`src${path.sep}`) && entry.totalMs > 0)
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, count)
  const where = summary.windowed
    ? 'inside the wrk run'
    : 'over the whole process (the run window could not be matched)'
  const lines = [
    `${summary.samples} samples, ${(summary.totalMs / 1000).toFixed(2)} s of profile ${where}; ` +
      `idle ${percent(summary.idleMs)}, garbage collector ${percent(summary.gcMs)}.`,
    '',
    `Top ${bySelf.length} functions by self time (all code):`,
    layout(
      [
        ['self ms', 'self %', 'function', 'location'],
        ...bySelf.map((entry) => [ms(entry.selfMs), percent(entry.selfMs), entry.name, entry.location]),
      ],
      [2, 3],
    ),
    '',
    `Top ${ours.length} functions of our code (src/) by total time (self + callees):`,
    layout(
      [
        ['total ms', 'total %', 'self ms', 'function', 'location'],
        ...ours.map((entry) => [
          ms(entry.totalMs),
          percent(entry.totalMs),
          ms(entry.selfMs),
          entry.name,
          entry.location,
        ]),
      ],
      [3, 4],
    ),
  ]
  return lines.join('\n')
}
