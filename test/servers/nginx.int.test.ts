/**
 * X-Accel-Redirect through a real nginx: the demo app behind handoffMiddleware(xAccelRedirect()),
 * nginx in front with the configuration of docs/nginx.md. Fails (never skips) without nginx.
 * What the app answers on its own is in test/integration/handoff-proxy.int.test.ts, which needs no server.
 * The checks every server in front of the app passes are test/contract/reverse-proxy.contract.ts.
 */
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parse as parseDisposition } from 'content-disposition'
import express from 'express'
import { buildApp } from '../../demo/app'
import { random1m } from '../../demo/seed'
import { Document } from '../../entities/Document'
import {
  type DownloadFile,
  DownloadView,
  type LocalStorage,
  ObjectDownloadView,
  StorageFile,
  StoredFile,
} from '../../src'
import { toHandler } from '../../src/express'
import { handoffMiddleware } from '../../src/express/handoff-middleware'
import { xAccelRedirect } from '../../src/handoff/nginx'
import { assertDownload } from '../../src/testing'
import { customHeaderRoute, describeReverseProxyContract } from '../contract/reverse-proxy.contract'
import { type AppServer, listen, sha256 } from '../helpers/app-server'
import { type RunningNginx, startNginx } from '../helpers/nginx'
import { getBytes } from '../helpers/reverse-proxy'
import { type SeededDemo, seededDemo } from '../helpers/seeded-demo'
import { CountingStorage } from '../helpers/storage'

const LOCATION = '/protected/media/'
/** The limitRate of the /limited/ route: 1 MiB takes at least two seconds. */
const LIMIT = 512 * 1024
/** A key that needs every escape: space, `?`, `%`, `#` and non-ASCII. */
const ODD_KEY = 'odd/a b?c%41#naïve café.txt'
/** A name of 40,000 bytes, which made a 120 KB Content-Disposition before names were capped. */
const LONG_NAME = 'é'.repeat(20_000)
/** A file beside the media root, which a link inside the root (LINK_KEY) leads to. */
const SECRET = 'not for clients\n'
const LINK_KEY = 'escape/link.txt'

let demo: SeededDemo<CountingStorage>
let app: AppServer
let nginx: RunningNginx
let outside: string

/**
 * LINK_KEY of the LocalStorage itself, described from what a row would record (no stat(), so
 * nothing confines the key before the offload): the view a custom getFile() makes.
 */
class KnownLinkView extends DownloadView {
  constructor(private readonly local: LocalStorage) {
    super({ handoff: xAccelRedirect({ rules: [{ storage: local, location: LOCATION }] }) })
  }

  override async getFile(): Promise<DownloadFile> {
    return new StorageFile(this.local, LINK_KEY, { size: SECRET.length, modifiedAt: new Date() })
  }
}

/** ODD_KEY under the name LONG_NAME: offloaded unless `handoff: false`. */
class LongNameView extends DownloadView {
  override async getFile(): Promise<DownloadFile> {
    const counting = demo.storage
    return new StorageFile(counting, ODD_KEY, { ...(await counting.stat(ODD_KEY)), name: LONG_NAME })
  }
}

beforeAll(async () => {
  demo = await seededDemo((local) => new CountingStorage(local))
  const { dataSource, storage: counting } = demo
  await counting.save(ODD_KEY, 'odd name\n')
  await dataSource.getRepository(Document).save({
    slug: 'odd-name',
    title: 'A key to escape',
    file: Object.assign(new StoredFile(), { path: ODD_KEY }),
  })
  outside = await mkdtemp(path.join(os.tmpdir(), 'downloadview-outside-'))
  await writeFile(path.join(outside, 'secret.txt'), SECRET)
  await counting.save('escape/placeholder.txt', '')
  await symlink(path.join(outside, 'secret.txt'), path.join(demo.root, LINK_KEY))
  await dataSource.getRepository(Document).save(
    {
      slug: 'link-out',
      title: 'A link that leads out of the media root',
      // Size and date recorded: the view trusts them and never stats the key before offloading it.
      file: Object.assign(new StoredFile(), { path: LINK_KEY, size: SECRET.length, modifiedAt: new Date() }),
    },
    { listeners: false },
  ) // the save hook would refuse the key (it leads out of the root): the row a bug or a hand edit leaves

  const outer = express()
  outer.disable('x-powered-by')
  outer.use(handoffMiddleware(xAccelRedirect({ rules: [{ storage: 'default', location: LOCATION }] })))
  customHeaderRoute(outer, dataSource)
  outer.all(
    '/limited/:slug/',
    toHandler(
      new ObjectDownloadView({
        dataSource,
        entity: Document,
        lookup: 'slug',
        file: 'file',
        handoff: xAccelRedirect({ rules: [{ storage: 'default', location: LOCATION }], limitRate: LIMIT }),
      }),
    ),
  )
  outer.all('/known-link/', toHandler(new KnownLinkView(demo.local)))
  outer.all('/long-name/offloaded/', toHandler(new LongNameView({})))
  outer.all('/long-name/streamed/', toHandler(new LongNameView({ handoff: false })))
  outer.use(buildApp(dataSource))
  app = await listen(outer)
  nginx = await startNginx({
    appPort: app.port,
    internal: [{ location: LOCATION, alias: demo.root }],
    extraHeaders: ['X-Demo'],
  })
})

