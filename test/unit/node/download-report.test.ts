/**
 * Download events through serve() on a real loopback server: generated and in-memory bodies, a
 * hand-off (no bytes, the decided status and ranges), where a file is without its absolute path,
 * the duration, and the answers that are not downloads. The adapter contract checks the rest on
 * Express, Fastify and NestJS.
 */
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ConfigurationError } from '../../../src/errors'
import { xAccelRedirect } from '../../../src/handoff/nginx'
import { DownloadReport } from '../../../src/node/download-report'
import { serve } from '../../../src/node/serve'
import type { LocalStorage } from '../../../src/storage/local-storage'
import { type DownloadEvent, eventFile } from '../../../src/views/download-event'
import type { DownloadRequest, DownloadView, RouteParams } from '../../../src/views/download-view'
import { PathDownloadView } from '../../../src/views/path-view'
import { StorageDownloadView } from '../../../src/views/storage-view'
import { VirtualDownloadView } from '../../../src/views/virtual-view'
import { exchange } from '../../helpers/http-client'
import { settle } from '../../helpers/process-stats'
import { recordingLogger } from '../../helpers/recording-logger'
import { temporaryStorage } from '../../helpers/storage'
import { MemoryFile } from '../http/fixtures'

const FIXTURES = path.join(__dirname, '../../fixtures')

let server: Server | undefined
let media: { storage: LocalStorage; root: string; remove: () => Promise<void> }

beforeAll(async () => {
  media = await temporaryStorage()
  await media.storage.save('docs/nums.txt', '123456789')
})

afterAll(() => media?.remove())

afterEach(async () => {
  if (!server) return
  server.closeAllConnections()
  server.close()
  await once(server, 'close')
  server = undefined
})

