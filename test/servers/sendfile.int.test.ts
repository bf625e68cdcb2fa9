/**
 * X-Sendfile through a real Apache (mod_xsendfile) and a real lighttpd (mod_proxy "x-sendfile"):
 * the demo app behind handoffMiddleware(xSendfile()), each server in front with the configuration
 * of docs/apache-lighttpd.md. Fails (never skips) without apache2, mod_xsendfile or lighttpd.
 * What the app answers on its own is in test/integration/handoff-proxy.int.test.ts, which needs no server.
 * The checks every server in front of the app passes are test/contract/reverse-proxy.contract.ts.
 */
import { chmod, readdir } from 'node:fs/promises'
import path from 'node:path'
import express from 'express'
import { buildApp } from '../../demo/app'
import { StorageDownloadView } from '../../src'
import { toHandler } from '../../src/express'
import { handoffMiddleware } from '../../src/express/handoff-middleware'
import type { Handoff } from '../../src/handoff/handoff'
import { lighttpdSendfile, xSendfile } from '../../src/handoff/x-sendfile'
import { assertDownload } from '../../src/testing'
import { customHeaderRoute, describeReverseProxyContract } from '../contract/reverse-proxy.contract'
import { type RunningServer, startApache } from '../helpers/apache'
import { type AppServer, listen } from '../helpers/app-server'
import { startLighttpd } from '../helpers/lighttpd'
import { AppAnswers, getBytes } from '../helpers/reverse-proxy'
import { type SeededDemo, seededDemo } from '../helpers/seeded-demo'
import { LocalCountingStorage } from '../helpers/storage'

/** A key with a space and non-ASCII characters. */
const ODD_KEY = 'odd/a b naïve café.txt'
/** A printable-ASCII key with a space and a `%`: `proxyUnescapes: false` sends it as it is. */
const ASCII_KEY = 'odd/a b%41.txt'

let demo: SeededDemo<LocalCountingStorage>
/** The app behind Apache, and the one behind lighttpd. */
let apacheApp: AppServer
let lighttpdApp: AppServer
let apache: RunningServer
let lighttpd: RunningServer
const answers = new AppAnswers()

beforeAll(async () => {
  demo = await seededDemo((local) => new LocalCountingStorage(local))
  await demo.storage.save(ODD_KEY, 'odd name\n')
  await demo.storage.save(ASCII_KEY, 'ascii name\n')
  // As root, the servers' workers run as www-data: they must read the media folder.
  await makeReadable(demo.root)

  // Apache reads X-Sendfile as it is; lighttpd URL-decodes it: each in front of its own app.
  apacheApp = await listen(outerApp(xSendfile({ rules: [{ root: demo.root }] })))
  lighttpdApp = await listen(outerApp(lighttpdSendfile({ rules: [{ root: demo.root }] })))
  apache = await startApache({ appPort: apacheApp.port, sendfilePaths: [demo.root] })
  lighttpd = await startLighttpd({ appPort: lighttpdApp.port, docroots: [`${demo.root}/`] })
})

/** The app behind one server: the demo and a few views, offloaded with `offload`. */
function outerApp(handoff: Handoff): express.Express {
  const mediaRoot = demo.root
  const outer = express()
  outer.disable('x-powered-by')
  outer.use(answers.record)
  outer.use(handoffMiddleware(handoff))
  outer.all('/media/*path', toHandler(new StorageDownloadView({ storage: 'default' })))
  outer.all(
    '/encoded/media/*path',
    toHandler(
      new StorageDownloadView({
        storage: 'default',
        handoff: xSendfile({ rules: [{ root: mediaRoot }], proxyUnescapes: true }),
      }),
    ),
  )
  outer.all(
    '/lighttpd-send-file/media/*path',
    toHandler(
      new StorageDownloadView({
        storage: 'default',
        handoff: lighttpdSendfile({ rules: [{ root: mediaRoot }], header: 'X-Lighttpd-Send-File' }),
      }),
    ),
  )
  customHeaderRoute(outer, demo.dataSource)
  outer.use(buildApp(demo.dataSource))
  return outer
}

afterAll(async () => {
  await apache?.stop()
  await lighttpd?.stop()
  await apacheApp?.close()
  await lighttpdApp?.close()
  await demo?.close()
})

beforeEach(() => {
  demo.storage.reset()
  answers.clear()
})

/** Folders 0755 and files 0644 under `dir`, `dir` included (mkdtemp makes it 0700). */
async function makeReadable(dir: string): Promise<void> {
  await chmod(dir, 0o755)
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const child = path.join(dir, entry.name)
    if (entry.isDirectory()) await makeReadable(child)
    else await chmod(child, 0o644)
  }
}

/** `path` as xSendfile() sends it by default: each segment percent-encoded. */
const encodedPath = (file: string) => `/${file.split('/').filter(Boolean).map(encodeURIComponent).join('/')}`
const mediaUrl = (key: string) => `/media/${key.split('/').map(encodeURIComponent).join('/')}`

