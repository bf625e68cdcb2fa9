/**
 * The row cache's invalidation on real Postgres: two instances (two DataSources, two listeners)
 * that hear each other's committed changes (notifyChange() and the trigger), never a rolled-back
 * one; a listening connection terminated by Postgres, cut by the network, or gone silent makes its
 * cache stop serving at once, and both come back by themselves; close() leaves nothing running.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { Client } from 'pg'
import {
  Column,
  DataSource,
  Entity,
  type MigrationInterface,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  type QueryRunner,
} from 'typeorm'
import { ChangeListener, type ChangeListenerEvents } from '../../src/cache/change-listener'
import { type Change, changePayload, DEFAULT_CHANNEL } from '../../src/cache/change-payload'
import { notifyChange, notifyEntityChange } from '../../src/cache/notify'
import { type CacheTicket, RowCache } from '../../src/cache/row-cache'
import { changeTableOf, rowId } from '../../src/cache/row-ref'
import { dropChangeTrigger, installChangeTrigger } from '../../src/cache/trigger'
import { ConfigurationError } from '../../src/errors'
import { createTestDataSource } from '../helpers/database'
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy'
import { recordingLogger } from '../helpers/recording-logger'

/** The longest any awaited event may take; none comes near it unless something is broken. */
const WAIT_MS = 10_000
/** How many notifications the latency is measured over. */
const SAMPLES = 50

@Entity({ name: 'test_cache_item' })
class CacheItem {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text', unique: true })
  slug!: string

  @Column({ type: 'text', default: '' })
  title!: string
}

@Entity({ name: 'test_cache_pair' })
class CachePair {
  @PrimaryColumn({ type: 'text' })
  a!: string

  @PrimaryColumn({ type: 'integer' })
  b!: number

  @Column({ type: 'text', default: '' })
  note!: string
}

/** A key type whose text TypeScript and Postgres write differently: refused by the trigger. */
@Entity({ name: 'test_cache_stamped' })
class CacheStamped {
  @PrimaryColumn({ type: 'timestamptz' })
  at!: Date
}

/** A schema and a table whose names need quoting, found by name (not an entity). */
const ODD_SCHEMA = 'odd "schema"'
const ODD_TABLE = "it's table"

