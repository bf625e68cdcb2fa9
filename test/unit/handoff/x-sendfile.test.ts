import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import type { IncomingHttpHeaders } from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { ConfigurationError } from '../../../src/errors'
import type { FileLocation } from '../../../src/files/download-file'
import { applyHandoff, type ProxyHandoff } from '../../../src/handoff/handoff'
import { lighttpdSendfile, type SendfileOptions, xSendfile } from '../../../src/handoff/x-sendfile'
import { type ResponsePlan, respond } from '../../../src/http/respond'
import { LocalStorage } from '../../../src/storage/local-storage'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { storages } from '../../../src/storage/registry'
import { MemoryFile, MODIFIED, NUMS, NUMS_SHA256 } from '../http/fixtures'

const local = new LocalStorage({ root: '/srv/media' })

afterEach(() => storages.clear())

function planAt(
  location: FileLocation | undefined,
  headers: IncomingHttpHeaders = {},
  method = 'GET',
): ResponsePlan {
  const file = new MemoryFile(NUMS, { sha256: NUMS_SHA256, modifiedAt: MODIFIED, location })
  return respond({ method, headers }, file)
}

const atPath = (path: string): FileLocation => ({ kind: 'path', path })
const inLocal = (key: string): FileLocation => ({ kind: 'storage', storage: local, key })

// [name, factory, header, whether the server URL-decodes the value by default]
const backends: [string, (options: SendfileOptions) => ProxyHandoff, string, boolean][] = [
  ['xSendfile', xSendfile, 'X-Sendfile', false],
  ['lighttpdSendfile', lighttpdSendfile, 'X-Sendfile', true],
]

/** What Node writes for a header string: one byte per character, so UTF-8 goes in as Latin-1. */
const utf8AsLatin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1')

