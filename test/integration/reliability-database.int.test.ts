/**
 * Reliability: the database goes away while the server runs. A download server in a child process
 * (ObjectDownloadView over real Postgres) reaches the database through a loopback proxy that the
 * tests break: connections refused, killed mid-query, terminated by Postgres, a silent network
 * (at connect and mid-query), a pool with every connection busy, Postgres refusing more sessions.
 * Each request gets 503 with Retry-After within a bound, the process survives, and service comes
 * back by itself when the database does, without a restart.
 */
import { randomBytes } from 'node:crypto'
import type { DataSource, QueryRunner } from 'typeorm'
import { Document } from '../../entities/Document'
import { StoredFile, storages } from '../../src'
import {
  CHILD_APPLICATION_NAME,
  type ChildServer,
  type ChildServerEnv,
  startChildServer,
} from '../helpers/child-server'
import { createTestDataSource } from '../helpers/database'
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy'
import { type Exchange, exchange } from '../helpers/http-client'
import { settle } from '../helpers/process-stats'
import { temporaryStorage } from '../helpers/storage'

/** No request may take longer than this, whatever the database does. */
const BOUND_MS = 8000
/** The child's pool: two connections, and one second to get one (connect, or wait for a free one). */
const POOL_SIZE = 2
const CONNECT_TIMEOUT_MS = 1000

let dataSource: DataSource
let mediaRoot: string
let removeMedia: () => Promise<void>
let proxy: FaultProxy
/** The server under test in the current describe block. */
let child: ChildServer

beforeAll(async () => {
  const media = await temporaryStorage()
  mediaRoot = media.root
  removeMedia = media.remove
  storages.register('default', media.storage)
  dataSource = await createTestDataSource()
  await media.storage.save('docs/nums.txt', '123456789')
  const documents = dataSource.getRepository(Document)
  await documents.save(
    documents.create({ slug: 'nums', file: Object.assign(new StoredFile(), { path: 'docs/nums.txt' }) }),
  )
  const url = new URL(databaseUrl())
  proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port || 5432) })
})

afterAll(async () => {
  await proxy?.close()
  await dataSource?.destroy()
  await removeMedia?.()
  storages.clear()
})

afterEach(async () => {
  await proxy.forward()
})

const databaseUrl = () => (dataSource.options as { url: string }).url

/** The test database's URL through the proxy, optionally as another user. */
function proxiedUrl(credentials?: { user: string; password: string }): string {
  const url = new URL(databaseUrl())
  url.port = String(proxy.port)
  if (credentials) {
    url.username = credentials.user
    url.password = credentials.password
  }
  return url.toString()
}

/** Starts a child server for the tests of one describe block, and checks on it after them. */
function useChildServer(env: () => Partial<ChildServerEnv>): void {
  beforeAll(async () => {
    child = await startChildServer({ DATABASE_URL: proxiedUrl(), MEDIA_ROOT: mediaRoot, ...env() })
  }, 60_000)
  afterAll(async () => {
    // The process survived everything above, and nothing reached the unexpected-error path (500).
    const alive = child.alive()
    const stderr = child.stderr()
    await child.stop()
    expect(alive).toBe(true)
    expect(stderr).not.toMatch(/\[unexpected\]|Uncaught|Unhandled|ERR_UNHANDLED/)
  })
}

const get = (): Promise<Exchange> => exchange({ port: child.port, path: '/d/nums' }, { timeoutMs: BOUND_MS })

function expectUnavailable(response: Exchange): void {
  expect({ status: response.status, retryAfter: response.headers['retry-after'] }).toEqual({
    status: 503,
    retryAfter: '5',
  })
  expect(response.body.toString()).toBe('Service Unavailable\n')
}

/** Polls until the server answers 200 again (bounded), and checks the bytes. */
async function expectRecovered(): Promise<void> {
  const response = await settle(get, (answer) => answer.status === 200, {
    timeoutMs: 15_000,
    intervalMs: 100,
  })
  expect(response.status).toBe(200)
  expect(response.body.toString()).toBe('123456789')
}

/** Holds an ACCESS EXCLUSIVE lock on the document table: the child's lookups wait on it. */
async function lockDocuments(): Promise<QueryRunner> {
  const runner = dataSource.createQueryRunner()
  await runner.connect()
  await runner.startTransaction()
  await runner.query('LOCK TABLE document IN ACCESS EXCLUSIVE MODE')
  return runner
}

async function unlock(runner: QueryRunner): Promise<void> {
  await runner.rollbackTransaction()
  await runner.release()
}

/** The child's sessions that wait on a lock: lookups in flight. */
async function blockedLookups(): Promise<number[]> {
  const rows: { pid: number }[] = await dataSource.query(
    `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() AND wait_event_type = 'Lock'`,
    [CHILD_APPLICATION_NAME],
  )
  return rows.map((row) => row.pid)
}

async function waitForBlockedLookups(count: number): Promise<number[]> {
  const pids = await settle(blockedLookups, (found) => found.length >= count, { timeoutMs: 5000 })
  expect(pids).toHaveLength(count)
  return pids
}

