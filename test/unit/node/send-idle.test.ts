/**
 * sendPlan()'s idle timeout (the views' `idleTimeout` option), on real loopback sockets: clients
 * that stop reading are cut and their files closed, so the server's descriptors go back to what
 * they were; a slow client that keeps reading gets the whole file.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type { Logger } from '../../../src/logger'
import { serve } from '../../../src/node/serve'
import { PathDownloadView } from '../../../src/views/path-view'
import { descriptorsOn, openDescriptors, settle } from '../../helpers/process-stats'

const MIB = 1024 * 1024
/** Far more than the socket buffers of both ends hold (a few MiB each on loopback). */
const SIZE = 64 * MIB
const IDLE_TIMEOUT = 500
const STALLED = 5

/**
 * The stalled clients, in a process of their own so that their sockets are not counted with the
 * server's descriptors: each connects paused (it never reads a byte, not even the headers) and
 * sends a GET; the process prints "sent" once all are sent, then stays until it is killed.
 */
const STALLED_CLIENTS = `
const net = require('node:net')
const [port, count] = process.argv.slice(1).map(Number)
const sockets = []
let sent = 0
for (let i = 0; i < count; i++) {
  const socket = net.connect({ host: '127.0.0.1', port })
  socket.pause()
  socket.write('GET /file HTTP/1.1\\r\\nHost: test\\r\\n\\r\\n', () => {
    if (++sent === count) process.stdout.write('sent\\n')
  })
  sockets.push(socket)
}
setInterval(() => undefined, 60000)
`

let dir: string
let file: string
let server: Server
let port: number
const warnings: string[] = []
const errors: string[] = []
const logger: Logger = {
  error: (message) => errors.push(message),
  warn: (message) => warnings.push(message),
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'downloadview-idle-'))
  file = path.join(dir, 'big.bin')
  // Sparse: 64 MiB of zeros that take no disk.
  await writeFile(file, '')
  await truncate(file, SIZE)
  const view = new PathDownloadView({ path: file, idleTimeout: IDLE_TIMEOUT, logger })
  server = createServer((req, res) => {
    serve(view, req, res).catch(() => res.destroy())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  server?.closeAllConnections()
  server?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

beforeEach(() => {
  warnings.length = 0
  errors.length = 0
})

const connections = () =>
  new Promise<number>((resolve, reject) =>
    server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  )

/** A GET of the first bytes, read whole: the server's lazy descriptors are open after it. */
async function warmUp(): Promise<void> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/file',
      headers: { Range: 'bytes=0-9' },
      agent: false,
    })
    req.on('response', resolve).on('error', reject).end()
  })
  const closed = once(res.socket, 'close')
  res.resume()
  await closed
  await settle(connections, (count) => count === 0)
}

/** What the slow reader got. */
interface SlowRead {
  status: number
  /** Bytes read while reading slowly. */
  slowBytes: number
  total: number
  complete: boolean
}

/**
 * Downloads the file reading at most `perTick` bytes every 100 ms for `slowMs`, then the rest as
 * fast as it comes.
 */
function readSlowly(perTick: number, slowMs: number): Promise<SlowRead> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/file', agent: false })
    req.on('error', reject)
    req.on('response', (res) => {
      let total = 0
      let thisTick = 0
      let slow = true
      let slowBytes = 0
      const tick = setInterval(() => {
        thisTick = 0
        res.resume()
      }, 100)
      setTimeout(() => {
        slow = false
        slowBytes = total
        clearInterval(tick)
        res.resume()
      }, slowMs)
      res.on('data', (chunk: Buffer) => {
        total += chunk.length
        thisTick += chunk.length
        if (slow && thisTick >= perTick) res.pause()
      })
      res.on('close', () => {
        clearInterval(tick)
        resolve({ status: res.statusCode ?? 0, slowBytes, total, complete: res.complete })
      })
    })
    req.end()
  })
}

