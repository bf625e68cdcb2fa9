/** DownloadView's own options: handoff (per view, from the app, opted out) and signature. */
import express from 'express'
import request from 'supertest'
import { ConfigurationError } from '../../../src/errors'
import { toHandler } from '../../../src/express'
import { handoffMiddleware } from '../../../src/express/handoff-middleware'
import type { Handoff } from '../../../src/handoff/handoff'
import type { Logger } from '../../../src/logger'
import { signUrl } from '../../../src/signing/signed-url'
import { VirtualDownloadView, type VirtualDownloadViewOptions } from '../../../src/views/virtual-view'

/** A hand-off that marks the plan, so a test can see whether it ran. */
const marking =
  (mark: string): Handoff =>
  (plan) => ({
    ...plan,
    headers: { ...plan.headers, 'X-Offloaded-By': mark, 'Content-Length': '0' },
    body: undefined,
  })

const declining: Handoff = () => undefined

function appWith(options: Partial<VirtualDownloadViewOptions>, appHandoff?: Handoff) {
  const app = express()
  if (appHandoff) app.use(handoffMiddleware(appHandoff))
  const view = new VirtualDownloadView({ name: 'hello.txt', content: 'Hello world!\n', ...options })
  app.all('/file', toHandler(view))
  return app
}

describe('DownloadView option "handoff"', () => {
  describe('when it is not set and the app has no hand-off', () => {
    it('streams the file', async () => {
      const response = await request(appWith({})).get('/file')
      expect(response.text).toBe('Hello world!\n')
      expect(response.headers['x-offloaded-by']).toBeUndefined()
    })
  })

  describe('when the app set one with handoffMiddleware()', () => {
    it('hands the view off', async () => {
      const response = await request(appWith({}, marking('app'))).get('/file')
      expect(response.headers['x-offloaded-by']).toBe('app')
      expect(response.text).toBe('')
    })

    it("lets the view's own hand-off win", async () => {
      const response = await request(appWith({ handoff: marking('view') }, marking('app'))).get('/file')
      expect(response.headers['x-offloaded-by']).toBe('view')
    })

    it('streams when the view opts out with false', async () => {
      const response = await request(appWith({ handoff: false }, marking('app'))).get('/file')
      expect(response.headers['x-offloaded-by']).toBeUndefined()
      expect(response.text).toBe('Hello world!\n')
    })
  })

  describe('when it is a list', () => {
    it('uses the first hand-off that takes the plan', async () => {
      const response = await request(appWith({ handoff: [declining, marking('second')] })).get('/file')
      expect(response.headers['x-offloaded-by']).toBe('second')
    })

    it('streams when none takes it', async () => {
      const response = await request(appWith({ handoff: [declining] })).get('/file')
      expect(response.text).toBe('Hello world!\n')
    })
  })

  describe('for answers without a body', () => {
    it('offers HEAD to the hand-off, which decides (a redirect answers it, a proxy declines it)', async () => {
      const marked = await request(appWith({ handoff: marking('view') })).head('/file')
      expect(marked.headers['x-offloaded-by']).toBe('view')
      const declined = await request(appWith({ handoff: declining })).head('/file')
      expect(declined.headers['x-offloaded-by']).toBeUndefined()
      expect(declined.headers['content-length']).toBe('13')
    })

    it('does not hand off a 304', async () => {
      const app = appWith({ handoff: marking('view'), etag: '"v1"' })
      const response = await request(app).get('/file').set('If-None-Match', '"v1"')
      expect(response.status).toBe(304)
      expect(response.headers['x-offloaded-by']).toBeUndefined()
    })
  })

  it.each([
    ['a string', 'nginx'],
    ['true', true],
    ['a list with a non-function', [declining, 'nginx']],
  ])('refuses %s with a ConfigurationError naming it', (_label, value) => {
    const build = () =>
      new VirtualDownloadView({ name: 'a.txt', content: 'a', handoff: value as unknown as Handoff })
    expect(build).toThrow(ConfigurationError)
    expect(build).toThrow(/option "handoff"/)
  })
})

describe('DownloadView option "signature"', () => {
  const key = { id: 'k1', secret: 'a signing secret of at least 32 bytes!' }
  const lines: string[] = []
  const logger: Logger = {
    error: (message) => lines.push(`error ${message}`),
    warn: (m) => lines.push(`warn ${m}`),
  }
  beforeEach(() => {
    lines.length = 0
  })

  describe('when it is set', () => {
    const app = () => appWith({ signature: { keys: [key] }, logger })

    it('serves a signed URL', async () => {
      const response = await request(app()).get(signUrl('/file', { key, expiresIn: 60 }))
      expect(response.status).toBe(200)
      expect(response.text).toBe('Hello world!\n')
    })

    it('answers 403 to an unsigned URL, with the reason in the log only', async () => {
      const response = await request(app()).get('/file')
      expect(response.status).toBe(403)
      expect(response.text).toBe('Forbidden\n')
      expect(lines).toEqual([expect.stringMatching(/^warn .*missing signature/)])
    })

    it('answers 403 to a tampered URL', async () => {
      const url = signUrl('/file?x=1', { key, expiresIn: 60 }).replace('x=1', 'x=2')
      expect((await request(app()).get(url)).status).toBe(403)
    })
  })

  describe('when it is not set', () => {
    it('serves an unsigned URL', async () => {
      expect((await request(appWith({})).get('/file')).status).toBe(200)
    })
  })

  it('refuses bad keys at construction, naming the option', () => {
    expect(() => new VirtualDownloadView({ name: 'a.txt', content: 'a', signature: { keys: [] } })).toThrow(
      /option "signature\.keys"/,
    )
  })
})

describe('DownloadView option "logger"', () => {
  it('refuses a logger without error()', () => {
    expect(
      () => new VirtualDownloadView({ name: 'a.txt', content: 'a', logger: {} as unknown as Logger }),
    ).toThrow(/option "logger"/)
  })
})
