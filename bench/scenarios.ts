/**
 * @module The bench's scenarios (issue 5, section 1), the contenders each one runs (ours with the
 * caches of issue 15 off and on), and the targets of issue 15.
 */
import type { BenchFile } from './fixtures'
import type { Expectation } from './http-check'

/** The scenarios, in the order they run within a round. */
export const SCENARIO_IDS = [
  '1k',
  '1k-scoped',
  '1m',
  '100m',
  '304',
  'head',
  'range',
  'x-accel-1m',
  'x-accel-100m',
] as const
export type ScenarioId = (typeof SCENARIO_IDS)[number]

/**
 * Who answers:
 * - `ours`: the demo's ObjectDownloadView by slug (`/object/default-file/:slug/`), Node streams;
 * - `ours-x-accel`: nginx in front of ours, ObjectDownloadView with X-Accel-Redirect;
 * - `ours-scoped`: ours' ObjectDownloadView by slug with a per-request scope (`where`);
 * - `ours-cached`, `ours-x-accel-cached`, `ours-scoped-cached`: the same three views in the same
 *   process with issue 15's caches on (RowCache + ChangeListener; ContentCache except for X-Accel);
 * - `send`, `send-1MiB`: Express 5 + send from disk, with 64 KiB (default) or 1 MiB reads;
 * - `send-get`: send's 1 KiB GET measured with the HEAD scenario's tool (ab), the HEAD target's base;
 * - `nginx`: nginx serving the media root statically.
 */
export const CONTENDER_IDS = [
  'ours',
  'ours-x-accel',
  'ours-scoped',
  'ours-cached',
  'ours-x-accel-cached',
  'ours-scoped-cached',
  'send',
  'send-1MiB',
  'send-get',
  'nginx',
] as const
export type ContenderId = (typeof CONTENDER_IDS)[number]

/** The server process a contender's requests go to. */
export type ServerId = 'ours' | 'send' | 'nginx-static' | 'nginx-proxy'

/** How a contender is reached. */
export interface Contender {
  id: ContenderId
  server: ServerId
  /** The URL path of `file`. */
  path(file: BenchFile): string
  /** The process whose memory is sampled during its runs, if a Node server. */
  rssOf?: 'ours' | 'send'
  /** Overrides the scenario's method (send-get in the HEAD scenario). */
  method?: 'GET'
  /** Ours with issue 15's caches on. */
  cached?: boolean
  /** Ours handing the bytes off to nginx (X-Accel-Redirect). */
  offloaded?: boolean
}

/** `/<key>`, each segment percent-encoded. */
export function keyPath(file: BenchFile): string {
  return `/${file.key.split('/').map(encodeURIComponent).join('/')}`
}

/** The demo's ObjectDownloadView-by-slug route (ROUTES.defaultFile). */
export const OURS_PATH = (file: BenchFile) => `/object/default-file/${encodeURIComponent(file.slug)}/`
/** bench/servers/ours.ts's offloaded route, through nginx. */
export const X_ACCEL_PATH = (file: BenchFile) => `/bench/x-accel/${encodeURIComponent(file.slug)}/`
/** bench/servers/ours.ts's scoped route. */
export const SCOPED_PATH = (file: BenchFile) => `/bench/scoped/${encodeURIComponent(file.slug)}/`
/** bench/servers/ours.ts's CACHED_ROUTE: the demo's view with the row and content caches. */
export const CACHED_PATH = (file: BenchFile) => `/bench/cached/${encodeURIComponent(file.slug)}/`
/** bench/servers/ours.ts's X_ACCEL_CACHED_ROUTE, through nginx. */
export const X_ACCEL_CACHED_PATH = (file: BenchFile) =>
  `/bench/x-accel-cached/${encodeURIComponent(file.slug)}/`
/** bench/servers/ours.ts's SCOPED_CACHED_ROUTE. */
export const SCOPED_CACHED_PATH = (file: BenchFile) =>
  `/bench/scoped-cached/${encodeURIComponent(file.slug)}/`