class CreateCacheTables1700000000050 implements MigrationInterface {
  name = 'CreateCacheTables1700000000050'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "test_cache_item" (
        "id" SERIAL PRIMARY KEY, "slug" text NOT NULL UNIQUE, "title" text NOT NULL DEFAULT ''
      )`)
    await queryRunner.query(`
      CREATE TABLE "test_cache_pair" (
        "a" text NOT NULL, "b" integer NOT NULL, "note" text NOT NULL DEFAULT '', PRIMARY KEY ("a", "b")
      )`)
    await queryRunner.query(`CREATE TABLE "test_cache_stamped" ("at" timestamptz PRIMARY KEY)`)
    await queryRunner.query(`CREATE TABLE "test_cache_keyless" ("note" text)`)
    await queryRunner.query(`CREATE SCHEMA "odd ""schema"""`)
    await queryRunner.query(
      `CREATE TABLE "odd ""schema"""."it's table" ("id" uuid PRIMARY KEY DEFAULT gen_random_uuid(), "note" text)`,
    )
    await installChangeTrigger(queryRunner, CacheItem)
    await installChangeTrigger(queryRunner, CachePair)
    await installChangeTrigger(queryRunner, `${ODD_SCHEMA}.${ODD_TABLE}`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await dropChangeTrigger(queryRunner, CacheItem)
    await dropChangeTrigger(queryRunner, CachePair)
    await dropChangeTrigger(queryRunner, `${ODD_SCHEMA}.${ODD_TABLE}`)
    await queryRunner.query(`DROP SCHEMA "odd ""schema""" CASCADE`)
    await queryRunner.query(
      'DROP TABLE "test_cache_keyless", "test_cache_stamped", "test_cache_pair", "test_cache_item"',
    )
  }
}

const entities = [CacheItem, CachePair, CacheStamped]

/** One instance of the app: a DataSource, its cache, its listener. */
interface Instance {
  dataSource: DataSource
  cache: RowCache<{ title: string }>
  listener: ChangeListener
}

let primary: DataSource
let other: DataSource
let a: Instance
let b: Instance
let admin: Client
let items: string
let databaseUrl: string

beforeAll(async () => {
  primary = await createTestDataSource({ entities, migrations: [CreateCacheTables1700000000050] })
  databaseUrl = (primary.options as { url: string }).url
  other = new DataSource({ type: 'postgres', url: databaseUrl, entities })
  await other.initialize()
  a = await instance(primary)
  b = await instance(other)
  items = changeTableOf(primary, primary.getMetadata(CacheItem))
  admin = new Client({ connectionString: databaseUrl })
  await admin.connect()
})

afterAll(async () => {
  await a?.listener.close()
  await b?.listener.close()
  await admin?.end()
  await other?.destroy()
  await primary?.destroy()
})

beforeEach(async () => {
  await primary.query('TRUNCATE "test_cache_item", "test_cache_pair" RESTART IDENTITY')
  // The TRUNCATE notified: wait until both instances have heard it, so no test sees another's.
  await Promise.all([a, b].map((one) => sync(one)))
})

async function instance(dataSource: DataSource, logger = recordingLogger()): Promise<Instance> {
  const cache = new RowCache<{ title: string }>()
  const listener = new ChangeListener({ dataSource, caches: [cache], logger })
  await listener.start()
  return { dataSource, cache, listener }
}

/**
 * The next `event` of `listener` that `match` accepts, or a rejection after `timeoutMs`. Set up
 * before the action that causes it.
 */
function nextEvent<K extends keyof ChangeListenerEvents>(
  listener: ChangeListener,
  event: K,
  match: (...args: ChangeListenerEvents[K]) => boolean = () => true,
  timeoutMs = WAIT_MS,
): Promise<ChangeListenerEvents[K]> {
  const emitter = listener as unknown as NodeJS.EventEmitter
  return new Promise((resolve, reject) => {
    const handler = (...args: unknown[]) => {
      if (!match(...(args as ChangeListenerEvents[K]))) return
      clearTimeout(timer)
      emitter.off(event, handler)
      resolve(args as ChangeListenerEvents[K])
    }
    const timer = setTimeout(() => {
      emitter.off(event, handler)
      reject(new Error(`no "${event}" event within ${timeoutMs} ms`))
    }, timeoutMs)
    emitter.on(event, handler)
  })
}

/** Every change `listener` hears from now on, until `stop()`. */
function record(listener: ChangeListener): { changes: (Change | undefined)[]; stop(): void } {
  const changes: (Change | undefined)[] = []
  const handler = (change: Change | undefined) => changes.push(change)
  listener.on('change', handler)
  return { changes, stop: () => listener.off('change', handler) }
}

/** A marker row id no test uses: notified to learn that everything committed before it was heard. */
let markers = 0

/**
 * Waits until `one`'s listener has heard everything committed before now: notifications of one
 * database reach a listener in commit order, so once a marker committed now has arrived, so has
 * anything committed earlier (and what was not, never will).
 */
async function sync(one: Instance): Promise<void> {
  const id = `marker-${++markers}`
  const heard = nextEvent(one.listener, 'change', (change) => change?.id === id)
  await notifyChange(primary.manager, 'marker.table', id, 'u')
  await heard
}

/** Stores an entry for row `id` of test_cache_item in `one`'s cache under `key`. */
function fill(one: Instance, key: string, id: number, ticket: CacheTicket = one.cache.ticket()): void {
  expect(one.cache.set(key, { table: items, id: String(id), value: { title: `row ${id}` } }, ticket)).toBe(
    true,
  )
  expect(one.cache.get(key)?.kind).toBe('row')
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.floor(sorted.length / 2)] as number
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number
}

function report(line: string): void {
  process.stdout.write(`[row-cache] ${line}\n`)
}

describe('notifyChange() between two instances', () => {
  it('a change committed through one instance invalidates both caches', async () => {
    fill(a, 'item:1', 1)
    fill(b, 'item:1', 1)
    const runner = primary.createQueryRunner()
    try {
      await runner.startTransaction()
      await notifyChange(runner, items, '1', 'u')
      const heardByA = nextEvent(a.listener, 'change', (change) => change?.id === '1')
      const heardByB = nextEvent(b.listener, 'change', (change) => change?.id === '1')
      await runner.commitTransaction()
      expect(await heardByB).toEqual([{ table: items, id: '1', op: 'u' }])
      await heardByA
    } finally {
      await runner.release()
    }
    expect(b.cache.get('item:1')).toBeUndefined()
    expect(a.cache.get('item:1')).toBeUndefined()
  })

  it(`delivers a committed notification to the other instance (latency over ${SAMPLES})`, async () => {
    /** From COMMIT sent to the change handled by the other instance. */
    const delivered: number[] = []
    /** From COMMIT sent to COMMIT acknowledged: the commit's own round trip, for comparison. */
    const committed: number[] = []
    const runner = primary.createQueryRunner()
    try {
      for (let i = 1; i <= SAMPLES; i++) {
        fill(b, `item:${i}`, i)
        await runner.startTransaction()
        await notifyChange(runner, items, String(i), 'u')
        const heard = nextEvent(b.listener, 'change', (change) => change?.id === String(i))
        const started = performance.now()
        await runner.commitTransaction()
        committed.push(performance.now() - started)
        await heard
        delivered.push(performance.now() - started)
        expect(b.cache.get(`item:${i}`)).toBeUndefined()
      }
    } finally {
      await runner.release()
    }
    expect(delivered).toHaveLength(SAMPLES)
    const ms = (value: number) => `${value.toFixed(2)} ms`
    report(
      `COMMIT of notifyChange() -> other instance's cache invalidated, ${SAMPLES} samples: ` +
        `median ${ms(median(delivered))}, p95 ${ms(percentile(delivered, 95))}, max ${ms(Math.max(...delivered))} ` +
        `(the COMMIT round trip alone: median ${ms(median(committed))})`,
    )
  })

  it('a rolled-back transaction notifies nobody', async () => {
    fill(b, 'item:7', 7)
    const heard = record(b.listener)
    const runner = primary.createQueryRunner()
    try {
      await runner.startTransaction()
      await notifyChange(runner, items, '7', 'd')
      await runner.rollbackTransaction()
    } finally {
      await runner.release()
    }
    await sync(b)
    heard.stop()
    expect(heard.changes.filter((change) => change?.table === items)).toEqual([])
    expect(b.cache.get('item:7')?.kind).toBe('row')
  })

  it('notifyEntityChange() names the row by its metadata, and the table when the key is unknown', async () => {
    const pairs = primary.getMetadata(CachePair)
    const table = changeTableOf(primary, pairs)
    const byRow = nextEvent(
      b.listener,
      'change',
      (change) => change?.table === table && change.id !== undefined,
    )
    const runner = primary.createQueryRunner()
    try {
      await notifyEntityChange(runner, pairs, { a: 'x,y', b: 3 }, 'i')
    } finally {
      await runner.release()
    }
    expect((await byRow)[0]).toEqual({ table, id: rowId(['x,y', 3]), op: 'i' })
    const byTable = nextEvent(
      b.listener,
      'change',
      (change) => change?.table === table && change.id === undefined,
    )
    await notifyEntityChange(primary.manager, pairs, { note: 'no key' }, 'u')
    expect((await byTable)[0]).toEqual({ table, op: 'u' })
  })

  it('a lookup that read before a change is not stored after the change was heard', async () => {
    const ticket = b.cache.ticket()
    const heard = nextEvent(b.listener, 'change', (change) => change?.id === '9')
    await notifyChange(primary.manager, items, '9', 'u')
    await heard
    expect(b.cache.set('item:9', { table: items, id: '9', value: { title: 'old' } }, ticket)).toBe(false)
    expect(b.cache.get('item:9')).toBeUndefined()
  })
})

