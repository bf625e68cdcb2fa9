import { once } from 'node:events'
import {
  createServer,
  type IncomingHttpHeaders,
  IncomingMessage,
  request,
  type Server,
  ServerResponse,
} from 'node:http'
import { type AddressInfo, Socket } from 'node:net'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { FileNotFoundError } from '../../../src/errors'
import { type ResponsePlan, respond } from '../../../src/http/respond'
import { type Logger, stderrLogger } from '../../../src/logger'
import { sendPlan } from '../../../src/node/send'
import { boundaryOf, MemoryFile, MODIFIED, NUMS, NUMS_SHA256, parseMultipart } from '../http/fixtures'

const MIB = 1024 * 1024

/** What the server side saw of one exchange. */
interface Handled {
  /** What sendPlan() rejected with, if it did. */
  error?: unknown
  /** Whether the headers had been written when sendPlan() settled. */
  headersSent: boolean
  res: ServerResponse
}

/** What the client saw. */
interface Received {
  status?: number
  headers: IncomingHttpHeaders
  body: Buffer
  /** Whether the whole message arrived (Node's `res.complete`). */
  complete: boolean
  error?: Error
}

let server: Server | undefined

afterEach(async () => {
  if (!server) return
  server.closeAllConnections()
  server.close()
  await once(server, 'close')
  server = undefined
})

/**
 * Starts a server on 127.0.0.1 that answers with sendPlan(planFor(req)). `handled` settles when the
 * first sendPlan() does; a rejected plan is answered with a 404, as a view would.
 */
async function serve(
  planFor: (req: IncomingMessage) => ResponsePlan,
  logger: Logger,
): Promise<{ port: number; handled: Promise<Handled> }> {
  let settle: (handled: Handled) => void = () => {}
  const handled = new Promise<Handled>((resolve) => {
    settle = resolve
  })
  server = createServer((req, res) => {
    sendPlan(planFor(req), req, res, logger).then(
      () => settle({ headersSent: res.headersSent, res }),
      (error: unknown) => {
        settle({ error, headersSent: res.headersSent, res })
        if (!res.headersSent) res.writeHead(404, { 'Content-Length': '0' }).end()
      },
    )
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { port: (server.address() as AddressInfo).port, handled }
}

/** Sends one request and collects whatever comes back, aborted or not. */
function requestOnce(
  port: number,
  options: { method?: string; headers?: IncomingHttpHeaders } = {},
): Promise<Received> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const req = request(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const done = (error?: Error) =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks),
            complete: res.complete,
            error,
          })
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => done())
        res.on('error', done)
        res.on('close', () => done())
      },
    )
    req.on('error', (error) => resolve({ headers: {}, body: Buffer.concat(chunks), complete: false, error }))
    req.end()
  })
}

/** Requests, reads at least `bytes` bytes of the body, then destroys the connection. */
function disconnectAfter(port: number, bytes: number, headers: IncomingHttpHeaders = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = 0
    const req = request({ host: '127.0.0.1', port, headers, agent: false }, (res) => {
      res.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (received < bytes || req.destroyed) return
        req.destroy()
        resolve()
      })
      res.on('end', () => reject(new Error('the whole body arrived before the client could leave')))
    })
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error)
    })
    req.end()
  })
}

const quietLogger = () => ({ error: jest.fn<void, [string, unknown?]>() })

const nums = () => new MemoryFile(NUMS, { name: 'nums.txt', sha256: NUMS_SHA256, modifiedAt: MODIFIED })

/** A 200 plan for nums.txt whose body is `source`; `length: null` sends no Content-Length. */
const planWith = (source: () => Readable, length: string | null = '9'): ResponsePlan => ({
  status: 200,
  headers: {
    'Content-Type': 'text/plain; charset=utf-8',
    ...(length === null ? {} : { 'Content-Length': length }),
  },
  body: async () => source(),
  file: nums(),
})