/** bench/servers/ours.ts's CACHE_STATS_ROUTE. */
export const CACHE_STATS_PATH = '/bench/cache-stats'

export const CONTENDERS: Record<ContenderId, Contender> = {
  ours: { id: 'ours', server: 'ours', path: OURS_PATH, rssOf: 'ours' },
  'ours-x-accel': {
    id: 'ours-x-accel',
    server: 'nginx-proxy',
    path: X_ACCEL_PATH,
    rssOf: 'ours',
    offloaded: true,
  },
  'ours-scoped': { id: 'ours-scoped', server: 'ours', path: SCOPED_PATH, rssOf: 'ours' },
  'ours-cached': { id: 'ours-cached', server: 'ours', path: CACHED_PATH, rssOf: 'ours', cached: true },
  'ours-x-accel-cached': {
    id: 'ours-x-accel-cached',
    server: 'nginx-proxy',
    path: X_ACCEL_CACHED_PATH,
    rssOf: 'ours',
    cached: true,
    offloaded: true,
  },
  'ours-scoped-cached': {
    id: 'ours-scoped-cached',
    server: 'ours',
    path: SCOPED_CACHED_PATH,
    rssOf: 'ours',
    cached: true,
  },
  send: { id: 'send', server: 'send', path: keyPath, rssOf: 'send' },
  'send-1MiB': {
    id: 'send-1MiB',
    server: 'send',
    path: (file) => `/big-chunks${keyPath(file)}`,
    rssOf: 'send',
  },
  'send-get': { id: 'send-get', server: 'send', path: keyPath, rssOf: 'send', method: 'GET' },
  nginx: { id: 'nginx', server: 'nginx-static', path: keyPath },
}

/** What `--profile-route` may name: the 1 KiB GET's contender that `--profile` loads. */
export const PROFILE_ROUTES = ['default', 'cached', 'scoped', 'scoped-cached'] as const
export type ProfileRoute = (typeof PROFILE_ROUTES)[number]

/** The contender each `--profile-route` loads (all of them in ours' process). */
export const PROFILED: Record<ProfileRoute, ContenderId> = {
  default: 'ours',
  cached: 'ours-cached',
  scoped: 'ours-scoped',
  'scoped-cached': 'ours-scoped-cached',
}

/** One byte range in the middle of the 100 MiB file: 1 MiB from offset 50 MiB. */
export const RANGE = { start: 50 * 1024 * 1024, length: 1024 * 1024 } as const

/** A scenario: which file, how, measured by what, and against whom. */
export interface Scenario {
  id: ScenarioId
  title: string
  file: BenchFile['id']
  connections: number
  /** HEAD runs with ab (wrk cannot complete HEAD answers that carry a Content-Length). */
  tool: 'wrk' | 'ab'
  method: 'GET' | 'HEAD'
  kind: 'full' | 'revalidate' | 'head' | 'range'
  metric: 'req/s' | 'MiB/s'
  /** Ask wrk for the latency distribution. */
  latency?: boolean
  /** In run order; ours (cache off) first, then ours with the caches on. */
  contenders: ContenderId[]
  /** Needs nginx (skipped without it). */
  needsNginx?: boolean
}

