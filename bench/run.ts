/**
 * @module `npm run bench`: ours (the demo's ObjectDownloadView on real Postgres, with issue 15's
 * caches off and on), Express + send, and nginx, on loopback, driven by wrk in turn (A B A B) for
 * several rounds; prints the medians, the ratios and issue 15's targets, and writes
 * bench/results/<timestamp>.json and latest.json. `--profile` CPU-profiles ours under the 1 KiB
 * scenario instead (`--profile-route cached`: with the caches on). See bench/README.md.
 */
import 'reflect-metadata'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { MEDIA_LOCATION } from '../demo/app'
import { createDataSource } from '../ormconfig'
import { Document } from '../entities/Document'
import { LocalStorage, storages } from '../src'
import { notifyChange } from '../src/cache'
import { findAb, runAb } from './ab'
import { type BenchDatabase, openBenchDatabase } from './database'
import { type BenchFile, benchSha256, seedBenchFiles } from './fixtures'
import { mismatches, request } from './http-check'
import { type BenchNginx, findNginx, startNginx } from './nginx'
import { type BenchOptions, OptionError, parseOptions, USAGE } from './options'
import {
  captureOutput,
  checkInterrupted,
  cleanup,
  InterruptedError,
  installSignalHandlers,
  isInterrupted,
  type NodeServer,
  ROOT,
  startNodeServer,
} from './processes'
import { formatProfile, readProfile, type SourceMaps } from './profile'
import {
  type BenchReport,
  formatNumber,
  medians,
  type Run,
  ratios,
  resultTable,
  targetLines,
  verdicts,
  writeReport,
} from './report'
import { RssSampler, readMemory } from './rss'
import {
  CACHE_STATS_PATH,
  CONTENDERS,
  type Contender,
  type ContenderId,
  expectation,
  PROFILED,
  RANGE,
  requestHeaders,
  SCENARIOS,
  type Scenario,
  type ScenarioId,
  type ServerId,
} from './scenarios'
import type { CacheReport } from './servers/ours'
import { findWrk, type LoadResult, runWrk } from './wrk'

const RESULTS_DIR = path.join(ROOT, 'bench', 'results')
const PROFILES_DIR = path.join(ROOT, 'bench', 'profiles')
const MIB = 1024 * 1024

