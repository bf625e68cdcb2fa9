/**
 * Reliability: 200 clients download a 100 MiB file at once and read it slowly. The server (a child
 * process: ObjectDownloadView over real Postgres on node:http) must hold every download open and
 * wait for its clients (backpressure) instead of reading ahead: the bytes it has queued for them
 * stay within its read budget, its resident memory (/proc/<pid>/status) grows by a small fraction
 * of the 20 GiB the downloads add up to, and each client holds only a bounded amount. Then the
 * clients leave, the server closes every file, and the next download is whole.
 */
import { createHash } from 'node:crypto'
import path from 'node:path'
import type { DataSource } from 'typeorm'
import { Document } from '../../entities/Document'
import { StoredFile, storages } from '../../src'
import { patternBytes } from '../helpers/app-server'
import { type ChildServer, startChildServer } from '../helpers/child-server'
import { createTestDataSource } from '../helpers/database'
import { exchange, openSlowReader, type SlowReader } from '../helpers/http-client'
import {
  descriptorsOn,
  openDescriptorsExcept,
  peakResidentBytes,
  resetPeakResident,
  residentBytes,
  settle,
  sleep,
} from '../helpers/process-stats'
import { temporaryStorage } from '../helpers/storage'

const MiB = 1024 * 1024
const SIZE = 100 * MiB
const CLIENTS = 200
/** Rounds of tiny reads, 100 ms apart: the clients read for about two seconds. */
const ROUNDS = 20
/**
 * Bytes the server may have queued in its sockets for its clients: LocalStorage's streams share a
 * 32 MiB read budget (READ_BUDGET), and a stream whose client stalls holds one chunk, at least
 * 64 KiB (MIN_CHUNK): 32 MiB + 200 × 64 KiB = 44.5 MiB at most, with room to spare. A server
 * that wrote without waiting for its clients would queue the files (the 200 downloads are 20 GiB).
 */
const QUEUE_LIMIT = 64 * MiB
/**
 * Resident memory growth allowed over the idle server, 1.25% of those 20 GiB. Measured here: 120 to
 * 200 MiB at the peak, of which the queued bytes are 35 to 45 MiB; the rest is buffers already
 * sent that the next garbage collection frees, and memory glibc keeps after freeing them (with 1 MiB
 * reads; 50 to 80 MiB with 64 KiB reads). Reading ahead would pass it within a second.
 */
const GROWTH_LIMIT = 256 * MiB
/** What one client may hold after its tiny reads: its buffers and the socket's, never the file. */
const CLIENT_LIMIT = 8 * MiB

let dataSource: DataSource
let removeMedia: () => Promise<void>
let child: ChildServer
let bigFile: string
let bigSha256: string
/** Postgres's port: the pool's connections are not counted with the descriptors. */
let pgPort: number

beforeAll(async () => {
  const media = await temporaryStorage()
  removeMedia = media.remove
  storages.register('default', media.storage)
  dataSource = await createTestDataSource()
  pgPort = Number(new URL((dataSource.options as { url: string }).url).port || 5432)
  const bytes = patternBytes(SIZE, 7)
  bigSha256 = createHash('sha256').update(bytes).digest('hex')
  await media.storage.save('docs/big.bin', bytes)
  await media.storage.save('docs/nums.txt', '123456789')
  bigFile = path.join(media.root, 'docs', 'big.bin')
  const documents = dataSource.getRepository(Document)
  for (const [slug, key] of [
    ['big', 'docs/big.bin'],
    ['nums', 'docs/nums.txt'],
  ] as const) {
    await documents.save(documents.create({ slug, file: Object.assign(new StoredFile(), { path: key }) }))
  }
  child = await startChildServer({
    DATABASE_URL: (dataSource.options as { url: string }).url,
    MEDIA_ROOT: media.root,
  })
}, 60_000)

afterAll(async () => {
  await child?.stop()
  await dataSource?.destroy()
  await removeMedia?.()
  storages.clear()
})

/** A reading of /proc/<pid> once it stopped moving (three equal reads in a row), bounded. */
async function steady(read: () => number): Promise<number> {
  const reads: number[] = []
  const window = await settle(
    () => {
      reads.push(read())
      return reads.slice(-3)
    },
    (last) => last.length === 3 && last.every((value) => value === last[0]),
    { timeoutMs: 3000, intervalMs: 50 },
  )
  return Math.max(...window)
}

describe('ObjectDownloadView in a child process with 200 slow clients on a 100 MiB file', () => {
  it('holds every download open with bounded memory, then closes every file when they leave', async () => {
    const pid = child.pid
    // Warm up: the code paths of a streamed and a small download, and the pool's connections.
    for (let i = 0; i < 4; i++) {
      const range = await exchange({
        port: child.port,
        path: '/d/big',
        headers: { Range: 'bytes=0-1048575' },
      })
      expect(range.status).toBe(206)
    }
    const small = await Promise.all(
      Array.from({ length: 20 }, () => exchange({ port: child.port, path: '/d/nums' })),
    )
    expect(small.map((response) => response.status)).toEqual(Array(20).fill(200))
    const idleDescriptors = await steady(() => openDescriptorsExcept(pgPort, pid))
    const idleResident = await steady(() => residentBytes(pid))
    const peakReset = resetPeakResident(pid)

    const readers: SlowReader[] = await Promise.all(
      Array.from({ length: CLIENTS }, () =>
        openSlowReader({ port: child.port, path: '/d/big' }, { timeoutMs: 20_000 }),
      ),
    )
    let peak = residentBytes(pid)
    try {
      for (const reader of readers) {
        expect(reader.status).toBe(200)
        expect(reader.headers['content-length']).toBe(String(SIZE))
      }
      for (let round = 0; round < ROUNDS; round++) {
        for (const reader of readers) reader.readSome()
        await sleep(100)
        peak = Math.max(peak, residentBytes(pid))
      }
      if (peakReset) peak = Math.max(peak, peakResidentBytes(pid))
      const stats = JSON.parse((await exchange({ port: child.port, path: '/stats' })).body.toString()) as {
        queuedBytes: number
      }

      // Every download is still open on the server, none finished, none was read ahead.
      expect(descriptorsOn(bigFile, pid)).toBe(CLIENTS)
      expect(stats.queuedBytes).toBeLessThan(QUEUE_LIMIT)
      expect(peak - idleResident).toBeLessThan(GROWTH_LIMIT)
      for (const reader of readers) {
        expect(reader.consumed).toBeGreaterThan(0)
        expect(reader.socket.bytesRead).toBeLessThan(CLIENT_LIMIT)
      }
    } finally {
      for (const reader of readers) reader.destroy()
    }

    const after = await settle(
      () => ({ onFile: descriptorsOn(bigFile, pid), total: openDescriptorsExcept(pgPort, pid) }),
      (now) => now.onFile === 0 && now.total <= idleDescriptors,
      { timeoutMs: 10_000 },
    )
    expect(after.onFile).toBe(0)
    expect(after.total).toBeLessThanOrEqual(idleDescriptors)

    const next = await exchange({ port: child.port, path: '/d/big' }, { timeoutMs: 30_000 })
    expect({ status: next.status, complete: next.complete }).toEqual({ status: 200, complete: true })
    expect(createHash('sha256').update(next.body).digest('hex')).toBe(bigSha256)

    expect(child.alive()).toBe(true)
    // Clients that leave are not failures: nothing was logged, nothing reached the 500 path.
    expect(child.stderr()).toBe('')
  }, 90_000)
})
