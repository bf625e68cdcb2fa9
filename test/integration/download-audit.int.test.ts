/**
 * The demo's download audit on real Postgres: the document routes' onDownload events written to
 * `download_event` through the bounded queue, the index page's per-document counts, `npm run
 * downloads`; and a database that stops answering (a fault proxy gone silent), which holds up no
 * download: events beyond the queue are dropped and counted, and the writer catches up afterwards.
 */
import { execFile } from 'node:child_process'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type { DataSource } from 'typeorm'
import { buildApp } from '../../demo/app'
import { DownloadAudit, type DownloadSummary } from '../../demo/download-audit'
import { DownloadEventRecord } from '../../entities/DownloadEventRecord'
import { createDataSource } from '../../ormconfig'
import { type LocalStorage, storages } from '../../src'
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy'
import { exchange } from '../helpers/http-client'
import { settle } from '../helpers/process-stats'
import { type SeededDemo, seededDemo } from '../helpers/seeded-demo'

const REPOSITORY = path.join(__dirname, '../..')
const HELLO = '/object/default-file/hello-world/'

let demo: SeededDemo<LocalStorage>
let proxy: FaultProxy
let server: Server | undefined

beforeAll(async () => {
  demo = await seededDemo()
  const url = new URL(databaseUrl())
  proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port || 5432) })
})

afterAll(async () => {
  await proxy?.close()
  await demo?.close()
  storages.clear()
})

beforeEach(async () => {
  await demo.dataSource.query('DELETE FROM "download_event"')
})

afterEach(async () => {
  await proxy.forward()
  if (server) {
    server.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve))
    server = undefined
  }
})

const databaseUrl = () => (demo.dataSource.options as { url: string }).url

/** The test database's URL through the fault proxy. */
function proxiedUrl(): string {
  const url = new URL(databaseUrl())
  url.port = String(proxy.port)
  return url.toString()
}

/** The demo app with `audit`, listening on loopback; its port. */
async function start(audit: DownloadAudit): Promise<number> {
  server = buildApp(demo.dataSource, { audit }).listen(0, '127.0.0.1')
  await new Promise((resolve) => server?.once('listening', resolve))
  return (server.address() as AddressInfo).port
}

/** Waits until `audit` has written `count` events (or lost them with a failed batch). */
async function writtenOrLost(audit: DownloadAudit, count: number): Promise<void> {
  const stats = await settle(
    () => audit.stats(),
    (now) => now.written + now.failed >= count,
  )
  if (stats.written + stats.failed < count)
    throw new Error(`the audit wrote ${stats.written} and lost ${stats.failed} of ${count} events`)
}

/** Runs `npm run downloads -- --json` (its script, as npm runs it) on the test database. */
function downloadsScript(): Promise<DownloadSummary[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'demo/downloads.ts', '--json'],
      { cwd: REPOSITORY, timeout: 30_000, env: { ...process.env, DATABASE_URL: databaseUrl() } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`npm run downloads failed: ${stderr}`, { cause: error }))
        else resolve(JSON.parse(stdout) as DownloadSummary[])
      },
    )
  })
}