/** Everything a run has started. */
interface Bench {
  options: BenchOptions
  wrk: string
  ab?: string
  nginxBinary?: string
  database: BenchDatabase
  mediaRoot: string
  files: Record<BenchFile['id'], BenchFile>
  rangeSha256: string
  ours: NodeServer
  send?: NodeServer
  nginx?: BenchNginx
  /** ETags for the 304 scenario, by contender. */
  etags: Map<ContenderId, string>
  skipped: string[]
  postgres: string
  /** Where ours writes its source maps at exit (`--profile`). */
  sourceMapsFile?: string
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function portOf(bench: Bench, server: ServerId): number | undefined {
  switch (server) {
    case 'ours':
      return bench.ours.port
    case 'send':
      return bench.send?.port
    case 'nginx-static':
      return bench.nginx?.staticPort
    case 'nginx-proxy':
      return bench.nginx?.proxyPort
  }
}

/** The contenders of `scenario` that can run here (no nginx: no nginx columns). */
function available(bench: Bench, scenario: Scenario): Contender[] {
  if (scenario.tool === 'ab' && !bench.ab) return []
  return scenario.contenders
    .map((id) => CONTENDERS[id])
    .filter((contender) => portOf(bench, contender.server) !== undefined)
}

/** The scenarios of this run that can run here, with a message for each one that cannot. */
function runnableScenarios(bench: Bench): Scenario[] {
  const scenarios: Scenario[] = []
  for (const id of bench.options.only) {
    const scenario = SCENARIOS[id]
    if (scenario.needsNginx && !bench.nginx) {
      bench.skipped.push(`${id}: needs nginx`)
      continue
    }
    if (scenario.tool === 'ab' && !bench.ab) {
      bench.skipped.push(`${id}: needs ab (apt-get install -y apache2-utils)`)
      continue
    }
    scenarios.push(scenario)
  }
  return scenarios
}

/** Creates the bench schema and rows, and returns the files and the server's version. */
async function prepareDatabase(
  database: BenchDatabase,
  mediaRoot: string,
): Promise<{ files: BenchFile[]; postgres: string }> {
  const dataSource = createDataSource(database.url)
  await dataSource.initialize()
  try {
    await dataSource.runMigrations()
    const files = await seedBenchFiles(dataSource, mediaRoot)
    const [row] = (await dataSource.query('SELECT version() AS version')) as { version: string }[]
    return { files, postgres: row?.version ?? 'unknown' }
  } finally {
    await dataSource.destroy()
  }
}

/** One request per scenario and contender, checked (status, length, SHA-256 of the body) before any load. */
async function verifyAnswers(bench: Bench, scenarios: Scenario[]): Promise<void> {
  for (const scenario of scenarios) {
    const file = bench.files[scenario.file]
    for (const contender of available(bench, scenario)) {
      const port = portOf(bench, contender.server) as number
      const url = contender.path(file)
      let etag: string | undefined
      if (scenario.kind === 'revalidate') {
        const first = await request(port, url)
        const problems = mismatches(first, {
          status: 200,
          body: { length: file.size, sha256: file.sha256 },
        })
        etag = typeof first.headers.etag === 'string' ? first.headers.etag : undefined
        if (problems.length > 0 || !etag)
          throw new Error(
            `${scenario.id} / ${contender.id}: GET ${url}: ${[...problems, 'no ETag'].join('; ')}`,
          )
        bench.etags.set(contender.id, etag)
      }
      const method = contender.method ?? scenario.method
      const response = await request(port, url, { method, headers: requestHeaders(scenario, etag) })
      const problems = mismatches(response, expectation(scenario, contender, file, bench.rangeSha256))
      if (problems.length > 0)
        throw new Error(
          `${scenario.id} / ${contender.id}: ${method} ${url} answered wrong: ${problems.join('; ')}`,
        )
    }
  }
}

/**
 * Proves that the X-Accel scenarios measure nginx sending the bytes: ours alone answers with
 * X-Accel-Redirect and no body, and through nginx the body is right and the internal location
 * served it (nginx's log of the marked request names the redirect and the internal URI).
 */
async function verifyOffload(bench: Bench, scenarios: Scenario[]): Promise<void> {
  const nginx = bench.nginx
  if (!nginx) return
  const offloaded = (scenario: Scenario) =>
    available(bench, scenario).filter((contender) => contender.offloaded)
  for (const [scenario, contender] of scenarios.flatMap((entry) =>
    offloaded(entry).map((contender) => [entry, contender] as const),
  )) {
    const file = bench.files[scenario.file]
    const url = contender.path(file)
    const redirect = `${MEDIA_LOCATION}${file.key.split('/').map(encodeURIComponent).join('/')}`
    const direct = await request(bench.ours.port, url)
    const directProblems = mismatches(direct, {
      status: 200,
      body: 'empty',
      headers: { 'x-accel-redirect': redirect },
    })
    if (directProblems.length > 0)
      throw new Error(
        `${scenario.id} / ${contender.id}: ours answered ${url} without offloading: ${directProblems.join('; ')}`,
      )
    const proxied = await request(nginx.proxyPort, url, { headers: { 'X-Bench-Verify': '1' } })
    const problems = mismatches(proxied, {
      status: 200,
      contentLength: file.size,
      body: { length: file.size, sha256: file.sha256 },
    })
    if (proxied.headers['x-accel-redirect']) problems.push('X-Accel-Redirect reached the client')
    let logged = false
    const line = `${url} 200 ${file.size} "${redirect}" ${MEDIA_LOCATION}${file.key}`
    for (let attempt = 0; attempt < 20 && !logged; attempt++) {
      logged = (await nginx.accessLog()).split('\n').includes(line)
      if (!logged) await sleep(50)
    }
    if (!logged) problems.push(`nginx's access log has no line "${line}"`)
    if (problems.length > 0)
      throw new Error(
        `${scenario.id} / ${contender.id}: nginx did not send the file for ours: ${problems.join('; ')}`,
      )
  }
}

/** What ours' caches and their listener have done so far (bench/servers/ours.ts, CACHE_STATS_ROUTE). */
async function cacheReport(bench: Bench): Promise<CacheReport> {
  const response = await fetch(`http://127.0.0.1:${bench.ours.port}${CACHE_STATS_PATH}`)
  if (!response.ok) throw new Error(`GET ${CACHE_STATS_PATH} answered ${response.status}`)
  return (await response.json()) as CacheReport
}

/** Waits until `done(report)` holds, for at most `ms`; the last report. */
async function waitForCaches(
  bench: Bench,
  done: (report: CacheReport) => boolean,
  ms: number,
): Promise<CacheReport> {
  const until = Date.now() + ms
  let report = await cacheReport(bench)
  while (!done(report) && Date.now() < until) {
    await sleep(20)
    report = await cacheReport(bench)
  }
  return report
}

/**
 * Proves that the cached contenders measure the caches: ours' ChangeListener listens; a repeated
 * request of each cached contender is a row-cache hit (no query), and a small full GET is also a
 * content-cache hit (no file-system call); and a change notified through Postgres by another
 * process (this driver, with notifyChange()) drops the row's entries, so the next request
 * queries the database again, and the one after it is a hit again. Returns the counters after it.
 */
async function verifyCaches(bench: Bench, scenarios: Scenario[]): Promise<CacheReport | undefined> {
  const pairs = scenarios.flatMap((scenario) =>
    available(bench, scenario)
      .filter((contender) => contender.cached)
      .map((contender) => [scenario, contender] as const),
  )
  const first = pairs[0]
  if (!first) return undefined
  const start = await cacheReport(bench)
  if (!start.listening) throw new Error("ours' ChangeListener is not listening: its caches serve nothing")
  for (const [scenario, contender] of pairs) {
    const file = bench.files[scenario.file]
    const port = portOf(bench, contender.server) as number
    const url = contender.path(file)
    const method = contender.method ?? scenario.method
    const before = await cacheReport(bench)
    const response = await request(port, url, {
      method,
      headers: requestHeaders(scenario, bench.etags.get(contender.id)),
    })
    const after = await cacheReport(bench)
    const problems = mismatches(response, expectation(scenario, contender, file, bench.rangeSha256))
    if (after.rows.hits <= before.rows.hits || after.rows.misses !== before.rows.misses)
      problems.push(
        `not answered by the row cache (hits ${before.rows.hits} → ${after.rows.hits}, misses ${before.rows.misses} → ${after.rows.misses})`,
      )
    const bytesServed = scenario.kind === 'full' && method === 'GET' && !contender.offloaded
    if (bytesServed && file.size <= after.content.maxFileSize && after.content.hits <= before.content.hits)
      problems.push(
        `bytes not answered by the content cache (hits ${before.content.hits} → ${after.content.hits})`,
      )
    if (problems.length > 0)
      throw new Error(`${scenario.id} / ${contender.id}: ${method} ${url}: ${problems.join('; ')}`)
  }

  // Invalidation through Postgres, as another instance would cause it.
  const [scenario, contender] = first
  const file = bench.files[scenario.file]
  const port = portOf(bench, contender.server) as number
  const url = contender.path(file)
  const fetchOnce = async () => {
    const response = await request(port, url)
    const problems = mismatches(response, { status: 200, body: { length: file.size, sha256: file.sha256 } })
    if (problems.length > 0) throw new Error(`${contender.id}: GET ${url}: ${problems.join('; ')}`)
  }
  const dataSource = createDataSource(bench.database.url)
  await dataSource.initialize()
  try {
    const row = await dataSource.getRepository(Document).findOneByOrFail({ slug: file.slug })
    // The table as notifications name it: schema-qualified (the trigger's TG_TABLE_SCHEMA).
    const [current] = (await dataSource.query('SELECT current_schema() AS schema')) as { schema: string }[]
    const metadata = dataSource.getMetadata(Document)
    const table = `${metadata.schema ?? current?.schema ?? 'public'}.${metadata.tableName}`
    const before = await cacheReport(bench)
    await notifyChange(dataSource.manager, table, String(row.id), 'u')
    const heard = await waitForCaches(
      bench,
      (report) => report.listener.notifications > before.listener.notifications,
      5000,
    )
    if (heard.listener.notifications <= before.listener.notifications)
      throw new Error("ours' ChangeListener did not hear a change notified through Postgres within 5 s")
    if (heard.rows.invalidations <= before.rows.invalidations)
      throw new Error(`a change of ${file.slug}'s row dropped no entry of ours' row cache`)
    await fetchOnce()
    const refilled = await cacheReport(bench)
    if (refilled.rows.misses <= heard.rows.misses || refilled.rows.stores <= heard.rows.stores)
      throw new Error(`${contender.id}: after the change, ${url} did not go back to the database`)
    await fetchOnce()
    const again = await cacheReport(bench)
    if (again.rows.hits <= refilled.rows.hits)
      throw new Error(`${contender.id}: after the change, ${url} was not cached again`)
    return again
  } finally {
    await dataSource.destroy()
  }
}

/** One load run of `contender` in `scenario`. */
function load(bench: Bench, scenario: Scenario, contender: Contender, seconds: number): Promise<LoadResult> {
  const port = portOf(bench, contender.server) as number
  const url = `http://127.0.0.1:${port}${contender.path(bench.files[scenario.file])}`
  const headers = requestHeaders(scenario, bench.etags.get(contender.id))
  if (scenario.tool === 'ab') {
    return runAb({
      binary: bench.ab as string,
      url,
      connections: scenario.connections,
      durationSeconds: seconds,
      method: contender.method ?? scenario.method,
      headers,
    })
  }
  return runWrk({
    binary: bench.wrk,
    url,
    connections: scenario.connections,
    threads: bench.options.threads,
    durationSeconds: seconds,
    headers,
    latency: scenario.latency,
  })
}

function serverOf(bench: Bench, contender: Contender): NodeServer | undefined {
  return contender.rssOf === 'ours' ? bench.ours : contender.rssOf === 'send' ? bench.send : undefined
}

/** Fails loudly when a Node server died during a run. */
function checkAlive(bench: Bench): void {
  for (const server of [bench.ours, bench.send]) {
    if (server && (server.child.exitCode !== null || server.child.signalCode !== null))
      throw new Error(`${server.name} exited during the bench:\n${server.output}`)
  }
}

/** The rounds: in each, every scenario, and in each scenario every contender in turn (A B A B). */
async function measure(bench: Bench, scenarios: Scenario[]): Promise<{ runs: Run[]; failures: string[] }> {
  const runs: Run[] = []
  const failures: string[] = []
  const failed = new Set<ScenarioId>()
  for (let round = 1; round <= bench.options.rounds; round++) {
    for (const scenario of scenarios) {
      if (failed.has(scenario.id)) continue
      for (const contender of available(bench, scenario)) {
        checkInterrupted()
        const server = serverOf(bench, contender)
        const sampler = server ? new RssSampler(server.pid) : undefined
        await sampler?.begin()
        let result: LoadResult
        try {
          result = await load(bench, scenario, contender, bench.options.duration)
        } catch (error) {
          await sampler?.end()
          checkInterrupted()
          checkAlive(bench)
          const message = `round ${round}, ${scenario.id} / ${contender.id}: ${(error as Error).message}`
          console.error(`\n*** SCENARIO ${scenario.id} FAILED ***\n${message}\n`)
          failures.push(message)
          failed.add(scenario.id)
          break
        }
        const rss = await sampler?.end()
        checkAlive(bench)
        const value = scenario.metric === 'req/s' ? result.requestsPerSecond : result.mibPerSecond
        runs.push({
          round,
          scenario: scenario.id,
          contender: contender.id,
          value,
          result,
          rss: rss && server ? { pid: server.pid, ...rss } : undefined,
          command: `${scenario.tool} ${scenario.connections} connections ${contender.method ?? scenario.method} ${contender.path(bench.files[scenario.file])}`,
        })
        const latency = scenario.latency
          ? `  p50 ${result.latencyMs.p50.toFixed(2)} ms  p99 ${result.latencyMs.p99.toFixed(2)} ms`
          : ''
        const memory = rss ? `  RSS peak ${(rss.peak / MIB).toFixed(1)} MiB` : ''
        console.log(
          `round ${round}/${bench.options.rounds}  ${scenario.id.padEnd(12)} ${contender.id.padEnd(19)} ` +
            `${formatNumber(value).padStart(9)} ${scenario.metric}${latency}${memory}`,
        )
        // Let sockets in TIME_WAIT and the servers' timers settle between runs.
        await sleep(500)
      }
    }
  }
  return { runs, failures }
}

async function machineInfo(bench: Bench): Promise<Record<string, unknown>> {
  const cpus = os.cpus()
  const firstLine = (text: string) => text.split('\n')[0]?.trim() ?? ''
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Number((os.totalmem() / 1024 ** 3).toFixed(1)),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    // Other work on the machine skews every number: the 1, 5 and 15 minute load when the bench began.
    loadAverage: os.loadavg().map((value) => Number(value.toFixed(2))),
    node: process.version,
    nginx: bench.nginxBinary ? firstLine(await captureOutput(bench.nginxBinary, ['-v'])) : 'nginx absent',
    wrk: firstLine(await captureOutput(bench.wrk, ['-v'])),
    ab: bench.ab ? firstLine(await captureOutput(bench.ab, ['-V'])) : 'ab absent',
    postgres: bench.postgres,
    database: bench.database.description,
    commit: firstLine(await captureOutput('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])),
    // What was measured: the commit, plus any uncommitted change to the library.
    uncommittedInSrc: (await captureOutput('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src']))
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean),
  }
}