describe('the change trigger', () => {
  it('a raw SQL UPDATE invalidates the row in the other instance, with the payload notifyChange() sends', async () => {
    await primary.query(`INSERT INTO "test_cache_item" ("slug") VALUES ('one')`)
    await sync(b)
    fill(b, 'item:slug=one', 1)
    fill(b, 'item:slug=two', 2)
    const raw = new Client({ connectionString: databaseUrl })
    await raw.connect()
    try {
      await raw.query(`LISTEN "${DEFAULT_CHANNEL}"`)
      const payload = new Promise<string | undefined>((resolve) =>
        raw.on('notification', (message) => resolve(message.payload)),
      )
      const heard = nextEvent(b.listener, 'change', (change) => change?.id === '1')
      await primary.query(`UPDATE "test_cache_item" SET "title" = 'changed' WHERE "id" = 1`)
      expect((await heard)[0]).toEqual({ table: 'public.test_cache_item', id: '1', op: 'u' })
      expect(await payload).toBe(changePayload({ table: 'public.test_cache_item', id: '1', op: 'u' }))
    } finally {
      await raw.end()
    }
    expect(b.cache.get('item:slug=one')).toBeUndefined()
    expect(b.cache.get('item:slug=two')?.kind).toBe('row')
  })

  it('an INSERT drops the misses of the table, and only those', async () => {
    const ticket = b.cache.ticket()
    expect(b.cache.setMiss('item:slug=new', items, ticket)).toBe(true)
    fill(b, 'item:slug=two', 2)
    const heard = nextEvent(b.listener, 'change', (change) => change?.op === 'i' && change.table === items)
    await primary.query(`INSERT INTO "test_cache_item" ("slug") VALUES ('new')`)
    await heard
    expect(b.cache.get('item:slug=new')).toBeUndefined()
    expect(b.cache.get('item:slug=two')?.kind).toBe('row')
  })

  it('a DELETE names the deleted row; an UPDATE of the key names the old id and the new one', async () => {
    await primary.query(`INSERT INTO "test_cache_item" ("slug") VALUES ('a'), ('b')`)
    await sync(b)
    const heard = record(b.listener)
    await primary.query('DELETE FROM "test_cache_item" WHERE "id" = 1')
    await primary.query('UPDATE "test_cache_item" SET "id" = 20 WHERE "id" = 2')
    await sync(b)
    heard.stop()
    expect(heard.changes.filter((change) => change?.table === items)).toEqual([
      { table: items, id: '1', op: 'd' },
      { table: items, id: '2', op: 'u' },
      { table: items, id: '20', op: 'u' },
    ])
  })

  it('an UPDATE that changes nothing notifies nothing', async () => {
    await primary.query(`INSERT INTO "test_cache_item" ("slug", "title") VALUES ('same', 't')`)
    await sync(b)
    const heard = record(b.listener)
    await primary.query(`UPDATE "test_cache_item" SET "title" = 't' WHERE "id" = 1`)
    await sync(b)
    heard.stop()
    expect(heard.changes.filter((change) => change?.table === items)).toEqual([])
  })

  it('a TRUNCATE drops every entry of the table', async () => {
    fill(b, 'item:1', 1)
    fill(b, 'item:2', 2)
    const heard = nextEvent(b.listener, 'change', (change) => change?.op === 't')
    await primary.query('TRUNCATE "test_cache_item"')
    expect((await heard)[0]).toEqual({ table: items, op: 't' })
    expect(b.cache.stats.entries).toBe(0)
  })

  it('a composite key is named as rowId() names it, commas and backslashes escaped', async () => {
    const table = changeTableOf(primary, primary.getMetadata(CachePair))
    const heard = record(b.listener)
    await primary.query(`INSERT INTO "test_cache_pair" ("a", "b") VALUES ($1, 1), ($2, 1)`, ['x,y', 'x\\'])
    await sync(b)
    heard.stop()
    expect(heard.changes.filter((change) => change?.table === table)).toEqual([
      { table, id: rowId(['x,y', 1]), op: 'i' },
      { table, id: rowId(['x\\', 1]), op: 'i' },
    ])
    expect(rowId(['x,y', 1])).toBe('x\\,y,1')
  })

  it('quotes the names of a table found by name, and reads its uuid key from the catalog', async () => {
    const heard = nextEvent(b.listener, 'change', (change) => change?.table === `${ODD_SCHEMA}.${ODD_TABLE}`)
    const [row] = await primary.query(
      `INSERT INTO "odd ""schema"""."it's table" ("note") VALUES ('x') RETURNING "id"`,
    )
    expect((await heard)[0]).toEqual({ table: `${ODD_SCHEMA}.${ODD_TABLE}`, id: row.id, op: 'i' })
  })

  it('is installed idempotently: twice is one row trigger and one TRUNCATE trigger', async () => {
    const runner = primary.createQueryRunner()
    try {
      await installChangeTrigger(runner, CacheItem)
      await installChangeTrigger(runner, CacheItem)
    } finally {
      await runner.release()
    }
    const triggers = await primary.query(
      `SELECT tgname FROM pg_trigger WHERE tgrelid = 'test_cache_item'::regclass AND NOT tgisinternal ORDER BY tgname`,
    )
    expect(triggers.map((trigger: { tgname: string }) => trigger.tgname)).toEqual([
      'typeorm_downloadview_changes',
      'typeorm_downloadview_truncate',
    ])
    const heard = record(b.listener)
    await primary.query(`INSERT INTO "test_cache_item" ("slug") VALUES ('once')`)
    await sync(b)
    heard.stop()
    expect(heard.changes.filter((change) => change?.table === items)).toHaveLength(1)
  })

  it('refuses a key type whose text may differ, a table without a key, and no table, naming them', async () => {
    const runner = primary.createQueryRunner()
    try {
      await expect(installChangeTrigger(runner, CacheStamped)).rejects.toThrow(ConfigurationError)
      await expect(installChangeTrigger(runner, CacheStamped)).rejects.toThrow(
        /CacheStamped\.at is a primary key column of type timestamp with time zone/,
      )
      await expect(installChangeTrigger(runner, 'test_cache_keyless')).rejects.toThrow(
        /"test_cache_keyless" has no primary key/,
      )
      await expect(installChangeTrigger(runner, 'public.no_such_table')).rejects.toThrow(
        /there is no table "public"."no_such_table"/,
      )
      await expect(installChangeTrigger(runner, CacheItem, { channel: '' })).rejects.toThrow(
        /installChangeTrigger: option "channel"/,
      )
    } finally {
      await runner.release()
    }
  })

  it('notifies on another channel when told to, and is dropped with its function once unused', async () => {
    const runner = primary.createQueryRunner()
    const elsewhere = await instanceOn(other, 'elsewhere')
    try {
      await installChangeTrigger(runner, CachePair, { channel: 'elsewhere' })
      const heard = nextEvent(elsewhere.listener, 'change', (change) => change?.op === 'i')
      await primary.query(`INSERT INTO "test_cache_pair" ("a", "b") VALUES ('p', 1)`)
      expect((await heard)[0]?.table).toBe('public.test_cache_pair')
      await dropChangeTrigger(runner, CachePair)
      await dropChangeTrigger(runner, CachePair)
      await dropChangeTrigger(runner, CacheItem)
      await dropChangeTrigger(runner, `${ODD_SCHEMA}.${ODD_TABLE}`)
      // Public's function is unused now, and gone; the odd schema's too.
      const functions = await primary.query(
        `SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'typeorm_downloadview_notify'`,
      )
      expect(functions[0].n).toBe(0)
      const heardNothing = record(elsewhere.listener)
      const heardNothingB = record(b.listener)
      await primary.query(`INSERT INTO "test_cache_pair" ("a", "b") VALUES ('q', 1)`)
      await primary.query(`INSERT INTO "test_cache_item" ("slug") VALUES ('untracked')`)
      await sync(b)
      heardNothingB.stop()
      heardNothing.stop()
      expect(heardNothing.changes).toEqual([])
      expect(heardNothingB.changes.filter((change) => change?.table !== 'marker.table')).toEqual([])
    } finally {
      // Back as the migration left it, for the tests after this one.
      await installChangeTrigger(runner, CacheItem)
      await installChangeTrigger(runner, CachePair)
      await installChangeTrigger(runner, `${ODD_SCHEMA}.${ODD_TABLE}`)
      await runner.release()
      await elsewhere.listener.close()
    }
  })
})