afterAll(async () => {
  await nginx?.stop()
  await app?.close()
  await demo?.close()
  if (outside) await rm(outside, { recursive: true, force: true })
})

beforeEach(() => demo.storage.reset())

/** A GET through nginx, body kept as bytes. */
const viaNginx = (url: string) => getBytes(nginx.url, url)
/** A GET to the app itself, behind nginx's back. */
const direct = (url: string) => getBytes(app.url, url)

describeReverseProxyContract({
  name: 'nginx',
  banner: /^nginx/,
  handoffHeader: 'X-Accel-Redirect',
  server: () => nginx,
  appUrl: () => app.url,
  opens: () => demo.storage.calls.open,
  forget: () => demo.storage.reset(),
  escapedKey: {
    holds: 'a space, "?", "%", "#" and non-ASCII characters',
    url: '/object/default-file/odd-name/',
    basename: 'a b?c%41#naïve café.txt',
    content: 'odd name\n',
  },
  // nginx judges If-Match again, against a file it has no ETag for (etag off), and would answer 412.
  sendsPreconditioned: false,
  acceptRanges: 'bytes',
})

describe('nginx’s own log and locations', () => {
  it('logs that nginx sent the bytes of the internal URI', async () => {
    await viaNginx('/object/default-file/random-1m/')
    expect(await nginx.accessLogLine('/object/default-file/random-1m/ 200 1048576 ')).toContain(
      `/object/default-file/random-1m/ 200 1048576 "${LOCATION}documents/random-1m/random-1m.bin" ${LOCATION}documents/random-1m/random-1m.bin`,
    )
  })

  it('keeps the internal location out of reach of clients', async () => {
    expect((await viaNginx(`${LOCATION}documents/hello-world/file.txt`)).status).toBe(404)
  })
})

describe('the demo route /nginx/optimized-by-middleware/ through nginx', () => {
  it('serves the media hello-world.txt from nginx', async () => {
    const response = await viaNginx('/nginx/optimized-by-middleware/')
    assertDownload(response, {
      content: 'Hello world!\n',
      basename: 'hello-world.txt',
      contentType: 'text/plain',
    })
    expect(response.headers['x-accel-redirect']).toBeUndefined()
    expect(demo.storage.calls.open).toBe(0)
  })

  it('serves a range of it from nginx', async () => {
    const response = await viaNginx('/nginx/optimized-by-middleware/').set('Range', 'bytes=6-10')
    assertDownload(response, { status: 206, content: 'world' })
  })
})

describe('an image variant with format=auto through nginx', () => {
  it('keeps Vary: Accept, so a cache never hands one browser another’s format', async () => {
    // Made once by the app (streamed), then kept in the storage: the second answer is handed off.
    const path = '/photos/sunset/variant/?width=256&format=auto'
    const accept = 'image/avif,image/webp,*/*;q=0.8'
    await viaNginx(path).set('Accept', accept)
    const answer = await direct(path).set('Accept', accept)
    expect(answer.headers['x-accel-redirect']).toBeDefined()
    const response = await viaNginx(path).set('Accept', accept)
    expect(response.status).toBe(200)
    expect(response.headers['x-accel-redirect']).toBeUndefined()
    expect(response.headers.vary).toBe('Accept')
    expect(response.headers['content-type']).toBe('image/avif')
  })
})

describe('a symlink that leads out of the media root', () => {
  it('is not offloaded for a storage with localPath(): Node refuses it with 404', async () => {
    const answer = await direct('/known-link/')
    expect(answer.headers['x-accel-redirect']).toBeUndefined()
    expect(answer.status).toBe(404)
    const response = await viaNginx('/known-link/')
    expect(response.status).toBe(404)
    expect(response.body.toString()).not.toContain(SECRET)
  })

  it('is not followed by nginx for a storage the app cannot check (disable_symlinks)', async () => {
    // The counting wrapper has no localPath(): the app offloads, and only nginx can refuse.
    const answer = await direct('/object/default-file/link-out/')
    expect(answer.headers['x-accel-redirect']).toBe(`${LOCATION}${LINK_KEY}`)
    const response = await viaNginx('/object/default-file/link-out/')
    expect(response.status).toBe(403)
    expect(response.body.toString()).not.toContain(SECRET)
  })
})

describe('long names through nginx', () => {
  it.each([
    ['offloaded', 0],
    ['streamed by Node', 1],
  ])('serves a file named with 20,000 "é" (%s) under its name cut to 255 bytes', async (_how, opens) => {
    const path = opens ? '/long-name/streamed/' : '/long-name/offloaded/'
    const response = await viaNginx(path)
    // Uncapped, the header was 120 KB and nginx answered 502 (upstream sent too big header).
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('odd name\n')
    const disposition = parseDisposition(response.headers['content-disposition'] as string)
    expect(disposition.parameters.filename).toBe('é'.repeat(127))
    expect(demo.storage.calls.open).toBe(opens)
  })
})

describe('X-Accel options through nginx', () => {
  it('limits the rate with limitRate, and hides X-Accel-* from the client', async () => {
    const started = Date.now()
    const response = await viaNginx('/limited/random-1m/')
    const elapsed = Date.now() - started
    expect(sha256(response.body)).toBe(sha256(random1m()))
    expect(elapsed).toBeGreaterThan(1000)
    expect(response.headers['x-accel-limit-rate']).toBeUndefined()
    expect((await direct('/limited/random-1m/')).headers['x-accel-limit-rate']).toBe(String(LIMIT))
  })
})