function sharedCoresNote(bench: Bench): string {
  return (
    `wrk (${bench.options.threads} threads), ab and every server share this machine's ${os.cpus().length} cores: ` +
    'the numbers compare the servers here, they are not what each could do alone.'
  )
}

/** The measured bench: verify, warm up, run the rounds, print and write the report. */
async function runBench(bench: Bench): Promise<number> {
  const wanted = bench.options.only.map((id) => SCENARIOS[id])
  if (wanted.some((scenario) => scenario.contenders.some((id) => CONTENDERS[id].server === 'send')))
    bench.send = await startNodeServer({
      name: 'send',
      script: 'bench/servers/send.ts',
      env: { MEDIA_ROOT: bench.mediaRoot },
    })
  if (bench.nginxBinary) {
    bench.nginx = await startNginx({
      binary: bench.nginxBinary,
      mediaRoot: bench.mediaRoot,
      appPort: bench.ours.port,
      workers: bench.options.nginxWorkers,
    })
  }
  const scenarios = runnableScenarios(bench)
  for (const line of bench.skipped) console.log(`skipped: ${line}`)
  const machine = await machineInfo(bench)
  console.log(
    `\nmachine: ${machine.cpus} × ${machine.cpuModel}, ${machine.os}, node ${machine.node}, ${machine.nginx}, ${machine.wrk}`,
  )
  console.log(`database: ${bench.database.description}; media: ${path.relative(ROOT, bench.mediaRoot)}/`)
  const dirty = (machine.uncommittedInSrc as string[]).length
  console.log(
    `code: commit ${machine.commit}${dirty > 0 ? ` with ${dirty} uncommitted change(s) in src/` : ''}`,
  )
  console.log(`note: ${sharedCoresNote(bench)}\n`)

  console.log('checking every answer once …')
  await verifyAnswers(bench, scenarios)
  await verifyOffload(bench, scenarios)
  const verifiedCaches = await verifyCaches(bench, scenarios)
  console.log('every server answers every scenario correctly (status, length, SHA-256 of the body)')
  if (bench.nginx && scenarios.some((scenario) => scenario.contenders.some((id) => CONTENDERS[id].offloaded)))
    console.log('X-Accel: ours answers with X-Accel-Redirect and no body; nginx sent the file (access log)')
  if (verifiedCaches)
    console.log(
      'caches: a repeated request of each cached contender is a row-cache hit (and a small GET a content-cache hit); ' +
        'a change notified through Postgres dropped the row, the next request queried again',
    )

  await sleep(1000)
  const idleOurs = (await readMemory(bench.ours.pid))?.rss
  const idleSend = bench.send ? (await readMemory(bench.send.pid))?.rss : undefined
  console.log(
    `idle RSS: ours ${formatNumber((idleOurs ?? Number.NaN) / MIB)} MiB, send ${formatNumber((idleSend ?? Number.NaN) / MIB)} MiB`,
  )

  if (bench.options.warmup > 0) {
    console.log(`warming up (${bench.options.warmup} s of 1 KiB GET per server, not recorded) …`)
    for (const contender of available(bench, SCENARIOS['1k'])) {
      checkInterrupted()
      await load(bench, SCENARIOS['1k'], contender, bench.options.warmup)
    }
  }
  console.log(
    `\n${bench.options.rounds} rounds × ${scenarios.length} scenarios, ${bench.options.duration} s per run:`,
  )
  const { runs, failures } = await measure(bench, scenarios)
  const endCaches = verifiedCaches ? await cacheReport(bench) : undefined
  // Other work on the machine during the rounds: the load when they ended (compare with the start).
  machine.loadAverageAtEnd = os.loadavg().map((value) => Number(value.toFixed(2)))

  const table = medians(runs)
  const report: BenchReport = {
    date: new Date().toISOString(),
    machine,
    options: { ...bench.options },
    notes: [
      sharedCoresNote(bench),
      "Medians over rounds. MiB/s is wrk's bytes read per second (headers included) / 2^20.",
      'HEAD is driven with ab: wrk 4.1 never completes a HEAD answer that carries a Content-Length.',
      'send-1MiB: send with highWaterMark 1 MiB (64 KiB by default), informational.',
      'X-Accel rows: ours = nginx in front of ours, ObjectDownloadView answering X-Accel-Redirect; nginx = nginx static.',
      "ours-*-cached: the same views in the same process with issue 15's caches on (RowCache kept by a ChangeListener; ContentCache except for X-Accel); targets are judged on them, the caches-off figures are for comparison.",
    ],
    files: Object.values(bench.files).map(({ id, size, key, sha256 }) => ({ id, size, key, sha256 })),
    idleRss: { ours: idleOurs, send: idleSend },
    runs,
    scenarios: scenarios
      .filter((scenario) => table.has(scenario.id))
      .map((scenario) => {
        const row = table.get(scenario.id) ?? {}
        return {
          id: scenario.id,
          title: scenario.title,
          metric: scenario.metric,
          connections: scenario.connections,
          tool: scenario.tool,
          medians: row,
          ratios: ratios(scenario, row),
        }
      }),
    targets: verdicts(table, { ours: idleOurs, send: idleSend }),
    caches: verifiedCaches && endCaches ? { verified: verifiedCaches, end: endCaches } : undefined,
    skipped: [...bench.skipped, ...failures.map((failure) => `FAILED: ${failure}`)],
  }
  const file = await writeReport(report, RESULTS_DIR)
  console.log(`\nMedians of ${bench.options.rounds} rounds (${report.date}; ${sharedCoresNote(bench)})`)
  console.log(
    `load average (1, 5, 15 min) at the start: ${(machine.loadAverage as number[]).join(', ')}; at the end: ${(machine.loadAverageAtEnd as number[]).join(', ')}\n`,
  )
  console.log(resultTable(report))
  console.log(
    `\nidle RSS: ours ${formatNumber((idleOurs ?? Number.NaN) / MIB)} MiB, send ${formatNumber((idleSend ?? Number.NaN) / MIB)} MiB`,
  )
  if (verifiedCaches && endCaches) {
    const { rows, content } = endCaches
    console.log(
      `caches over the rounds: rows ${formatNumber(rows.hits - verifiedCaches.rows.hits, 0)} hits, ` +
        `${formatNumber(rows.misses - verifiedCaches.rows.misses, 0)} misses ` +
        `(${formatNumber(rows.expirations - verifiedCaches.rows.expirations, 0)} expirations); ` +
        `content ${formatNumber(content.hits - verifiedCaches.content.hits, 0)} hits, ` +
        `${formatNumber(content.misses - verifiedCaches.content.misses, 0)} misses`,
    )
  }
  console.log(
    '\nTargets (issue 15; judged on ours with the caches on, the caches-off figure for comparison):',
  )
  console.log(targetLines(report))
  for (const line of report.skipped) console.log(`skipped: ${line}`)
  console.log(`\nwritten: ${path.relative(ROOT, file)} and bench/results/latest.json`)
  return failures.length > 0 ? 1 : 0
}