async function instanceOn(dataSource: DataSource, channel: string): Promise<Instance> {
  const cache = new RowCache<{ title: string }>()
  const listener = new ChangeListener({ dataSource, caches: [cache], channel, logger: recordingLogger() })
  await listener.start()
  return { dataSource, cache, listener }
}

describe('when the listening connection is terminated by Postgres (pg_terminate_backend)', () => {
  it('stops serving at once, then listens again by itself and invalidations flow again', async () => {
    const logger = recordingLogger()
    const c = await instance(other, logger)
    try {
      fill(c, 'item:1', 1)
      const pid = c.listener.backendPid
      expect(pid).toEqual(expect.any(Number))
      const lost = nextEvent(c.listener, 'lost')
      const back = nextEvent(c.listener, 'listening')
      const killed = performance.now()
      await admin.query('SELECT pg_terminate_backend($1)', [pid])
      await lost
      const detected = performance.now() - killed
      // Unavailable: nothing served, nothing stored, and what it held is gone.
      expect(c.cache.available).toBe(false)
      expect(c.cache.get('item:1')).toBeUndefined()
      expect(c.cache.set('item:2', { table: items, id: '2', value: { title: 'x' } }, c.cache.ticket())).toBe(
        false,
      )
      await back
      const recovered = performance.now() - killed
      expect(c.cache.available).toBe(true)
      expect(c.listener.backendPid).not.toBe(pid)
      expect(c.cache.get('item:1')).toBeUndefined()
      // Invalidations flow again.
      fill(c, 'item:3', 3)
      const heard = nextEvent(c.listener, 'change', (change) => change?.id === '3')
      await notifyChange(primary.manager, items, '3', 'u')
      await heard
      expect(c.cache.get('item:3')).toBeUndefined()
      expect(c.listener.stats).toMatchObject({ losses: 1, connections: 2 })
      expect(logger.errors).toEqual([expect.stringMatching(/lost the connection that listens/)])
      expect(logger.warnings).toEqual([expect.stringMatching(/listening on ".*" again after \d+ ms/)])
      report(
        `pg_terminate_backend(listener): unavailable after ${detected.toFixed(1)} ms, listening again after ${recovered.toFixed(1)} ms`,
      )
    } finally {
      await c.listener.close()
    }
  })
})