const servers = [
  {
    name: 'Apache',
    banner: /^Apache\//,
    server: () => apache,
    app: () => apacheApp,
    acceptRanges: undefined,
  },
  {
    name: 'lighttpd',
    banner: /^lighttpd\//,
    server: () => lighttpd,
    app: () => lighttpdApp,
    acceptRanges: 'bytes',
  },
] as const

for (const { name, banner, server, app, acceptRanges } of servers) {
  describeReverseProxyContract({
    name,
    banner,
    handoffHeader: 'X-Sendfile',
    server,
    appUrl: () => app().url,
    opens: () => demo.storage.calls.open,
    forget: () => {
      demo.storage.reset()
      answers.clear()
    },
    // Apache (mod_xsendfile 0.12, Debian's) reads the raw UTF-8 path; lighttpd URL-decodes the
    // percent-encoded one: each backend's default suits its server.
    escapedKey: {
      holds: 'a space and non-ASCII characters',
      url: mediaUrl(ODD_KEY),
      basename: 'a b naïve café.txt',
      content: 'odd name\n',
    },
    sendsPreconditioned: true,
    acceptRanges,
  })
}

describe.each(servers)('what the app behind $name answers', ({ server, app }) => {
  const via = (url: string) => getBytes(server().url, url)
  /** The app's validators for `url`, asked directly (and then forgotten). */
  const validatorsOf = async (url: string) => {
    const { headers } = await getBytes(app().url, url)
    answers.clear()
    return { etag: headers.etag as string, lastModified: headers['last-modified'] as string }
  }
  const url = '/object/default-file/hello-world/'

  it('hands the file over: 200, an empty body, and X-Sendfile with its percent-encoded path', async () => {
    await via(url)
    const answer = await answers.of(url)
    expect([answer.status, answer.headers['content-length']]).toEqual([200, '0'])
    expect(answer.headers['x-sendfile']).toBe(
      encodedPath(path.join(demo.root, 'documents/hello-world/file.txt')),
    )
  })

  it('answers 304 to If-None-Match itself, with no X-Sendfile', async () => {
    const { etag } = await validatorsOf(url)
    await via(url).set('If-None-Match', etag)
    const answer = await answers.of(url)
    expect(answer.status).toBe(304)
    expect(answer.headers['x-sendfile']).toBeUndefined()
  })

  it('answers 304 to If-Modified-Since itself', async () => {
    const { lastModified } = await validatorsOf(url)
    await via(url).set('If-Modified-Since', lastModified)
    expect((await answers.of(url)).status).toBe(304)
  })
})

describe('Apache only', () => {
  const viaApache = (url: string) => getBytes(apache.url, url)

  describe('with names that need escaping', () => {
    it('sends a key with a space and "%" as it is, and Apache finds it', async () => {
      const url = mediaUrl(ASCII_KEY)
      const response = await viaApache(url)
      assertDownload(response, { content: 'ascii name\n', basename: 'a b%41.txt' })
      expect(demo.storage.calls.open).toBe(0)
      expect((await answers.of(url)).headers['x-sendfile']).toBe(path.join(demo.root, ASCII_KEY))
    })

    it('cannot find a percent-encoded path (proxyUnescapes: true): mod_xsendfile 0.12 does not decode', async () => {
      const response = await viaApache(`/encoded${mediaUrl(ODD_KEY)}`)
      expect(response.status).toBe(404)
    })
  })
})

describe('lighttpd only', () => {
  const viaLighttpd = (url: string) => getBytes(lighttpd.url, url)

  it('serves the file that lighttpdSendfile() names in X-Sendfile, percent-encoded', async () => {
    const url = mediaUrl(ODD_KEY)
    const response = await viaLighttpd(url)
    assertDownload(response, { content: 'odd name\n', basename: 'a b naïve café.txt' })
    expect((await answers.of(url)).headers['x-sendfile']).toBe(encodedPath(path.join(demo.root, ODD_KEY)))
    expect(demo.storage.calls.open).toBe(0)
  })

  // Why X-Sendfile is lighttpdSendfile()'s default: lighttpd 1.4 honours X-Lighttpd-Send-File from
  // FastCGI backends only, and drops it from proxied ones, leaving the app's empty body.
  it('ignores X-Lighttpd-Send-File from a proxied app (header: "X-Lighttpd-Send-File")', async () => {
    const url = '/lighttpd-send-file/media/hello-world.txt'
    const response = await viaLighttpd(url)
    expect((await answers.of(url)).headers['x-lighttpd-send-file']).toBe(
      encodedPath(path.join(demo.root, 'hello-world.txt')),
    )
    expect(response.headers['x-lighttpd-send-file']).toBeUndefined()
    expect(response.body).toEqual(Buffer.alloc(0))
  })
})
