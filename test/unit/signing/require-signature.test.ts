import type { IncomingMessage, ServerResponse } from 'node:http'
import express from 'express'
import request from 'supertest'
import { ConfigurationError, SignatureError } from '../../../src/errors'
import { requireSignature, type SignatureMiddleware } from '../../../src/express/require-signature'
import type { Logger } from '../../../src/logger'
import type { SigningKey } from '../../../src/signing/options'
import { signatureCheck } from '../../../src/signing/signature-check'
import { signUrl } from '../../../src/signing/signed-url'

const NOW = Date.parse('2024-06-10T12:00:00Z')
const KEY: SigningKey = { id: 'k2024', secret: 'middleware-secret-0123456789abcdef' }
const clock = () => NOW

const sign = (url: string) => signUrl(url, { key: KEY, expiresIn: 60, now: NOW })

/** A logger whose calls the test can read. */
function spyLogger(): Logger & { error: jest.Mock; warn: jest.Mock } {
  return { error: jest.fn(), warn: jest.fn() }
}

/** A plain node:http app: `middleware`, then 200 "ok" when it calls next() without an error. */
function plainApp(middleware: SignatureMiddleware, next = jest.fn()) {
  return (req: IncomingMessage, res: ServerResponse) => {
    middleware(req, res, (error?: unknown) => {
      next(error)
      if (error) res.writeHead(500).end('error')
      else res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok')
    })
  }
}

/** The message of the ConfigurationError that `fn` throws; fails on anything else. */
function configurationError(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    if (error instanceof ConfigurationError) return error.message
    throw error
  }
  throw new Error('expected a ConfigurationError, nothing was thrown')
}

