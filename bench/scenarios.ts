/**
 * @module The bench's scenarios (issue 5, section 1), the contenders each one runs, and the targets
 * of issue 5, section 2.
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
 * - `send`, `send-1MiB`: Express 5 + send from disk, with 64 KiB (default) or 1 MiB reads;
 * - `send-get`: send's 1 KiB GET measured with the HEAD scenario's tool (ab), the HEAD target's base;
 * - `nginx`: nginx serving the media root statically.
 */
export const CONTENDER_IDS = [
  'ours',
  'ours-x-accel',
  'ours-scoped',
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

export const CONTENDERS: Record<ContenderId, Contender> = {
  ours: { id: 'ours', server: 'ours', path: OURS_PATH, rssOf: 'ours' },
  'ours-x-accel': { id: 'ours-x-accel', server: 'nginx-proxy', path: X_ACCEL_PATH, rssOf: 'ours' },
  'ours-scoped': { id: 'ours-scoped', server: 'ours', path: SCOPED_PATH, rssOf: 'ours' },
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
  /** In run order; the first is "ours" of the ratios. */
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
    contenders: ['ours', 'send', 'nginx'],
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
    contenders: ['ours-scoped'],
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
    contenders: ['ours', 'send', 'send-1MiB', 'nginx'],
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
    contenders: ['ours', 'send', 'send-1MiB', 'nginx'],
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
    contenders: ['ours', 'send', 'nginx'],
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
    contenders: ['ours', 'send', 'send-get', 'nginx'],
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
    contenders: ['ours-x-accel', 'nginx'],
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
    contenders: ['ours-x-accel', 'nginx'],
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

/** A target of issue 5, section 2: `contender` of `scenario` at least `factor` × `base`. */
export interface Target {
  label: string
  scenario: ScenarioId
  contender: ContenderId
  factor: number
  base: { scenario: ScenarioId; contender: ContenderId }
}

export const TARGETS: Target[] = [
  {
    label: '1 KiB ObjectDownloadView, with its lookup, ≥ 1.0× send',
    scenario: '1k',
    contender: 'ours',
    factor: 1.0,
    base: { scenario: '1k', contender: 'send' },
  },
  {
    label: "304 ≥ 1.5× send's 1 KiB GET",
    scenario: '304',
    contender: 'ours',
    factor: 1.5,
    base: { scenario: '1k', contender: 'send' },
  },
  {
    label: "HEAD ≥ 1.5× send's 1 KiB GET (both with ab)",
    scenario: 'head',
    contender: 'ours',
    factor: 1.5,
    base: { scenario: 'head', contender: 'send-get' },
  },
  {
    label: '1 MiB streamed by Node ≥ 1.4× send',
    scenario: '1m',
    contender: 'ours',
    factor: 1.4,
    base: { scenario: '1m', contender: 'send' },
  },
  {
    label: '100 MiB streamed by Node ≥ 0.9× nginx static',
    scenario: '100m',
    contender: 'ours',
    factor: 0.9,
    base: { scenario: '100m', contender: 'nginx' },
  },
  {
    label: 'X-Accel 1 MiB ≥ 0.9× nginx static',
    scenario: 'x-accel-1m',
    contender: 'ours-x-accel',
    factor: 0.9,
    base: { scenario: 'x-accel-1m', contender: 'nginx' },
  },
  {
    label: 'X-Accel 100 MiB ≥ 0.9× nginx static',
    scenario: 'x-accel-100m',
    contender: 'ours-x-accel',
    factor: 0.9,
    base: { scenario: 'x-accel-100m', contender: 'nginx' },
  },
]

/** The RSS target: under 4 × 100 MiB downloads, ours grows less than this over its idle RSS. */
export const RSS_GROWTH_LIMIT = 50 * 1024 * 1024
