import http from 'node:http'
import https from 'node:https'
import { ConfigurationError } from '../../../src/errors'
import type { DownloadRequest } from '../../../src/views/download-view'
import { HTTPDownloadView, type HTTPDownloadViewOptions } from '../../../src/views/http-view'

const URL_OPTION = 'https://files.example.com/report.pdf'

/** A view that shows what it resolved. */
class ProbeView extends HTTPDownloadView {
  get settings() {
    return this.client.options
  }
}

const views: HTTPDownloadView[] = []

/** A view with `options` (and a url unless given); destroyed after the test. */
function build(options: Partial<HTTPDownloadViewOptions> = {}): ProbeView {
  const view = new ProbeView({ url: URL_OPTION, ...options })
  views.push(view)
  return view
}

/** Lets a test pass a value of the wrong type, as JavaScript callers can. */
const loose = (options: Record<string, unknown>) => options as Partial<HTTPDownloadViewOptions>

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

afterEach(() => {
  for (const view of views.splice(0)) view.destroy()
})

describe('HTTPDownloadView options', () => {
  describe('with only a url', () => {
    it('applies every default', () => {
      const view = build()
      expect(view.settings).toMatchObject({
        connectTimeout: 10_000,
        timeout: 30_000,
        maxRedirects: 5,
        maxSize: undefined,
      })
      expect(view.forwardHeaders).toEqual([])
      expect(view.requestHeaders).toEqual({})
      expect(view.guard.patterns).toEqual([])
      expect(view.guard.onlyAllowedHosts).toBe(false)
      expect(view.basename).toBeUndefined()
    })

    it('creates keep-alive agents of its own', () => {
      const { agents } = build().settings
      expect(agents.http).toBeInstanceOf(http.Agent)
      expect(agents.https).toBeInstanceOf(https.Agent)
      expect(agents.http).not.toBe(http.globalAgent)
      expect((agents.https as unknown as { keepAlive: boolean }).keepAlive).toBe(true)
      expect((agents.http as unknown as { keepAlive: boolean }).keepAlive).toBe(true)
    })

    it('closes pooled connections after 5 s unused, as Node’s global agent does', () => {
      const { agents } = build().settings
      expect((agents.http as unknown as { options: { timeout: number } }).options.timeout).toBe(5000)
      expect((agents.https as unknown as { options: { timeout: number } }).options.timeout).toBe(5000)
    })
  })

  describe('option url', () => {
    it('takes a string', () => {
      expect(build({ url: URL_OPTION }).url?.href).toBe(URL_OPTION)
    })

    it('takes a URL object, copied', () => {
      const url = new URL(URL_OPTION)
      const view = build({ url })
      url.pathname = '/other'
      expect(view.url?.href).toBe(URL_OPTION)
    })

    it('is required without a getUrl() override', () => {
      expect(configurationError(() => new HTTPDownloadView({}))).toBe(
        'HTTPDownloadView: option "url" is required unless a subclass overrides getUrl()',
      )
    })

    it('may be left out when a subclass overrides getUrl()', () => {
      class Computed extends HTTPDownloadView {
        override getUrl(request: DownloadRequest) {
          return `https://files.example.com/${String(request.params.name)}`
        }
      }
      const view = new Computed({})
      views.push(view)
      expect(view.url).toBeUndefined()
    })

    it('rejects a relative URL', () => {
      expect(configurationError(() => build({ url: '/report.pdf' }))).toBe(
        'HTTPDownloadView: option "url" must be an absolute http or https URL',
      )
    })

    it('rejects another scheme', () => {
      expect(configurationError(() => build({ url: 'file:///etc/passwd' }))).toBe(
        'HTTPDownloadView: option "url" must be an http or https URL',
      )
    })

    it('rejects credentials in the URL', () => {
      expect(configurationError(() => build({ url: 'https://user:secret@files.example.com/a' }))).toBe(
        'HTTPDownloadView: option "url" may not hold credentials: send them with "requestHeaders"',
      )
    })

    it('rejects a value that is neither a string nor a URL', () => {
      expect(configurationError(() => build(loose({ url: { href: URL_OPTION } })))).toMatch(/option "url"/)
    })
  })

  describe('option basename', () => {
    it('keeps a name', () => {
      expect(build({ basename: 'report.pdf' }).basename).toBe('report.pdf')
    })

    it('is undefined when left out', () => {
      expect(build().basename).toBeUndefined()
    })

    it('rejects an empty name', () => {
      expect(configurationError(() => build({ basename: ' ' }))).toBe(
        'HTTPDownloadView: option "basename" must be a non-empty string',
      )
    })
  })

  describe('option allowedHosts', () => {
    it('keeps hosts and wildcards', () => {
      expect(build({ allowedHosts: ['127.0.0.1', '*.example.com'] }).guard.patterns).toEqual([
        { kind: 'host', host: '127.0.0.1' },
        { kind: 'subdomains', suffix: '.example.com' },
      ])
    })

    it('keeps the port an entry names', () => {
      expect(
        build({ allowedHosts: ['127.0.0.1:8080', '[::1]:8080', 'example.com:443'] }).guard.patterns,
      ).toEqual([
        { kind: 'host', host: '127.0.0.1', port: 8080 },
        { kind: 'host', host: '::1', port: 8080 },
        { kind: 'host', host: 'example.com', port: 443 },
      ])
    })

    it('rejects an entry that is not a host, naming the option', () => {
      expect(configurationError(() => build({ allowedHosts: ['http://example.com'] }))).toMatch(
        /^HTTPDownloadView: option "allowedHosts" has "http:\/\/example\.com"/,
      )
    })

    it('rejects an entry with a bad port, naming the option', () => {
      expect(configurationError(() => build({ allowedHosts: ['127.0.0.1:70000'] }))).toBe(
        'HTTPDownloadView: option "allowedHosts" has "127.0.0.1:70000", whose port is not a number from 1 to 65535',
      )
    })

    it('rejects a non-array', () => {
      expect(configurationError(() => build(loose({ allowedHosts: 'example.com' })))).toBe(
        'HTTPDownloadView: option "allowedHosts" must be an array of host names',
      )
    })
  })

  describe('option onlyAllowedHosts', () => {
    it('turns on with a list', () => {
      expect(build({ allowedHosts: ['example.com'], onlyAllowedHosts: true }).guard.onlyAllowedHosts).toBe(
        true,
      )
    })

    it('stays off when false', () => {
      expect(build({ allowedHosts: ['example.com'], onlyAllowedHosts: false }).guard.onlyAllowedHosts).toBe(
        false,
      )
    })

    it('rejects true without a list', () => {
      expect(configurationError(() => build({ onlyAllowedHosts: true }))).toBe(
        'HTTPDownloadView: option "onlyAllowedHosts" needs a non-empty "allowedHosts"',
      )
    })

    it('rejects a non-boolean', () => {
      expect(configurationError(() => build(loose({ onlyAllowedHosts: 1 })))).toBe(
        'HTTPDownloadView: option "onlyAllowedHosts" must be a boolean',
      )
    })
  })

  describe('option forwardHeaders', () => {
    it('keeps header names, lower-cased', () => {
      expect(build({ forwardHeaders: ['Authorization', 'Cookie', 'X-Tenant'] }).forwardHeaders).toEqual([
        'authorization',
        'cookie',
        'x-tenant',
      ])
    })

    it('forwards nothing when empty', () => {
      expect(build({ forwardHeaders: [] }).forwardHeaders).toEqual([])
    })

    it.each([
      'Connection',
      'Keep-Alive',
      'TE',
      'Transfer-Encoding',
      'Upgrade',
      'Proxy-Authorization',
      'Host',
    ])('rejects %s, naming the option', (name) => {
      expect(configurationError(() => build({ forwardHeaders: [name] }))).toBe(
        `HTTPDownloadView: option "forwardHeaders" may not list "${name}": it concerns one connection only`,
      )
    })

    it.each(['Range', 'If-None-Match', 'Accept-Encoding'])(
      'rejects %s, which the view sets itself',
      (name) => {
        expect(configurationError(() => build({ forwardHeaders: [name] }))).toBe(
          `HTTPDownloadView: option "forwardHeaders" may not list "${name}": the view sets it itself`,
        )
      },
    )

    it('rejects an invalid name', () => {
      expect(configurationError(() => build({ forwardHeaders: ['X Bad'] }))).toBe(
        'HTTPDownloadView: option "forwardHeaders" has an invalid header name "X Bad"',
      )
    })

    it('rejects a non-array', () => {
      expect(configurationError(() => build(loose({ forwardHeaders: 'Cookie' })))).toBe(
        'HTTPDownloadView: option "forwardHeaders" must be an array of header names',
      )
    })
  })

  describe('option requestHeaders', () => {
    it('keeps static headers', () => {
      expect(
        build({ requestHeaders: { Authorization: 'Bearer t', 'User-Agent': 'app/1' } }).requestHeaders,
      ).toEqual({
        Authorization: 'Bearer t',
        'User-Agent': 'app/1',
      })
    })

    it('sends none when empty', () => {
      expect(build({ requestHeaders: {} }).requestHeaders).toEqual({})
    })

    it('rejects a header that forwardHeaders also takes from the client', () => {
      expect(
        configurationError(() =>
          build({ forwardHeaders: ['authorization'], requestHeaders: { Authorization: 'Bearer t' } }),
        ),
      ).toBe(
        'HTTPDownloadView: option "requestHeaders" sets "Authorization", which "forwardHeaders" also takes from the client',
      )
    })

    it('rejects a value with a line break', () => {
      expect(configurationError(() => build({ requestHeaders: { 'X-A': 'a\r\nX-B: b' } }))).toBe(
        'HTTPDownloadView: option "requestHeaders" has an invalid value for "X-A"',
      )
    })

    it('rejects a non-string value', () => {
      expect(configurationError(() => build(loose({ requestHeaders: { 'X-A': 1 } })))).toBe(
        'HTTPDownloadView: option "requestHeaders" has an invalid value for "X-A"',
      )
    })

    it('rejects an invalid name', () => {
      expect(configurationError(() => build({ requestHeaders: { 'X:A': 'a' } }))).toBe(
        'HTTPDownloadView: option "requestHeaders" has an invalid header name "X:A"',
      )
    })

    it.each(['Host', 'Connection', 'Transfer-Encoding', 'Range', 'Accept-Encoding', 'Content-Length'])(
      'rejects %s',
      (name) => {
        expect(configurationError(() => build({ requestHeaders: { [name]: 'x' } }))).toBe(
          `HTTPDownloadView: option "requestHeaders" may not set "${name}": the view or the connection decides it`,
        )
      },
    )

    it('rejects a non-object', () => {
      expect(configurationError(() => build(loose({ requestHeaders: ['X-A: a'] })))).toBe(
        'HTTPDownloadView: option "requestHeaders" must be an object of header names to values',
      )
    })
  })

  describe('option maxRedirects', () => {
    it('keeps a count', () => {
      expect(build({ maxRedirects: 2 }).settings.maxRedirects).toBe(2)
    })

    it('keeps 0 (no redirect followed)', () => {
      expect(build({ maxRedirects: 0 }).settings.maxRedirects).toBe(0)
    })

    it.each([-1, 1.5, Number.NaN, '3'])('rejects %p', (value) => {
      expect(configurationError(() => build(loose({ maxRedirects: value })))).toBe(
        'HTTPDownloadView: option "maxRedirects" must be an integer of at least 0',
      )
    })
  })

  describe('option maxSize', () => {
    it('keeps a limit', () => {
      expect(build({ maxSize: 1024 }).settings.maxSize).toBe(1024)
    })

    it('has no limit when left out', () => {
      expect(build({ maxSize: undefined }).settings.maxSize).toBeUndefined()
    })

    it.each([-1, 0.5, Number.POSITIVE_INFINITY, '10'])('rejects %p', (value) => {
      expect(configurationError(() => build(loose({ maxSize: value })))).toBe(
        'HTTPDownloadView: option "maxSize" must be a number of bytes (an integer of at least 0)',
      )
    })
  })

  describe('option connectTimeout', () => {
    it('keeps a timeout', () => {
      expect(build({ connectTimeout: 250 }).settings.connectTimeout).toBe(250)
    })

    it.each([0, -5, 2 ** 31, 1.5, '100'])('rejects %p', (value) => {
      expect(configurationError(() => build(loose({ connectTimeout: value })))).toBe(
        'HTTPDownloadView: option "connectTimeout" must be a number of milliseconds (an integer from 1 to 2147483647)',
      )
    })
  })

  describe('option timeout', () => {
    it('keeps a timeout', () => {
      expect(build({ timeout: 500 }).settings.timeout).toBe(500)
    })

    it.each([0, -5, 2 ** 31, 1.5, '100'])('rejects %p', (value) => {
      expect(configurationError(() => build(loose({ timeout: value })))).toBe(
        'HTTPDownloadView: option "timeout" must be a number of milliseconds (an integer from 1 to 2147483647)',
      )
    })
  })

  describe('option agent', () => {
    it('uses the given agents', () => {
      const agent = { http: new http.Agent(), https: new https.Agent() }
      const view = build({ agent })
      expect(view.settings.agents).toEqual({ http: agent.http, https: agent.https })
      agent.http.destroy()
      agent.https.destroy()
    })

    it('keeps its own agent for the scheme not given', () => {
      const custom = new http.Agent()
      const { agents } = build({ agent: { http: custom } }).settings
      expect(agents.http).toBe(custom)
      expect(agents.https).toBeInstanceOf(https.Agent)
      custom.destroy()
    })

    it('rejects an agent of the wrong kind', () => {
      expect(configurationError(() => build(loose({ agent: { https: new http.Agent() } })))).toBe(
        'HTTPDownloadView: option "agent" must have an https.Agent as "https"',
      )
    })

    it('rejects a non-object', () => {
      expect(configurationError(() => build(loose({ agent: 'keep-alive' })))).toBe(
        'HTTPDownloadView: option "agent" must be { http?: http.Agent, https?: https.Agent }',
      )
    })
  })

  describe('with the options every view takes', () => {
    it('validates them, naming the option', () => {
      expect(
        configurationError(() => new HTTPDownloadView(loose({ url: URL_OPTION, attachment: 'yes' }))),
      ).toBe('HTTPDownloadView: option "attachment" must be a boolean')
    })

    it('accepts logger and offload', () => {
      expect(() => build({ logger: { error: () => {} }, handoff: false })).not.toThrow()
    })
  })

  describe('with an unknown option', () => {
    it('names it', () => {
      expect(configurationError(() => new HTTPDownloadView(loose({ url: URL_OPTION, maxsize: 10 })))).toBe(
        'HTTPDownloadView: unknown option "maxsize"',
      )
    })
  })
})