/** A source that sends `first`, then fails with `error` once the client has had time to read it. */
function failingSource(first: string, error: Error): Readable {
  let sent = false
  return new Readable({
    read() {
      if (sent) {
        setTimeout(() => this.destroy(error), 50)
        return
      }
      sent = true
      this.push(first)
    },
  })
}

describe('sendPlan()', () => {
  describe('with a 200 plan', () => {
    const start = async () => {
      const logger = quietLogger()
      const { port, handled } = await serve((req) => respond(req, nums()), logger)
      return { received: await requestOnce(port), handled: await handled, logger }
    }

    it('writes the status', async () => {
      expect((await start()).received.status).toBe(200)
    })

    it('writes the headers', async () => {
      const { headers } = (await start()).received
      expect([headers['content-type'], headers['content-length'], headers.etag]).toEqual([
        'text/plain; charset=utf-8',
        '9',
        `"${NUMS_SHA256}"`,
      ])
    })

    it('writes the body', async () => {
      expect((await start()).received.body.toString()).toBe('123456789')
    })

    it('completes the response', async () => {
      expect((await start()).received.complete).toBe(true)
    })

    it('resolves without logging', async () => {
      const { handled, logger } = await start()
      expect([handled.error, logger.error.mock.calls.length]).toEqual([undefined, 0])
    })
  })

  describe('with a 206 plan', () => {
    it('writes the bytes of the range', async () => {
      const { port } = await serve((req) => respond(req, nums()), quietLogger())
      const received = await requestOnce(port, { headers: { range: 'bytes=2-5' } })
      expect([received.status, received.headers['content-range'], received.body.toString()]).toEqual([
        206,
        'bytes 2-5/9',
        '3456',
      ])
    })
  })

  describe('with a multipart/byteranges plan', () => {
    const start = async () => {
      const { port } = await serve((req) => respond(req, nums()), quietLogger())
      return requestOnce(port, { headers: { range: 'bytes=0-1,4-5,8-' } })
    }

    it('writes exactly Content-Length bytes', async () => {
      const received = await start()
      expect([received.complete, String(received.body.length)]).toEqual([
        true,
        received.headers['content-length'],
      ])
    })

    it('writes parts that parse back', async () => {
      const received = await start()
      const parts = parseMultipart(received.body, boundaryOf(received.headers['content-type']))
      expect(parts.map((part) => part.body.toString())).toEqual(['12', '56', '9'])
    })
  })

  describe('with an unknown length', () => {
    it('streams the body chunked', async () => {
      const file = new MemoryFile(NUMS, { name: 'nums.txt', size: null })
      const { port } = await serve((req) => respond(req, file), quietLogger())
      const received = await requestOnce(port)
      expect([received.headers['transfer-encoding'], received.body.toString()]).toEqual([
        'chunked',
        '123456789',
      ])
    })
  })

  describe('with HEAD', () => {
    it("writes GET's headers", async () => {
      const { port } = await serve((req) => respond(req, nums()), quietLogger())
      expect((await requestOnce(port, { method: 'HEAD' })).headers['content-length']).toBe('9')
    })

    it('writes no body', async () => {
      const { port } = await serve((req) => respond(req, nums()), quietLogger())
      expect((await requestOnce(port, { method: 'HEAD' })).body.length).toBe(0)
    })

    it('never opens the file', async () => {
      const file = nums()
      const { port } = await serve((req) => respond(req, file), quietLogger())
      await requestOnce(port, { method: 'HEAD' })
      expect(file.openCount).toBe(0)
    })

    it('does not open a body the plan has', async () => {
      const body = jest.fn(async () => Readable.from([NUMS]))
      const plan: ResponsePlan = { status: 200, headers: { 'Content-Length': '9' }, body }
      const { port, handled } = await serve(() => plan, quietLogger())
      await requestOnce(port, { method: 'HEAD' })
      await handled
      expect(body).not.toHaveBeenCalled()
    })
  })

  describe('with a 304 plan', () => {
    it('writes no body', async () => {
      const { port } = await serve((req) => respond(req, nums()), quietLogger())
      const received = await requestOnce(port, { headers: { 'if-none-match': `"${NUMS_SHA256}"` } })
      expect([received.status, received.body.length]).toEqual([304, 0])
    })
  })

  describe('when the body cannot be opened', () => {
    const start = async () => {
      const logger = quietLogger()
      const file = new MemoryFile(NUMS, { name: 'nums.txt', openError: new FileNotFoundError('gone') })
      const { port, handled } = await serve((req) => respond(req, file), logger)
      return { received: await requestOnce(port), handled: await handled, logger }
    }

    it('rejects with the storage error', async () => {
      expect((await start()).handled.error).toBeInstanceOf(FileNotFoundError)
    })

    it('rejects before the headers are written', async () => {
      expect((await start()).handled.headersSent).toBe(false)
    })

    it('lets the caller answer 404', async () => {
      expect((await start()).received.status).toBe(404)
    })

    it('does not log', async () => {
      expect((await start()).logger.error).not.toHaveBeenCalled()
    })
  })

  describe('when the source fails mid-stream', () => {
    const start = async (length: string | null = '9') => {
      const logger = quietLogger()
      const plan = planWith(() => failingSource('abc', new Error('disk on fire')), length)
      const { port, handled } = await serve(() => plan, logger)
      return { received: await requestOnce(port), handled: await handled, logger }
    }

    it('has sent the headers', async () => {
      expect((await start()).received.status).toBe(200)
    })

    it('cuts the connection: the client sees an aborted response', async () => {
      const { received } = await start()
      expect([received.complete, received.error?.message]).toEqual([false, 'aborted'])
    })

    it('destroys the response', async () => {
      expect((await start()).handled.res.destroyed).toBe(true)
    })

    it('resolves rather than rejecting (the headers are out)', async () => {
      expect((await start()).handled.error).toBeUndefined()
    })

    it('logs exactly once', async () => {
      expect((await start()).logger.error).toHaveBeenCalledTimes(1)
    })

    it('logs the error and the file name', async () => {
      const { logger } = await start()
      expect(logger.error).toHaveBeenCalledWith(
        'Download of "nums.txt" failed after the headers were sent',
        expect.objectContaining({ message: 'disk on fire' }),
      )
    })

    describe('without a Content-Length (chunked)', () => {
      it('cuts the connection rather than ending the chunked body', async () => {
        const { received } = await start(null)
        expect([received.complete, received.error?.message]).toEqual([false, 'aborted'])
      })

      it('logs exactly once', async () => {
        expect((await start(null)).logger.error).toHaveBeenCalledTimes(1)
      })
    })
  })

  describe('when the source fails with a network error code (an upstream reset)', () => {
    const start = async () => {
      const logger = quietLogger()
      const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
      const { port, handled } = await serve(() => planWith(() => failingSource('abc', reset)), logger)
      return { received: await requestOnce(port), handled: await handled, logger }
    }

    it('cuts the connection', async () => {
      expect((await start()).received.complete).toBe(false)
    })

    it('logs exactly once: the client did not leave', async () => {
      expect((await start()).logger.error).toHaveBeenCalledTimes(1)
    })
  })

  describe('when the source is destroyed mid-stream without an error', () => {
    const start = async () => {
      const logger = quietLogger()
      const source = () => {
        let sent = false
        return new Readable({
          read() {
            if (sent) setTimeout(() => this.destroy(), 50)
            else this.push('abc')
            sent = true
          },
        })
      }
      const { port, handled } = await serve(() => planWith(source), logger)
      return { received: await requestOnce(port), handled: await handled, logger }
    }

    it('cuts the connection', async () => {
      expect((await start()).received.complete).toBe(false)
    })

    it('logs exactly once: the client did not leave', async () => {
      expect((await start()).logger.error).toHaveBeenCalledTimes(1)
    })
  })

  describe('when the source is shorter than Content-Length', () => {
    const start = async () => {
      const logger = quietLogger()
      const { port, handled } = await serve(
        () => planWith(() => Readable.from([Buffer.from('12345')])),
        logger,
      )
      return { received: await requestOnce(port), handled: await handled, logger }
    }

    it('does not complete the response', async () => {
      const { received } = await start()
      expect([received.complete, received.body.toString()]).toEqual([false, '12345'])
    })

    it('destroys the response', async () => {
      expect((await start()).handled.res.destroyed).toBe(true)
    })

    it('logs exactly once', async () => {
      const { logger } = await start()
      expect(logger.error).toHaveBeenCalledTimes(1)
    })

    it('logs what was missing', async () => {
      const { logger } = await start()
      expect(logger.error.mock.calls[0]?.[1]).toEqual(
        expect.objectContaining({ message: 'The source ended after 5 of 9 bytes announced' }),
      )
    })
  })

  describe('when the source is longer than Content-Length', () => {
    const start = async () => {
      const logger = quietLogger()
      const source = () => Readable.from([Buffer.from('123456789abc')])
      const { port, handled } = await serve(() => planWith(source), logger)
      return { received: await requestOnce(port), handled: await handled, logger }
    }

    it('does not send the extra bytes', async () => {
      expect((await start()).received.body.length).toBeLessThanOrEqual(9)
    })

    it('logs exactly once', async () => {
      expect((await start()).logger.error).toHaveBeenCalledTimes(1)
    })
  })

  describe.each([
    ['with a Content-Length', String(1024 * MIB)],
    ['chunked', null],
  ])('when the client disconnects mid-stream (%s)', (_label, length) => {
    const start = async () => {
      const logger = quietLogger()
      // An endless source: only the client going away can stop it.
      const source = new Readable({
        read() {
          this.push(Buffer.alloc(64 * 1024, 'x'))
        },
      })
      // Not events.once(): the pipeline destroys the source with an error, and once() would reject.
      const closed = new Promise<boolean>((resolve) => source.once('close', () => resolve(true)))
      const { port, handled } = await serve(() => planWith(() => source, length), logger)
      await disconnectAfter(port, 1)
      const result = await handled
      return { source, result, logger, closed }
    }

    it('destroys the source stream', async () => {
      expect((await start()).source.destroyed).toBe(true)
    })

    it("lets the source emit 'close'", async () => {
      expect(await (await start()).closed).toBe(true)
    })

    it('does not log', async () => {
      expect((await start()).logger.error).not.toHaveBeenCalled()
    })

    it('resolves', async () => {
      expect((await start()).result.error).toBeUndefined()
    })
  })

  describe('when the client disconnects in the middle of a multipart body', () => {
    const start = async () => {
      const logger = quietLogger()
      const file = new MemoryFile(Buffer.alloc(16 * MIB, 1), { name: 'big.bin', chunkSize: 64 * 1024 })
      const { port, handled } = await serve((req) => respond(req, file), logger)
      await disconnectAfter(port, MIB, { range: 'bytes=0-0,10-' })
      await handled
      return { file, logger }
    }

    it('stops reading the range being sent', async () => {
      expect((await start()).file.streams[1]?.readableEnded).toBe(false)
    })

    it('destroys every stream it opened', async () => {
      const { file } = await start()
      expect(file.streams.map((stream) => stream.destroyed)).toEqual([true, true])
    })

    it('does not log', async () => {
      expect((await start()).logger.error).not.toHaveBeenCalled()
    })
  })

  describe('when the client disconnects while the file is being opened', () => {
    const start = async () => {
      const logger = quietLogger()
      const source = Readable.from([NUMS])
      let release: () => void = () => {}
      const opened = new Promise<void>((resolve) => {
        release = resolve
      })
      let arrived: () => void = () => {}
      const requested = new Promise<void>((resolve) => {
        arrived = resolve
      })
      const plan = planWith(() => source)
      plan.body = async () => {
        arrived()
        await opened
        return source
      }
      const { port, handled } = await serve(() => plan, logger)
      const req = request({ host: '127.0.0.1', port, agent: false })
      req.on('error', () => {})
      req.end()
      await requested
      req.destroy()
      await sleep(50)
      release()
      return { source, result: await handled, logger }
    }

    it('destroys the opened stream', async () => {
      expect((await start()).source.destroyed).toBe(true)
    })

    it('writes no header', async () => {
      expect((await start()).result.headersSent).toBe(false)
    })

    it('does not log', async () => {
      expect((await start()).logger.error).not.toHaveBeenCalled()
    })
  })

  describe('with a large source and a client that pauses', () => {
    const TOTAL = 32 * MIB
    const CHUNK = 64 * 1024

    /** Serves TOTAL lazily generated bytes; the client reads nothing until the server stops pulling. */
    const start = async () => {
      let pulled = 0
      // Generated lazily: a chunk exists only once the stream asks for it.
      const source = new Readable({
        read() {
          if (pulled >= TOTAL) {
            this.push(null)
            return
          }
          pulled += CHUNK
          this.push(Buffer.alloc(CHUNK, 7))
        },
      })
      const { port, handled } = await serve(() => planWith(() => source, String(TOTAL)), quietLogger())
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, agent: false }, resolve)
        req.on('error', reject)
        req.end()
      })
      let last = -1
      for (let i = 0; i < 40 && pulled !== last; i++) {
        last = pulled
        await sleep(100)
      }
      const whilePaused = pulled
      let received = 0
      for await (const chunk of res) received += (chunk as Buffer).length
      await handled
      return { whilePaused, received, complete: res.complete }
    }

    it('pulls only a few MiB from the source while the client is paused', async () => {
      expect((await start()).whilePaused).toBeLessThanOrEqual(8 * MIB)
    })

    it('sends every byte once the client reads', async () => {
      const { received, complete } = await start()
      expect({ received, complete }).toEqual({ received: TOTAL, complete: true })
    })
  })
})