/** Listens on loopback and answers every request with serve(view, …, params). */
async function listen(view: DownloadView, params: RouteParams = {}): Promise<number> {
  server = createServer((req, res) => {
    serve(view, req, res, params).catch(() => res.destroy())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}

/** A hook that keeps the events, and a wait for the next one. */
function recorder() {
  const events: DownloadEvent[] = []
  return {
    events,
    onDownload: (event: DownloadEvent) => {
      events.push(event)
    },
    async next(count = 1): Promise<DownloadEvent> {
      const seen = await settle(
        () => events.length,
        (length) => length >= count,
      )
      if (seen < count) throw new Error(`${seen} download events, not ${count}`)
      return events[count - 1] as DownloadEvent
    },
  }
}

async function* helloWorld(): AsyncGenerator<string> {
  yield 'Hello '
  yield 'world!\n'
}

describe('DownloadView option "onDownload"', () => {
  it('refuses anything but a function, naming the option', () => {
    expect(
      () => new VirtualDownloadView({ name: 'a.txt', content: 'a', onDownload: 'log' as never }),
    ).toThrow(new ConfigurationError('VirtualDownloadView: option "onDownload" must be a function'))
  })

  describe('when it is not set', () => {
    it('measures nothing', () => {
      const view = new VirtualDownloadView({ name: 'a.txt', content: 'a' })
      const request: DownloadRequest = { req: {} as DownloadRequest['req'], params: {} }
      expect(DownloadReport.begin(view, request)).toBeUndefined()
    })
  })

  describe('when it is set', () => {
    it('is measured from the start', () => {
      const view = new VirtualDownloadView({ name: 'a.txt', content: 'a', onDownload: () => undefined })
      const request: DownloadRequest = { req: {} as DownloadRequest['req'], params: {} }
      expect(DownloadReport.begin(view, request)).toBeInstanceOf(DownloadReport)
    })
  })
})

describe('serve() with onDownload', () => {
  describe('for content of unknown size (chunked)', () => {
    it('counts the bytes it wrote', async () => {
      const hook = recorder()
      const port = await listen(
        new VirtualDownloadView({
          name: 'hello.txt',
          content: () => helloWorld(),
          onDownload: hook.onDownload,
        }),
      )
      const response = await exchange({ port, path: '/' })
      expect(response.headers['transfer-encoding']).toBe('chunked')
      expect(await hook.next()).toMatchObject({
        file: { name: 'hello.txt', size: undefined, location: undefined },
        status: 200,
        bytes: 13,
        complete: true,
        handedOff: false,
      })
    })
  })

  describe('for content in memory (one write)', () => {
    it('counts its bytes', async () => {
      const hook = recorder()
      const port = await listen(
        new VirtualDownloadView({
          name: 'hello.txt',
          content: 'Hello world!\n',
          onDownload: hook.onDownload,
        }),
      )
      await exchange({ port, path: '/' })
      expect(await hook.next()).toMatchObject({ file: { size: 13 }, bytes: 13, complete: true })
    })
  })

  describe('when the bytes are handed off', () => {
    const view = (onDownload: (event: DownloadEvent) => void) =>
      new StorageDownloadView({
        storage: media.storage,
        path: 'docs/nums.txt',
        handoff: xAccelRedirect({ rules: [{ storage: media.storage, location: '/protected/' }] }),
        onDownload,
      })

    it('reports no bytes, handedOff, and the status the app decided', async () => {
      const hook = recorder()
      const port = await listen(view(hook.onDownload))
      const response = await exchange({ port, path: '/' })
      expect(response.headers['x-accel-redirect']).toBe('/protected/docs/nums.txt')
      expect(await hook.next()).toMatchObject({
        file: { name: 'nums.txt', size: 9, location: { kind: 'storage', key: 'docs/nums.txt' } },
        status: 200,
        bytes: undefined,
        complete: true,
        handedOff: true,
      })
    })

    it('reports the range the proxy serves as a 206, though the app answered 200', async () => {
      const hook = recorder()
      const port = await listen(view(hook.onDownload))
      const response = await exchange({ port, path: '/', headers: { Range: 'bytes=2-5' } })
      expect(response.status).toBe(200)
      expect(response.headers['x-accel-redirect']).toBeDefined()
      expect(await hook.next()).toMatchObject({
        status: 206,
        ranges: [{ start: 2, end: 5 }],
        bytes: undefined,
        handedOff: true,
      })
    })

    it('reports HEAD, which the app answers itself, with 0 bytes', async () => {
      const hook = recorder()
      const port = await listen(view(hook.onDownload))
      await exchange({ port, path: '/', method: 'HEAD' })
      expect(await hook.next()).toMatchObject({ status: 200, bytes: 0, handedOff: false, complete: true })
    })
  })

  describe('for a local file', () => {
    it('says it is a path, and shows no absolute path', async () => {
      const hook = recorder()
      const file = path.join(FIXTURES, 'nums.txt')
      const port = await listen(new PathDownloadView({ path: file, onDownload: hook.onDownload }))
      await exchange({ port, path: '/' })
      const event = await hook.next()
      expect(event.file).toEqual({ name: 'nums.txt', size: 9, location: { kind: 'path' } })
      expect(JSON.stringify(event.file)).not.toContain(FIXTURES)
    })

    it('gives the key below the root for a file under a root', async () => {
      const hook = recorder()
      const port = await listen(new PathDownloadView({ root: FIXTURES, onDownload: hook.onDownload }), {
        path: 'nums.txt',
      })
      await exchange({ port, path: '/' })
      const event = await hook.next()
      expect(event.params).toEqual({ path: 'nums.txt' })
      expect(event.file.location).toEqual({ kind: 'storage', key: 'nums.txt' })
    })
  })

  it('measures the duration from before the lookup', async () => {
    const hook = recorder()
    class SlowLookup extends VirtualDownloadView {
      override async getFile(request: DownloadRequest) {
        await sleep(60)
        return super.getFile(request)
      }
    }
    const port = await listen(new SlowLookup({ name: 'a.txt', content: 'a', onDownload: hook.onDownload }))
    await exchange({ port, path: '/' })
    expect((await hook.next()).durationMs).toBeGreaterThanOrEqual(55)
  })

  it('reports nothing for another method (405) or a missing file (404)', async () => {
    const hook = recorder()
    const port = await listen(
      new StorageDownloadView({ storage: media.storage, onDownload: hook.onDownload }),
      {
        path: 'docs/missing.txt',
      },
    )
    expect((await exchange({ port, path: '/' })).status).toBe(404)
    expect((await exchange({ port, path: '/', method: 'POST' })).status).toBe(405)
    await sleep(50)
    expect(hook.events).toEqual([])
  })

  it('logs a hook that throws, even with a logger that throws too, and keeps serving', async () => {
    const logger = recordingLogger()
    let calls = 0
    const view = new VirtualDownloadView({
      name: 'a.txt',
      content: 'a',
      logger: {
        error: (message) => {
          logger.error(message)
          if (calls > 1) throw new Error('the log is full')
        },
      },
      onDownload: () => {
        calls++
        throw new Error('no audit')
      },
    })
    const port = await listen(view)
    for (let i = 0; i < 3; i++) expect((await exchange({ port, path: '/' })).body.toString()).toBe('a')
    const logged = await settle(
      () => logger.errors.length,
      (count) => count >= 3,
    )
    expect(logged).toBe(3)
    expect(logger.errors[0]).toBe('onDownload failed for "a.txt"')
  })
})

describe('eventFile()', () => {
  it('gives a URL without credentials, query or fragment', () => {
    const file = new MemoryFile(Buffer.from('x'), {
      name: 'x.bin',
      location: { kind: 'url', url: 'https://user:secret@cdn.example.com/files/x.bin?token=abc#part' },
    })
    expect(eventFile(file)).toEqual({
      name: 'x.bin',
      size: 1,
      location: { kind: 'url', url: 'https://cdn.example.com/files/x.bin' },
    })
  })

  it('gives a storage key, never the storage (whose name may hold its root)', () => {
    const file = new MemoryFile(Buffer.from('x'), {
      location: { kind: 'storage', storage: media.storage, key: 'docs/x.bin' },
    })
    expect(eventFile(file).location).toEqual({ kind: 'storage', key: 'docs/x.bin' })
  })
})