describe('requireSignature()', () => {
  describe('with a valid signature', () => {
    it('calls next() without an error and logs nothing', async () => {
      const logger = spyLogger()
      const next = jest.fn()
      const response = await request(plainApp(requireSignature({ keys: [KEY], clock, logger }), next)).get(
        sign('/signed/report/?x=1'),
      )
      expect(response.status).toBe(200)
      expect(response.text).toBe('ok')
      expect(next).toHaveBeenCalledTimes(1)
      expect(next).toHaveBeenCalledWith(undefined)
      expect(logger.warn).not.toHaveBeenCalled()
      expect(logger.error).not.toHaveBeenCalled()
    })

    it('lets HEAD through on a GET signature', async () => {
      const response = await request(plainApp(requireSignature({ keys: [KEY], clock }))).head(
        sign('/signed/report/'),
      )
      expect(response.status).toBe(200)
    })
  })

  describe('with a refused signature', () => {
    const tampered = sign('/signed/report/?x=1').replace('x=1', 'x=2')

    it('answers 403 with the status text alone', async () => {
      const next = jest.fn()
      const response = await request(
        plainApp(requireSignature({ keys: [KEY], clock, logger: spyLogger() }), next),
      ).get(tampered)
      expect(response.status).toBe(403)
      expect(response.text).toBe('Forbidden\n')
      expect(response.headers['content-type']).toBe('text/plain; charset=utf-8')
      expect(response.headers['cache-control']).toBe('no-store')
      expect(response.headers['x-content-type-options']).toBe('nosniff')
      expect(next).not.toHaveBeenCalled()
    })

    it('logs the reason once with warn(), and never the signature', async () => {
      const logger = spyLogger()
      await request(plainApp(requireSignature({ keys: [KEY], clock, logger }))).get(tampered)
      expect(logger.warn).toHaveBeenCalledTimes(1)
      expect(logger.warn).toHaveBeenCalledWith(
        'Signed URL refused for GET /signed/report/: invalid signature (the URL was changed, or signed with another secret)',
      )
      const signature = /dv_signature=([^&]+)/.exec(tampered)?.[1]
      expect(signature).toBeDefined()
      expect(String(logger.warn.mock.calls[0]?.[0])).not.toContain(signature)
      expect(logger.error).not.toHaveBeenCalled()
    })

    it('keeps the reason out of the body', async () => {
      const response = await request(
        plainApp(requireSignature({ keys: [KEY], clock: () => NOW + 120_000, logger: spyLogger() })),
      ).get(sign('/signed/report/'))
      expect(response.status).toBe(403)
      expect(response.text).not.toMatch(/expired|signature|dv_/)
    })

    it('falls back to error() for a logger without warn()', async () => {
      const logger = { error: jest.fn() }
      await request(plainApp(requireSignature({ keys: [KEY], clock, logger }))).get('/signed/report/')
      expect(logger.error).toHaveBeenCalledTimes(1)
      expect(logger.error).toHaveBeenCalledWith(
        'Signed URL refused for GET /signed/report/: missing signature',
      )
    })

    it('logs to standard error by default', async () => {
      const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true)
      try {
        await request(plainApp(requireSignature({ keys: [KEY], clock }))).get('/signed/report/')
        expect(write).toHaveBeenCalledWith(
          '[typeorm-downloadview] Signed URL refused for GET /signed/report/: missing signature\n',
        )
      } finally {
        write.mockRestore()
      }
    })

    it('answers HEAD with 403 and no body', async () => {
      const response = await request(
        plainApp(requireSignature({ keys: [KEY], clock, logger: spyLogger() })),
      ).head('/signed/report/')
      expect(response.status).toBe(403)
      expect(response.text).toBeUndefined()
    })
  })

  describe('with an unexpected failure', () => {
    it('hands the error to next()', async () => {
      const next = jest.fn()
      const logger = spyLogger()
      const broken = requireSignature({ keys: [KEY], clock: () => Number.NaN, logger })
      const response = await request(plainApp(broken, next)).get(sign('/signed/report/'))
      expect(response.status).toBe(500)
      expect(next.mock.calls[0]?.[0]).toBeInstanceOf(Error)
      expect(next.mock.calls[0]?.[0]).not.toBeInstanceOf(SignatureError)
      expect(logger.warn).not.toHaveBeenCalled()
    })
  })

  describe('with a request that has originalUrl', () => {
    it('checks originalUrl rather than url', () => {
      const next = jest.fn()
      const res = { writeHead: jest.fn() } as unknown as ServerResponse
      const req = { method: 'GET', url: '/report', originalUrl: sign('/files/report') } as IncomingMessage & {
        originalUrl: string
      }
      requireSignature({ keys: [KEY], clock, logger: spyLogger() })(req, res, next)
      expect(next).toHaveBeenCalledWith()
      expect(res.writeHead).not.toHaveBeenCalled()
    })
  })

  describe('with bad options', () => {
    it('throws a ConfigurationError at once, naming requireSignature() and the option', () => {
      expect(configurationError(() => requireSignature({ keys: [] }))).toBe(
        'requireSignature(): option "keys" must be a non-empty array of { id, secret }, or a record of key id to secret',
      )
      expect(configurationError(() => requireSignature({ keys: [KEY], maxAge: 0 }))).toMatch(
        /^requireSignature\(\): option "maxAge"/,
      )
    })
  })

  describe('in an Express 5 app', () => {
    const logger = spyLogger()
    const app = express()
    const files = express.Router()
    files.get('/report', requireSignature({ keys: [KEY], clock, logger }), (_req, res) => {
      res.type('text/plain').send('report')
    })
    app.use('/files', files)
    app.get('/signed/*splat', requireSignature({ keys: [KEY], clock, logger }), (_req, res) => {
      res.type('text/plain').send('signed')
    })

    beforeEach(() => {
      logger.warn.mockClear()
    })

    it('serves a signed URL', async () => {
      const response = await request(app).get(sign('/signed/naïve café.txt'))
      expect(response.status).toBe(200)
      expect(response.text).toBe('signed')
    })

    it('refuses an unsigned one with 403 and logs why', async () => {
      const response = await request(app).get('/signed/naïve.txt')
      expect(response.status).toBe(403)
      expect(response.text).toBe('Forbidden\n')
      expect(logger.warn).toHaveBeenCalledWith(
        'Signed URL refused for GET /signed/na%C3%AFve.txt: missing signature',
      )
    })

    it('checks the full URL under a mounted router (req.originalUrl)', async () => {
      const response = await request(app).get(sign('/files/report'))
      expect(response.status).toBe(200)
      expect(response.text).toBe('report')
    })

    it('refuses, under a mounted router, a URL signed for the path the router sees', async () => {
      const response = await request(app).get(`/files${sign('/report')}`)
      expect(response.status).toBe(403)
    })
  })
})

describe('signatureCheck()', () => {
  const check = signatureCheck({ keys: [KEY], clock }, 'ObjectDownloadView')

  it('returns quietly for a valid signature', () => {
    expect(check({ method: 'GET', url: sign('/documents/a/download') })).toBeUndefined()
  })

  it('prefers originalUrl', () => {
    expect(() =>
      check({ method: 'GET', url: '/a/download', originalUrl: sign('/documents/a/download') }),
    ).not.toThrow()
  })

  it('throws a SignatureError for a refused one', () => {
    expect(() => check({ method: 'GET', url: '/documents/a/download' })).toThrow(
      new SignatureError('Signed URL refused for GET /documents/a/download: missing signature'),
    )
  })

  it('names the view and the "signature" option in a ConfigurationError', () => {
    expect(configurationError(() => signatureCheck({ keys: {} }, 'ObjectDownloadView'))).toBe(
      'ObjectDownloadView: option "signature.keys" must be a non-empty array of { id, secret }, or a record of key id to secret',
    )
    expect(
      configurationError(() => signatureCheck(undefined as unknown as { keys: [] }, 'ObjectDownloadView')),
    ).toBe('ObjectDownloadView: option "signature" must be an object with "keys"')
  })
})