describe('stderrLogger', () => {
  const capture = () => {
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true)
    return {
      lines: () => write.mock.calls.map((call) => String(call[0])),
      restore: () => write.mockRestore(),
    }
  }

  it('writes the message with a prefix', () => {
    const stderr = capture()
    stderrLogger.error('broken')
    const lines = stderr.lines()
    stderr.restore()
    expect(lines).toEqual(['[typeorm-downloadview] broken\n'])
  })

  it("writes an Error's stack", () => {
    const stderr = capture()
    const error = new Error('boom')
    stderrLogger.error('broken', error)
    const lines = stderr.lines()
    stderr.restore()
    expect(lines).toEqual([`[typeorm-downloadview] broken: ${error.stack}\n`])
  })

  it('writes anything else as a string', () => {
    const stderr = capture()
    stderrLogger.error('broken', 42)
    const lines = stderr.lines()
    stderr.restore()
    expect(lines).toEqual(['[typeorm-downloadview] broken: 42\n'])
  })
})

describe('sendPlan() when Node refuses a header', () => {
  it('destroys the opened body and rethrows, so no descriptor is left open', async () => {
    const source = Readable.from([Buffer.from('x')])
    const res = new ServerResponse(new IncomingMessage(new Socket()))
    const req = new IncomingMessage(new Socket())
    req.method = 'GET'
    const plan = { status: 200, headers: { 'X-Bad': 'a\nb' }, body: async () => source }
    await expect(sendPlan(plan, req, res)).rejects.toThrow()
    expect(source.destroyed).toBe(true)
  })
})