export const SCENARIOS: Record<ScenarioId, Scenario> = {
  '1k': {
    id: '1k',
    title: '1 KiB GET',
    file: '1k',
    connections: 32,
    tool: 'wrk',
    method: 'GET',
    kind: 'full',
    metric: 'req/s',
    latency: true,
    contenders: ['ours', 'ours-cached', 'send', 'nginx'],
  },
  '1k-scoped': {
    id: '1k-scoped',
    title: '1 KiB GET, scoped (where)',
    file: '1k',
    connections: 32,
    tool: 'wrk',
    method: 'GET',
    kind: 'full',
    metric: 'req/s',
    latency: true,
    contenders: ['ours-scoped', 'ours-scoped-cached'],
  },
  '1m': {
    id: '1m',
    title: '1 MiB GET',
    file: '1m',
    connections: 8,
    tool: 'wrk',
    method: 'GET',
    kind: 'full',
    metric: 'MiB/s',
    contenders: ['ours', 'ours-cached', 'send', 'send-1MiB', 'nginx'],
  },
  '100m': {
    id: '100m',
    title: '100 MiB GET',
    file: '100m',
    connections: 4,
    tool: 'wrk',
    method: 'GET',
    kind: 'full',
    metric: 'MiB/s',
    contenders: ['ours', 'ours-cached', 'send', 'send-1MiB', 'nginx'],
  },
  '304': {
    id: '304',
    title: '304 If-None-Match 1 KiB',
    file: '1k',
    connections: 32,
    tool: 'wrk',
    method: 'GET',
    kind: 'revalidate',
    metric: 'req/s',
    contenders: ['ours', 'ours-cached', 'send', 'nginx'],
  },
  head: {
    id: 'head',
    title: 'HEAD 1 KiB (ab)',
    file: '1k',
    connections: 32,
    tool: 'ab',
    method: 'HEAD',
    kind: 'head',
    metric: 'req/s',
    contenders: ['ours', 'ours-cached', 'send', 'send-get', 'nginx'],
  },
  range: {
    id: 'range',
    title: 'Range 1 MiB @ 50 MiB',
    file: '100m',
    connections: 8,
    tool: 'wrk',
    method: 'GET',
    kind: 'range',
    metric: 'req/s',
    contenders: ['ours', 'send', 'nginx'],
  },
  'x-accel-1m': {
    id: 'x-accel-1m',
    title: 'X-Accel 1 MiB (nginx→ours)',
    file: '1m',
    connections: 8,
    tool: 'wrk',
    method: 'GET',
    kind: 'full',
    metric: 'MiB/s',
    contenders: ['ours-x-accel', 'ours-x-accel-cached', 'nginx'],
    needsNginx: true,
  },
  'x-accel-100m': {
    id: 'x-accel-100m',
    title: 'X-Accel 100 MiB (nginx→ours)',
    file: '100m',
    connections: 4,
    tool: 'wrk',
    method: 'GET',
    kind: 'full',
    metric: 'MiB/s',
    contenders: ['ours-x-accel', 'ours-x-accel-cached', 'nginx'],
    needsNginx: true,
  },
}

/** The request headers of a scenario for a contender (`etag`: that contender's ETag for the file). */
export function requestHeaders(scenario: Scenario, etag?: string): Record<string, string> {
  if (scenario.kind === 'revalidate') {
    if (!etag) throw new Error(`${scenario.id}: no ETag to revalidate with`)
    return { 'If-None-Match': etag }
  }
  if (scenario.kind === 'range') return { Range: `bytes=${RANGE.start}-${RANGE.start + RANGE.length - 1}` }
  return {}
}

/** What a correct answer to the scenario looks like (`rangeSha256`: the SHA-256 of RANGE). */
export function expectation(
  scenario: Scenario,
  contender: Contender,
  file: BenchFile,
  rangeSha256: string,
): Expectation {
  const method = contender.method ?? scenario.method
  if (scenario.kind === 'revalidate') return { status: 304, body: 'empty' }
  if (scenario.kind === 'head' && method === 'HEAD')
    return { status: 200, contentLength: file.size, body: 'empty' }
  if (scenario.kind === 'range') {
    const end = RANGE.start + RANGE.length - 1
    return {
      status: 206,
      contentLength: RANGE.length,
      body: { length: RANGE.length, sha256: rangeSha256 },
      headers: { 'content-range': `bytes ${RANGE.start}-${end}/${file.size}` },
    }
  }
  return { status: 200, contentLength: file.size, body: { length: file.size, sha256: file.sha256 } }
}

/** Ours of a scenario with the caches off: its first `ours…` contender that is not cached. */
export function uncachedOf(scenario: Scenario): ContenderId | undefined {
  return scenario.contenders.find((id) => id.startsWith('ours') && !CONTENDERS[id].cached)
}