describe('when the network to the database breaks (fault proxy)', () => {
  let proxy: FaultProxy
  let proxied: DataSource

  beforeAll(async () => {
    const url = new URL(databaseUrl)
    proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port || 5432) })
    url.port = String(proxy.port)
    // Never initialized: the listener needs only its options.
    proxied = new DataSource({ type: 'postgres', url: url.toString(), entities })
  })

  afterEach(async () => {
    await proxy.forward()
  })

  afterAll(async () => {
    await proxy?.close()
  })

  it('a cut connection stops the cache at once; it listens again by itself and invalidations flow', async () => {
    const cache = new RowCache<{ title: string }>()
    const listener = new ChangeListener({ dataSource: proxied, caches: [cache], logger: recordingLogger() })
    await listener.start()
    const c = { dataSource: proxied, cache, listener }
    try {
      fill(c, 'item:1', 1)
      const lost = nextEvent(listener, 'lost')
      const back = nextEvent(listener, 'listening')
      const cut = performance.now()
      proxy.killConnections()
      await lost
      const detected = performance.now() - cut
      expect(cache.available).toBe(false)
      expect(cache.get('item:1')).toBeUndefined()
      await back
      const recovered = performance.now() - cut
      expect(cache.available).toBe(true)
      fill(c, 'item:4', 4)
      const heard = nextEvent(listener, 'change', (change) => change?.id === '4')
      await notifyChange(primary.manager, items, '4', 'u')
      await heard
      expect(cache.get('item:4')).toBeUndefined()
      report(
        `fault proxy cut: unavailable after ${detected.toFixed(1)} ms, listening again after ${recovered.toFixed(1)} ms`,
      )
    } finally {
      await listener.close()
    }
  })

  it('a silent network fails the heartbeat: the cache stops, and comes back with the network', async () => {
    const cache = new RowCache<{ title: string }>()
    const listener = new ChangeListener({
      dataSource: proxied,
      caches: [cache],
      logger: recordingLogger(),
      heartbeatInterval: 200,
      heartbeatTimeout: 300,
      connectTimeout: 500,
    })
    await listener.start()
    try {
      fill({ dataSource: proxied, cache, listener }, 'item:1', 1)
      const lost = nextEvent(listener, 'lost')
      const silenced = performance.now()
      await proxy.silence()
      await lost
      const detected = performance.now() - silenced
      expect(cache.available).toBe(false)
      expect(cache.get('item:1')).toBeUndefined()
      const back = nextEvent(listener, 'listening')
      await proxy.forward()
      await back
      expect(cache.available).toBe(true)
      report(`silent network: unavailable after ${detected.toFixed(1)} ms (heartbeat 200 ms, timeout 300 ms)`)
    } finally {
      await listener.close()
    }
  })

  it('starts while the database cannot be reached, serving nothing, and listens once it can', async () => {
    await proxy.refuse()
    const cache = new RowCache<{ title: string }>()
    const logger = recordingLogger()
    const listener = new ChangeListener({ dataSource: proxied, caches: [cache], logger })
    try {
      const started = listener.start()
      expect(cache.available).toBe(false)
      expect(cache.set('k', { table: items, id: '1', value: { title: 'x' } }, cache.ticket())).toBe(false)
      await proxy.forward()
      await started
      expect(cache.available).toBe(true)
      expect(logger.errors).toEqual([expect.stringMatching(/cannot listen on ".*"; retrying/)])
    } finally {
      await listener.close()
    }
  })
})

