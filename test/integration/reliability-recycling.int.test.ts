/**
 * Large downloads reuse their read buffers once the socket wrote them (local-file.ts, send.ts).
 * A buffer reused too early would send one chunk's bytes in place of another's: every download
 * here is checked byte for byte, fast readers and slow ones at once, whole files and ranges.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { LocalStorage, StorageDownloadView } from '../../src'
import { serve } from '../../src/node/serve'
import { type AppServer, listen, patternBytes, sha256 } from '../helpers/app-server'
import { readSlowly } from '../helpers/recycling'

const SIZE = 24 * 1024 * 1024 + 12_345
const content = patternBytes(SIZE, 7)
let root: string
let app: AppServer

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'downloadview-recycling-'))
  const storage = new LocalStorage({ root })
  await storage.save('big.bin', content)
  const view = new StorageDownloadView({ storage, param: 'path' })
  app = await listen((req, res) => {
    serve(view, req, res, { path: 'big.bin' }).catch(() => res.destroy())
  })
})

afterAll(async () => {
  await app.close()
  await rm(root, { recursive: true, force: true })
})

/** One GET of the file, read at `pace` (bytes per 10 ms pause; 0: as fast as it comes). */
function download(range: string | undefined, pace: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: app.port, path: '/', agent: false, headers: range ? { Range: range } : {} },
      (res) => {
        readSlowly(res, pace).then(resolve, reject)
      },
    )
    req.on('error', reject)
  })
}

it('sends every byte right to fast and slow readers at once, whole files and ranges', async () => {
  const cases: { range?: string; expected: Buffer; pace: number }[] = []
  for (let i = 0; i < 12; i++) {
    const start = i * 1_000_003
    const end = SIZE - 1 - i * 777_777
    const ranged = i % 3 === 2
    cases.push({
      range: ranged ? `bytes=${start}-${end}` : undefined,
      expected: ranged ? content.subarray(start, end + 1) : content,
      // Slow readers leave the socket full, so the sender keeps chunks unwritten and must not
      // reuse them; fast readers empty it, so chunks are reused.
      pace: i % 2 === 0 ? 0 : 256 * 1024,
    })
  }
  const bodies = await Promise.all(cases.map(({ range, pace }) => download(range, pace)))
  for (const [index, body] of bodies.entries()) {
    expect(body.length).toBe(cases[index]?.expected.length)
    expect(sha256(body)).toBe(sha256(cases[index]?.expected as Buffer))
  }
  await delay(0)
}, 60_000)

describe('behind middleware that holds written chunks (body rewriters, buffering loggers)', () => {
  let held: AppServer

  beforeAll(async () => {
    const storage = new LocalStorage({ root })
    await storage.save('small.bin', content.subarray(0, 900_000))
    const view = new StorageDownloadView({ storage, param: 'path' })
    held = await listen((req, res) => {
      // Keeps every chunk until end(), then sends them all: the socket has nothing unwritten
      // while the chunks are still held, so a sender that reused them would send other bytes.
      const chunks: Buffer[] = []
      const end = res.end.bind(res)
      res.write = ((chunk: Buffer) => {
        chunks.push(chunk)
        return true
      }) as typeof res.write
      res.end = ((chunk?: Buffer) => {
        if (chunk) chunks.push(chunk)
        setTimeout(() => end(Buffer.concat(chunks)), 20)
        return res
      }) as typeof res.end
      const key = (req.url ?? '').includes('small') ? 'small.bin' : 'big.bin'
      serve(view, req, res, { path: key }).catch(() => res.destroy())
    })
  })

  afterAll(() => held.close())

  it('sends every byte right: no buffer is reused under it', async () => {
    const get = (path: string) =>
      new Promise<Buffer>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: held.port, path, agent: false }, (res) => {
            readSlowly(res, 0).then(resolve, reject)
          })
          .on('error', reject)
      })
    const paths = ['/big', '/small', '/big', '/small', '/big', '/small']
    const bodies = await Promise.all(paths.map(get))
    for (const [index, body] of bodies.entries()) {
      const expected = paths[index] === '/big' ? content : content.subarray(0, 900_000)
      expect(body.length).toBe(expected.length)
      expect(sha256(body)).toBe(sha256(expected))
    }
  }, 60_000)
})