describe('the demo download audit', () => {
  describe('on a database that answers', () => {
    it('writes one row per answer of a document route', async () => {
      const audit = new DownloadAudit(demo.dataSource)
      const port = await start(audit)
      await exchange({ port, path: HELLO })
      await exchange({ port, path: HELLO, headers: { Range: 'bytes=0-4' } })
      await exchange({ port, path: HELLO, method: 'HEAD' })
      await writtenOrLost(audit, 3)
      const rows = await demo.dataSource.getRepository(DownloadEventRecord).find({ order: { id: 'ASC' } })
      const common = {
        route: '/object/default-file/:slug/',
        slug: 'hello-world',
        complete: true,
        handedOff: false,
      }
      expect(rows).toMatchObject([
        { ...common, method: 'GET', status: 200, bytes: 13 },
        { ...common, method: 'GET', status: 206, bytes: 5 },
        { ...common, method: 'HEAD', status: 200, bytes: 0 },
      ])
      expect(rows[0]?.at).toBeInstanceOf(Date)
      expect(rows[0]?.durationMs).toBeGreaterThanOrEqual(0)
      expect(audit.stats()).toEqual({ queued: 0, written: 3, dropped: 0, failed: 0 })
    })

    it('shows each document’s downloads on the index page', async () => {
      const audit = new DownloadAudit(demo.dataSource)
      const port = await start(audit)
      await exchange({ port, path: HELLO })
      await exchange({ port, path: '/object/inline-file/hello-world/' })
      await exchange({ port, path: HELLO, method: 'HEAD' })
      await exchange({ port, path: '/object/default-file/unicode/' })
      await writtenOrLost(audit, 4)
      const page = (await exchange({ port, path: '/' })).body.toString()
      const downloadsOf = (slug: string) =>
        new RegExp(`<strong>${slug}</strong>.*?<span class="downloads">(\\d+)</span>`).exec(page)?.[1]
      // Two GETs of hello-world (by two routes); the HEAD is not a download.
      expect(downloadsOf('hello-world')).toBe('2')
      expect(downloadsOf('unicode')).toBe('1')
      expect(downloadsOf('random-1m')).toBe('0')
    })

    it('prints the downloads per document with npm run downloads', async () => {
      const audit = new DownloadAudit(demo.dataSource)
      const port = await start(audit)
      await exchange({ port, path: HELLO })
      await exchange({ port, path: HELLO, headers: { Range: 'bytes=0-4' } })
      await exchange({ port, path: '/object/default-file/unicode/' })
      await writtenOrLost(audit, 3)
      const rows = await downloadsScript()
      expect(rows).toMatchObject([
        { slug: 'hello-world', downloads: 2, complete: 2, bytes: 18, handedOff: 0 },
        { slug: 'unicode', downloads: 1, complete: 1, handedOff: 0 },
      ])
    })
  })

  describe('on a database that stops answering', () => {
    const MAX_QUEUE = 5
    const DOWNLOADS = 40

    it('holds up no download, drops and counts what the queue cannot hold, then catches up', async () => {
      // The audit writes through the proxy; the lookups go straight to the database.
      const auditDataSource: DataSource = createDataSource(proxiedUrl())
      await auditDataSource.initialize()
      try {
        const audit = new DownloadAudit(auditDataSource, {
          maxQueue: MAX_QUEUE,
          logger: { error: () => undefined },
        })
        const port = await start(audit)
        await exchange({ port, path: HELLO })
        await writtenOrLost(audit, 1)
        await proxy.silence()

        const slowest = { ms: 0 }
        const started = performance.now()
        for (let i = 0; i < DOWNLOADS; i++) {
          const before = performance.now()
          const response = await exchange({ port, path: HELLO }, { timeoutMs: 5000 })
          slowest.ms = Math.max(slowest.ms, performance.now() - before)
          expect([response.status, response.complete, response.body.toString()]).toEqual([
            200,
            true,
            'Hello world!\n',
          ])
        }
        const total = performance.now() - started
        // Each download as quick as with no audit: none waits for the silent database.
        expect(slowest.ms).toBeLessThan(1000)
        expect(total).toBeLessThan(10_000)

        // One event is with the writer, stuck in its INSERT; the queue holds MAX_QUEUE; the rest dropped.
        const held = await settle(
          () => audit.stats(),
          (stats) => stats.dropped + stats.queued >= DOWNLOADS - 1,
        )
        expect(held).toEqual({ queued: MAX_QUEUE, written: 1, dropped: DOWNLOADS - 1 - MAX_QUEUE, failed: 0 })

        // The database answers again: the writer finishes its batch, then empties the queue.
        await proxy.forward()
        await writtenOrLost(audit, 1 + 1 + MAX_QUEUE)
        const after = audit.stats()
        expect(after.queued).toBe(0)
        expect(after.dropped).toBe(DOWNLOADS - 1 - MAX_QUEUE)
        expect(after.written + after.failed).toBe(1 + 1 + MAX_QUEUE)
        const [{ count }] = await demo.dataSource.query('SELECT count(*)::int AS count FROM "download_event"')
        expect(count).toBe(after.written)
      } finally {
        await proxy.forward()
        await auditDataSource.destroy()
      }
    })
  })
})