describe('ChangeListener with its own connection settings', () => {
  it("listens where `connection` says, not where the DataSource goes (PgBouncer's transaction mode)", async () => {
    // The DataSource points where nothing listens: only `connection` can reach Postgres.
    const unreachable = new DataSource({ type: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none' })
    const cache = new RowCache<{ title: string }>()
    const listener = new ChangeListener({
      dataSource: unreachable,
      caches: [cache],
      connection: { connectionString: databaseUrl },
      logger: recordingLogger(),
    })
    try {
      await listener.start()
      fill({ dataSource: unreachable, cache, listener }, 'item:5', 5)
      const heard = nextEvent(listener, 'change', (change) => change?.id === '5')
      await notifyChange(primary.manager, items, '5', 'u')
      await heard
      expect(cache.get('item:5')).toBeUndefined()
    } finally {
      await listener.close()
    }
  })
})

describe('close()', () => {
  it('ends the session: its backend leaves pg_stat_activity, and its cache stops serving', async () => {
    const c = await instance(other)
    fill(c, 'item:1', 1)
    const pid = c.listener.backendPid
    await c.listener.close()
    expect(c.cache.available).toBe(false)
    expect(c.cache.get('item:1')).toBeUndefined()
    const { rows } = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [
      pid,
    ])
    // The server may take a moment to remove an ended backend: wait for it, within a bound.
    let remaining = rows[0].n as number
    for (let i = 0; remaining > 0 && i < 100; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      remaining = (await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid]))
        .rows[0].n
    }
    expect(remaining).toBe(0)
    await expect(c.listener.start()).rejects.toThrow(/start\(\) after close\(\)/)
  })

  it('leaves no handle open: a process that listened, lost its database and closed exits by itself', async () => {
    const script = `
      const { DataSource } = require('typeorm')
      const { ChangeListener } = require('./src/cache/change-listener.ts')
      const { RowCache } = require('./src/cache/row-cache.ts')
      const logger = { error() {}, warn() {} }
      ;(async () => {
        const cache = new RowCache()
        const up = new ChangeListener({ dataSource: new DataSource({ type: 'postgres', url: process.env.URL }), caches: [cache], logger })
        await up.start()
        if (!cache.available) throw new Error('not listening')
        await up.close()
        // One that never reaches its database: it is between retries when closed.
        const down = new ChangeListener({ dataSource: new DataSource({ type: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none' }), logger })
        void down.start()
        await new Promise((resolve) => setTimeout(resolve, 300))
        await down.close()
        process.stdout.write('closed')
      })().catch((error) => { process.stderr.write(String(error)); process.exitCode = 1 })
    `
    const root = path.resolve(__dirname, '../..')
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: root,
      env: { ...process.env, URL: databaseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const exit = await new Promise<{ code: number | null; timedOut: boolean }>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        resolve({ code: null, timedOut: true })
      }, 20_000)
      child.on('exit', (code) => {
        clearTimeout(timer)
        resolve({ code, timedOut: false })
      })
    })
    expect({ ...exit, output }).toEqual({ code: 0, timedOut: false, output: 'closed' })
  })
})