describe.each(backends)('%s()', (owner, make, header, decodesByDefault) => {
  const sentPath = (location: FileLocation | undefined, options: SendfileOptions) =>
    make(options)(planAt(location))?.headers[header]

  describe('with a root rule', () => {
    const rules = [{ root: '/srv/media' }]

    it(`sends ${header} with the absolute path`, () => {
      expect(sentPath(atPath('/srv/media/docs/a.pdf'), { rules })).toBe('/srv/media/docs/a.pdf')
    })

    it('sends the path of a storage key inside the root', () => {
      expect(sentPath(inLocal('docs/a.pdf'), { rules })).toBe('/srv/media/docs/a.pdf')
    })

    it('does not offload /srv/media2 for /srv/media', () => {
      expect(sentPath(atPath('/srv/media2/a.pdf'), { rules })).toBeUndefined()
    })

    it('rewrites the root with "to"', () => {
      expect(
        sentPath(atPath('/srv/media/docs/a.pdf'), { rules: [{ root: '/srv/media', to: '/var/www/files/' }] }),
      ).toBe('/var/www/files/docs/a.pdf')
    })
  })

  describe('with a storage rule', () => {
    it('sends the storage’s local path of the key', () => {
      expect(sentPath(inLocal('docs/a.pdf'), { rules: [{ storage: local }] })).toBe('/srv/media/docs/a.pdf')
    })

    it('matches the storage by its registered name', () => {
      storages.register('media', local)
      expect(sentPath(inLocal('a.pdf'), { rules: [{ storage: 'media' }] })).toBe('/srv/media/a.pdf')
    })

    it('does not offload a file of another storage', () => {
      const other = new LocalStorage({ root: '/srv/media' })
      expect(
        sentPath({ kind: 'storage', storage: other, key: 'a.pdf' }, { rules: [{ storage: local }] }),
      ).toBeUndefined()
    })

    it('sends "to" plus the key', () => {
      expect(sentPath(inLocal('docs/a.pdf'), { rules: [{ storage: local, to: '/mnt/media' }] })).toBe(
        '/mnt/media/docs/a.pdf',
      )
    })

    it('needs no localPath() with "to"', () => {
      const memory = new MemoryStorage()
      const location: FileLocation = { kind: 'storage', storage: memory, key: 'a.pdf' }
      expect(sentPath(location, { rules: [{ storage: memory, to: '/mnt/media' }] })).toBe('/mnt/media/a.pdf')
    })

    it('does not offload a named storage that keeps no local files', () => {
      const memory = new MemoryStorage()
      storages.register('memory', memory)
      const location: FileLocation = { kind: 'storage', storage: memory, key: 'a.pdf' }
      expect(sentPath(location, { rules: [{ storage: 'memory' }] })).toBeUndefined()
    })
  })

  describe('with a symlink that leads out of the root', () => {
    let base: string
    let root: string

    beforeAll(async () => {
      base = await mkdtemp(path.join(os.tmpdir(), 'downloadview-sendfile-'))
      root = path.join(base, 'media')
      await mkdir(root)
      await writeFile(path.join(base, 'secret.txt'), 'secret')
      await symlink(path.join(base, 'secret.txt'), path.join(root, 'link.txt'))
    })

    afterAll(() => rm(base, { recursive: true, force: true }))

    it('does not offload it under a root rule: the server would follow the link', () => {
      expect(sentPath(atPath(path.join(root, 'link.txt')), { rules: [{ root }] })).toBeUndefined()
    })

    it('does not offload it under a storage rule, with or without "to"', () => {
      const storage = new LocalStorage({ root })
      const location: FileLocation = { kind: 'storage', storage, key: 'link.txt' }
      expect(sentPath(location, { rules: [{ storage }] })).toBeUndefined()
      expect(sentPath(location, { rules: [{ storage, to: '/var/www/media' }] })).toBeUndefined()
    })
  })

  describe('option "proxyUnescapes"', () => {
    const rules = [{ root: '/srv/media' }]

    it(`${decodesByDefault ? 'percent-encodes each segment' : 'sends the UTF-8 bytes as they are'} by default`, () => {
      expect(sentPath(atPath('/srv/media/a b/100% #1?é.txt'), { rules })).toBe(
        decodesByDefault
          ? '/srv/media/a%20b/100%25%20%231%3F%C3%A9.txt'
          : utf8AsLatin1('/srv/media/a b/100% #1?é.txt'),
      )
    })

    it('percent-encodes with true', () => {
      expect(sentPath(atPath('/srv/media/a b.txt'), { rules, proxyUnescapes: true })).toBe(
        '/srv/media/a%20b.txt',
      )
    })

    it('sends the path as it is with false', () => {
      expect(sentPath(atPath('/srv/media/a b%41.txt'), { rules, proxyUnescapes: false })).toBe(
        '/srv/media/a b%41.txt',
      )
    })

    it('does not offload a path that ends with a space with false: the server would trim it', () => {
      expect(sentPath(atPath('/srv/media/a.txt '), { rules, proxyUnescapes: false })).toBeUndefined()
    })

    it('sends a non-ASCII path as its UTF-8 bytes with false', () => {
      expect(sentPath(atPath('/srv/media/é.txt'), { rules, proxyUnescapes: false })).toBe(
        '/srv/media/\u00c3\u00a9.txt',
      )
    })

    it('does not offload a lone surrogate with false: no file name on disk has one', () => {
      expect(sentPath(atPath('/srv/media/\ud800.txt'), { rules, proxyUnescapes: false })).toBeUndefined()
    })

    it.each([true, false])(
      'does not offload a path with a line break (proxyUnescapes: %s)',
      (proxyUnescapes) => {
        expect(sentPath(atPath('/srv/media/a\r\nb.txt'), { rules, proxyUnescapes })).toBeUndefined()
      },
    )

    it('refuses a value that is not a boolean', () => {
      expect(() => make({ rules, proxyUnescapes: 'yes' as unknown as boolean })).toThrow(
        `${owner}(): option "proxyUnescapes" must be a boolean`,
      )
    })
  })

  describe('plans', () => {
    const offload = make({ rules: [{ root: '/srv/media' }] })

    it('answers a 206 plan with 200, Content-Length 0 and no body: the server answers Range', () => {
      const planned = planAt(atPath('/srv/media/nums.txt'), { range: 'bytes=2-5' })
      const plan = offload(planned)
      expect(plan?.status).toBe(200)
      expect(plan?.body).toBeUndefined()
      expect(plan?.headers['Content-Length']).toBe('0')
      expect(plan?.headers['Content-Range']).toBeUndefined()
      expect(plan?.headers.ETag).toBe(planned.headers.ETag)
      expect(plan?.file).toBe(planned.file)
    })

    it('does not offload a generated file', () => {
      expect(offload(planAt(undefined))).toBeUndefined()
    })

    it('does not offload a URL', () => {
      expect(offload(planAt({ kind: 'url', url: 'https://cdn.example.com/srv/media/a' }))).toBeUndefined()
    })

    it('leaves HEAD and 304 to the app through applyHandoff()', () => {
      const head = planAt(atPath('/srv/media/nums.txt'), {}, 'HEAD')
      const notModified = planAt(atPath('/srv/media/nums.txt'), { 'if-none-match': `"${NUMS_SHA256}"` })
      expect(applyHandoff(head, [offload])).toBe(head)
      expect(applyHandoff(notModified, [offload])).toBe(notModified)
    })

    it('offloads If-Match requests: the server checks them against the app’s ETag', () => {
      const headers = { 'if-match': `"${NUMS_SHA256}"` }
      expect(offload(planAt(atPath('/srv/media/nums.txt'), headers), { headers })?.headers[header]).toBe(
        '/srv/media/nums.txt',
      )
    })
  })

  describe('option checks', () => {
    const build = (options: unknown) => () => make(options as SendfileOptions)

    it.each([
      [undefined, 'options must be an object with "rules"'],
      [{}, 'option "rules" must be a non-empty array of rules'],
      [{ rules: [] }, 'option "rules" must be a non-empty array'],
      [{ rules: [{ root: '/srv' }], extra: 1 }, 'unknown option "extra"'],
      [{ rules: ['/srv'] }, 'option "rules"[0] must be an object'],
      [{ rules: [{ url: 'https://cdn.example.com/' }] }, 'option "rules"[0] has an unknown key "url"'],
      [{ rules: [{ root: '/srv', location: '/p/' }] }, 'option "rules"[0] has an unknown key "location"'],
      [{ rules: [{}] }, 'option "rules"[0] must have exactly one of "root" or "storage"'],
      [{ rules: [{ root: 'srv' }] }, 'option "rules"[0].root must be an absolute directory path'],
      [{ rules: [{ root: '/srv', to: 'relative' }] }, 'option "rules"[0].to must be an absolute path'],
      [{ rules: [{ root: '/srv', to: '/a\nb' }] }, 'option "rules"[0].to must be an absolute path'],
      [
        { rules: [{ storage: new MemoryStorage() }] },
        'option "rules"[0].storage keeps no local files (it has no localPath()): give "to"',
      ],
    ])('refuses %j', (options, message) => {
      expect(build(options)).toThrow(ConfigurationError)
      expect(build(options)).toThrow(`${owner}(): ${message}`)
    })
  })
})

describe('lighttpdSendfile() option "header"', () => {
  const rules = [{ root: '/srv/media' }]
  const plan = () => planAt(atPath('/srv/media/a.txt'))

  it('sends X-Sendfile by default, which lighttpd honours behind mod_proxy', () => {
    const headers = lighttpdSendfile({ rules })(plan())?.headers
    expect(headers?.['X-Sendfile']).toBe('/srv/media/a.txt')
    expect(headers?.['X-Lighttpd-Send-File']).toBeUndefined()
  })

  it('sends X-Lighttpd-Send-File when asked, for FastCGI backends', () => {
    const headers = lighttpdSendfile({ rules, header: 'X-Lighttpd-Send-File' })(plan())?.headers
    expect(headers?.['X-Lighttpd-Send-File']).toBe('/srv/media/a.txt')
    expect(headers?.['X-Sendfile']).toBeUndefined()
  })

  it('refuses another header name', () => {
    expect(() => lighttpdSendfile({ rules, header: 'X-Accel-Redirect' as 'X-Sendfile' })).toThrow(
      `lighttpdSendfile(): option "header" must be 'X-Sendfile' or 'X-Lighttpd-Send-File'`,
    )
  })
})