/**
 * `--profile`: ours under `node --cpu-prof`, one 1 KiB run on the route `--profile-route` names
 * (the demo's, caches off, by default), then the profile's top functions.
 */
async function runProfile(bench: Bench): Promise<number> {
  const scenario = SCENARIOS['1k']
  const route = bench.options.profileRoute
  const ours = CONTENDERS[PROFILED[route]]
  const profiled = { ...scenario, contenders: [ours.id] }
  await verifyAnswers(bench, [profiled])
  await verifyCaches(bench, [profiled])
  if (bench.options.warmup > 0) {
    console.log(`warming up (${bench.options.warmup} s, not profiled in the summary) …`)
    await load(bench, scenario, ours, bench.options.warmup)
  }
  const hrtimeUs = () => Number(process.hrtime.bigint() / 1000n)
  console.log(`profiling: wrk ${scenario.connections} connections, ${bench.options.duration} s …`)
  const start = hrtimeUs()
  const result = await load(bench, scenario, ours, bench.options.duration)
  const end = hrtimeUs()
  console.log(
    `${formatNumber(result.requestsPerSecond)} req/s under the profiler, p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms`,
  )
  const caches = ours.cached ? await cacheReport(bench) : undefined
  const pid = bench.ours.pid
  await bench.ours.stop()
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (1 is the
  // thread of tsx's module hooks).
  const mainThread = new RegExp(`\\.${pid}\\.0\\.\\d+\\.cpuprofile$`)
  const names = (await readdir(PROFILES_DIR)).filter((name) => mainThread.test(name))
  const name = names.sort().at(-1)
  if (!name)
    throw new Error(`ours (pid ${pid}) wrote no .cpuprofile to ${path.relative(ROOT, PROFILES_DIR)}/`)
  const maps = bench.sourceMapsFile
    ? (JSON.parse(await readFile(bench.sourceMapsFile, 'utf8').catch(() => '{}')) as SourceMaps)
    : {}
  const summary = await readProfile(path.join(PROFILES_DIR, name), {
    root: ROOT,
    maps,
    window: { start, end },
  })
  const machine = await machineInfo(bench)
  const text = [
    `CPU profile of ours (node --cpu-prof) under the 1 KiB scenario: GET ${ours.path(bench.files['1k'])} ` +
      `(--profile-route ${route}: ${ours.id}, caches ${ours.cached ? 'on' : 'off'}), ` +
      `wrk ${scenario.connections} connections, ${bench.options.duration} s, ${new Date().toISOString()}`,
    `machine: ${machine.cpus} × ${machine.cpuModel}, node ${machine.node}; ${machine.postgres}`,
    `under the profiler: ${formatNumber(result.requestsPerSecond)} req/s (the profiler costs some)`,
    `code: commit ${machine.commit}${(machine.uncommittedInSrc as string[]).length > 0 ? `, uncommitted in src/: ${(machine.uncommittedInSrc as string[]).join(', ')}` : ''}`,
    ...(caches
      ? [
          `caches at the end: rows ${caches.rows.hits} hits, ${caches.rows.misses} misses; ` +
            `content ${caches.content.hits} hits, ${caches.content.misses} misses`,
        ]
      : []),
    `profile: bench/profiles/${name} (the wrk run: process.hrtime µs ${start} to ${end}; source maps: ${bench.sourceMapsFile ? path.relative(ROOT, bench.sourceMapsFile) : 'none'})`,
    `note: ${sharedCoresNote(bench)}`,
    '',
    formatProfile(summary),
    '',
  ].join('\n')
  console.log(`\n${text}`)
  await mkdir(RESULTS_DIR, { recursive: true })
  await writeFile(path.join(RESULTS_DIR, 'profile-latest.txt'), text)
  await writeFile(path.join(RESULTS_DIR, `profile-${route}.txt`), text)
  console.log(`written: bench/results/profile-latest.txt and bench/results/profile-${route}.txt`)
  return 0
}

async function main(): Promise<number> {
  let options: BenchOptions
  try {
    options = parseOptions(process.argv.slice(2), process.env)
  } catch (error) {
    if (!(error instanceof OptionError)) throw error
    console.error(`${error.message}\n\n${USAGE}`)
    return 2
  }
  if (options.help) {
    console.log(USAGE)
    return 0
  }
  installSignalHandlers((signal) => console.error(`\n${signal}: stopping the servers and cleaning up …`))

  const wrk = findWrk()
  if (!wrk) {
    console.error(
      'wrk is not installed, and the bench cannot run without it.\n' +
        'Install it (Debian/Ubuntu): sudo apt-get install -y wrk   (or set WRK=/path/to/wrk)',
    )
    return 1
  }
  const nginxBinary = findNginx()
  if (!nginxBinary) {
    console.warn(
      'nginx is not installed: the nginx columns and the X-Accel scenarios are skipped.\n' +
        'Install it (Debian/Ubuntu): sudo apt-get install -y nginx-light   (or nginx; or set NGINX=/path/to/nginx)',
    )
  }
  const ab = findAb()
  if (!ab && options.only.includes('head') && !options.profile) {
    console.warn(
      'ab (ApacheBench) is not installed: the HEAD scenario is skipped (wrk cannot complete HEAD answers).\n' +
        'Install it (Debian/Ubuntu): sudo apt-get install -y apache2-utils',
    )
  }

  const mediaRoot = path.resolve(process.env.BENCH_MEDIA_ROOT ?? path.join(ROOT, '.data', 'bench-media'))
  await mkdir(mediaRoot, { recursive: true })
  await mkdir(PROFILES_DIR, { recursive: true })
  storages.register('default', new LocalStorage({ root: mediaRoot }))
  const database = await openBenchDatabase()
  checkInterrupted()
  const prepared = await prepareDatabase(database, mediaRoot)
  const files = Object.fromEntries(prepared.files.map((file) => [file.id, file])) as Bench['files']
  checkInterrupted()

  const profiling = options.profile
  const sourceMapsFile = profiling ? path.join(PROFILES_DIR, `sourcemaps-${Date.now()}.json`) : undefined
  const oursServer = await startNodeServer({
    name: 'ours',
    script: 'bench/servers/ours.ts',
    env: {
      BENCH_DATABASE_URL: database.url,
      MEDIA_ROOT: mediaRoot,
      ...(sourceMapsFile ? { BENCH_SOURCE_MAPS: sourceMapsFile } : {}),
    },
    nodeFlags: profiling ? ['--cpu-prof', '--cpu-prof-dir', PROFILES_DIR] : [],
  })
  const bench: Bench = {
    options,
    wrk,
    ab,
    nginxBinary,
    database,
    mediaRoot,
    files,
    rangeSha256: benchSha256(files['100m'].size, RANGE.start, RANGE.length),
    ours: oursServer,
    etags: new Map(),
    skipped: nginxBinary ? [] : ['nginx columns and X-Accel scenarios: nginx is not installed'],
    postgres: prepared.postgres,
    sourceMapsFile,
  }
  return profiling ? runProfile(bench) : runBench(bench)
}

main()
  .then(
    (code) => code,
    (error: unknown) => {
      if (error instanceof InterruptedError || isInterrupted()) return 130
      console.error(
        `\nbench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      )
      return 1
    },
  )
  .then(async (code) => {
    await cleanup()
    process.exit(code)
  })