describe('a view with idleTimeout', () => {
  describe('when clients stop reading', () => {
    let clients: ChildProcessWithoutNullStreams | undefined

    afterEach(() => {
      clients?.kill()
      clients = undefined
    })

    it('cuts their connections and closes the file: the descriptors go back to their level before', async () => {
      await warmUp()
      clients = spawn(process.execPath, ['-e', STALLED_CLIENTS, String(port), String(STALLED)])
      // The child's pipes are open from here on: the level before the downloads includes them.
      const before = openDescriptors()
      const sent = new Promise<void>((resolve, reject) => {
        clients?.stdout.on('data', (data: Buffer) => {
          if (data.toString().includes('sent')) resolve()
        })
        clients?.once('exit', (code) => reject(new Error(`the clients exited (${code})`)))
      })
      await sent

      // Every download holds its file open while the client does not read...
      expect(
        await settle(
          () => descriptorsOn(file),
          (count) => count === STALLED,
        ),
      ).toBe(STALLED)
      // ...until the idle timeout: the connections are cut, though the clients are still there.
      expect(
        await settle(openDescriptors, (count) => count <= before, { timeoutMs: 10_000 }),
      ).toBeLessThanOrEqual(before)
      expect(descriptorsOn(file)).toBe(0)
      expect(await connections()).toBe(0)
      expect(clients.exitCode).toBeNull()
    })

    it('logs one warning per cut download, without a path, and no error', async () => {
      expect(warnings).toHaveLength(0)
      await warmUp()
      clients = spawn(process.execPath, ['-e', STALLED_CLIENTS, String(port), '2'])
      await settle(
        () => descriptorsOn(file),
        (count) => count === 2,
      )
      await settle(
        () => warnings.length,
        (count) => count >= 2,
        { timeoutMs: 10_000 },
      )
      expect(warnings).toEqual([
        `Cut a download whose client took no byte for ${IDLE_TIMEOUT} ms (option idleTimeout)`,
        `Cut a download whose client took no byte for ${IDLE_TIMEOUT} ms (option idleTimeout)`,
      ])
      expect(warnings.join('\n')).not.toContain(dir)
      expect(errors).toEqual([])
    })
  })

  describe('when a client reads slowly but keeps reading', () => {
    it('is not cut: it gets the whole file', async () => {
      await warmUp()
      const before = openDescriptors()
      // 1 MiB per 100 ms for 3 s, six idle timeouts: about 30 MiB read slowly.
      const read = await readSlowly(MIB, 3000)
      expect(read.status).toBe(200)
      expect(read.slowBytes).toBeGreaterThan(16 * MIB)
      expect(read.slowBytes).toBeLessThan(SIZE)
      expect(read.total).toBe(SIZE)
      expect(read.complete).toBe(true)
      expect(warnings).toEqual([])
      expect(errors).toEqual([])
      expect(await settle(openDescriptors, (count) => count <= before)).toBeLessThanOrEqual(before)
    })
  })
})

describe('a view with idleTimeout: 0', () => {
  it('keeps a client that does not read', async () => {
    const view = new PathDownloadView({ path: file, idleTimeout: 0, logger })
    const off = createServer((req, res) => {
      serve(view, req, res).catch(() => res.destroy())
    })
    off.listen(0, '127.0.0.1')
    await once(off, 'listening')
    const clients = spawn(process.execPath, [
      '-e',
      STALLED_CLIENTS,
      String((off.address() as AddressInfo).port),
      '1',
    ])
    try {
      expect(
        await settle(
          () => descriptorsOn(file),
          (count) => count === 1,
        ),
      ).toBe(1)
      // Four idle timeouts of the other view: still open.
      await new Promise((resolve) => setTimeout(resolve, 4 * IDLE_TIMEOUT))
      expect(descriptorsOn(file)).toBe(1)
      expect(warnings).toEqual([])
    } finally {
      clients.kill()
      off.closeAllConnections()
      off.close()
    }
    expect(
      await settle(
        () => descriptorsOn(file),
        (count) => count === 0,
      ),
    ).toBe(0)
  })
})