describe('ObjectDownloadView in a child process when the database goes away', () => {
  useChildServer(() => ({
    DB_POOL_SIZE: String(POOL_SIZE),
    DB_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
  }))

  it('answers 503 with Retry-After while connecting is refused, and recovers by itself', async () => {
    await expectRecovered()
    await proxy.refuse()
    for (const response of await Promise.all([get(), get(), get(), get(), get()])) expectUnavailable(response)
    await proxy.forward()
    await expectRecovered()
  })

  it('answers 503 when the connection is killed mid-query', async () => {
    await expectRecovered()
    const lock = await lockDocuments()
    try {
      const pending = get()
      await waitForBlockedLookups(1)
      proxy.killConnections()
      expectUnavailable(await pending)
    } finally {
      await unlock(lock)
    }
    await expectRecovered()
  })

  it('answers 503 when Postgres terminates the session mid-query (pg_terminate_backend)', async () => {
    await expectRecovered()
    const lock = await lockDocuments()
    try {
      const pending = get()
      const [pid] = await waitForBlockedLookups(1)
      await dataSource.query('SELECT pg_terminate_backend($1)', [pid])
      expectUnavailable(await pending)
    } finally {
      await unlock(lock)
    }
    await expectRecovered()
  })

  it('survives Postgres terminating its idle pooled sessions, and serves on new ones', async () => {
    // Fill the pool: two lookups at once hold both connections.
    await Promise.all([get(), get()])
    const terminated: { pid: number }[] = await dataSource.query(
      'SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
      [CHILD_APPLICATION_NAME],
    )
    expect(terminated.length).toBeGreaterThan(0)
    // A request may still meet a dead pooled connection (503) before the pool drops it; never worse.
    for (const response of await Promise.all([get(), get(), get()])) {
      if (response.status !== 200) expectUnavailable(response)
    }
    await expectRecovered()
  })

  it('answers 503 when connecting times out (the network goes silent)', async () => {
    await expectRecovered()
    await proxy.silence()
    proxy.killConnections()
    const response = await get()
    expectUnavailable(response)
    expect(proxy.accepted).toBeGreaterThan(0)
    await proxy.forward()
    await expectRecovered()
  })

  it('answers 503 when every pooled connection stays busy past the wait timeout', async () => {
    await expectRecovered()
    const lock = await lockDocuments()
    const first: Promise<Exchange>[] = []
    try {
      // One at a time: lookups that arrive together share one query (ObjectDownloadView batches
      // them), and each must hold a connection of its own.
      for (let busy = 1; busy <= POOL_SIZE; busy++) {
        first.push(get())
        await waitForBlockedLookups(busy)
      }
      expectUnavailable(await get())
    } finally {
      await unlock(lock)
    }
    for (const response of await Promise.all(first)) expect(response.status).toBe(200)
    await expectRecovered()
  })

  it('keeps answering through an outage under load: only 200 with the bytes, or 503 with Retry-After', async () => {
    await expectRecovered()
    const statuses: number[] = []
    let phase: 'before' | 'down' | 'after' = 'before'
    const looper = async () => {
      // Bounded: at most 400 requests per client; the outage is over long before that.
      for (let i = 0; i < 400 && phase !== 'after'; i++) {
        const response = await get()
        statuses.push(response.status)
        if (response.status === 200) expect(response.body.toString()).toBe('123456789')
        else expectUnavailable(response)
      }
    }
    const loopers = Array.from({ length: 8 }, looper)
    await settle(
      () => statuses.filter((status) => status === 200).length,
      (count) => count >= 20,
    )
    phase = 'down'
    await proxy.refuse()
    await settle(
      () => statuses.filter((status) => status === 503).length,
      (count) => count >= 20,
    )
    await proxy.forward()
    const restoredAt = statuses.length
    await settle(
      () => statuses.slice(restoredAt).filter((status) => status === 200).length,
      (count) => count >= 20,
      { timeoutMs: 15_000 },
    )
    phase = 'after'
    await Promise.all(loopers)
    expect(new Set(statuses)).toEqual(new Set([200, 503]))
    expect(statuses.slice(restoredAt).filter((status) => status === 200).length).toBeGreaterThanOrEqual(20)
  })
})

describe('ObjectDownloadView with a query timeout when the network goes silent mid-query', () => {
  // Without a query timeout (pg's default), a lookup on a connection that went silent waits for TCP
  // to give up, which takes many minutes: an app that wants a bound sets `extra.query_timeout`.
  useChildServer(() => ({ DB_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS), DB_QUERY_TIMEOUT_MS: '1000' }))

  it('answers 503 once the query times out, and recovers when the network returns', async () => {
    await expectRecovered()
    // The pooled connection stays open and says nothing: the lookup is sent and never answered.
    await proxy.silence()
    expectUnavailable(await get())
    await proxy.forward()
    await expectRecovered()
  })
})

describe('ObjectDownloadView when Postgres refuses more sessions (too many connections)', () => {
  // A role of its own with CONNECTION LIMIT 1: the second session is refused with SQLSTATE 53300.
  const role = {
    user: `downloadview_limited_${randomBytes(4).toString('hex')}`,
    password: randomBytes(12).toString('hex'),
  }
  beforeAll(async () => {
    await dataSource.query(`CREATE ROLE "${role.user}" LOGIN CONNECTION LIMIT 1 PASSWORD '${role.password}'`)
    await dataSource.query(`GRANT SELECT ON document TO "${role.user}"`)
  })
  useChildServer(() => ({
    DATABASE_URL: proxiedUrl(role),
    DB_POOL_SIZE: '3',
    DB_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
  }))
  // After the child's afterAll (hooks run in the order they are declared): its sessions are gone.
  afterAll(async () => {
    await dataSource.query(`REVOKE ALL ON document FROM "${role.user}"`)
    await dataSource.query(`DROP ROLE IF EXISTS "${role.user}"`)
  })

  it('answers 503 to a lookup that needs a session Postgres refuses', async () => {
    await expectRecovered()
    const lock = await lockDocuments()
    let first: Promise<Exchange> | undefined
    try {
      // The one session the role may have is busy: the next lookup needs a new one.
      first = get()
      await waitForBlockedLookups(1)
      expectUnavailable(await get())
    } finally {
      await unlock(lock)
    }
    expect((await first)?.status).toBe(200)
    await expectRecovered()
  })
})