/** Ours of a scenario with the caches on. */
export function cachedOf(scenario: Scenario): ContenderId | undefined {
  return scenario.contenders.find((id) => CONTENDERS[id].cached)
}

/**
 * A target of issue 15 ("same run, medians"): judged on `contender` (the caches on), with
 * `uncached` (the same view, caches off) shown beside it for comparison, never judged.
 * - `ratio`: `contender`'s median in `scenario` at least `factor` × `base`'s median;
 * - `rss-growth`: `contender`'s peak RSS in `scenario` (median over rounds) minus ours' idle RSS
 *   under `limit` bytes;
 * - `idle-rss`: ours' idle RSS at most `margin` bytes over send's.
 */
export type Target =
  | {
      kind: 'ratio'
      label: string
      scenario: ScenarioId
      contender: ContenderId
      uncached?: ContenderId
      factor: number
      base: { scenario: ScenarioId; contender: ContenderId }
    }
  | {
      kind: 'rss-growth'
      label: string
      scenario: ScenarioId
      contender: ContenderId
      uncached?: ContenderId
      limit: number
    }
  | { kind: 'idle-rss'; label: string; margin: number }

const MIB = 1024 * 1024

/** Issue 15's targets, in its order; the last one is issue 5's, still held. */
export const TARGETS: Target[] = [
  {
    kind: 'ratio',
    label: '1 KiB GET through ObjectDownloadView, with its lookup, ≥ 1.5× send',
    scenario: '1k',
    contender: 'ours-cached',
    uncached: 'ours',
    factor: 1.5,
    base: { scenario: '1k', contender: 'send' },
  },
  {
    kind: 'ratio',
    label: "304 ≥ 2.0× send's 1 KiB GET",
    scenario: '304',
    contender: 'ours-cached',
    uncached: 'ours',
    factor: 2.0,
    base: { scenario: '1k', contender: 'send' },
  },
  {
    kind: 'ratio',
    label: "HEAD ≥ 2.0× send's 1 KiB GET (both with ab)",
    scenario: 'head',
    contender: 'ours-cached',
    uncached: 'ours',
    factor: 2.0,
    base: { scenario: 'head', contender: 'send-get' },
  },
  {
    kind: 'ratio',
    label: 'X-Accel 1 MiB ≥ 0.9× nginx static',
    scenario: 'x-accel-1m',
    contender: 'ours-x-accel-cached',
    uncached: 'ours-x-accel',
    factor: 0.9,
    base: { scenario: 'x-accel-1m', contender: 'nginx' },
  },
  {
    kind: 'rss-growth',
    label: 'RSS under 4 × 100 MiB downloads grows < 50 MiB over idle',
    scenario: '100m',
    contender: 'ours-cached',
    uncached: 'ours',
    limit: 50 * MIB,
  },
  { kind: 'idle-rss', label: "idle RSS within 10 MiB of send's", margin: 10 * MIB },
  {
    kind: 'ratio',
    label: 'no regression: 1 MiB ≥ 3× send',
    scenario: '1m',
    contender: 'ours-cached',
    uncached: 'ours',
    factor: 3.0,
    base: { scenario: '1m', contender: 'send' },
  },
  {
    kind: 'ratio',
    label: 'no regression: 100 MiB ≥ 1.2× nginx static',
    scenario: '100m',
    contender: 'ours-cached',
    uncached: 'ours',
    factor: 1.2,
    base: { scenario: '100m', contender: 'nginx' },
  },
  {
    kind: 'ratio',
    label: 'X-Accel 100 MiB ≥ 0.9× nginx static (issue 5)',
    scenario: 'x-accel-100m',
    contender: 'ours-x-accel-cached',
    uncached: 'ours-x-accel',
    factor: 0.9,
    base: { scenario: 'x-accel-100m', contender: 'nginx' },
  },
]
