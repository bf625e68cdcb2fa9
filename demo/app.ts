/** @module The demo app: every view of the library on its own route, as in django-downloadview's demo. */
import path from 'node:path'
import express, { type Express } from 'express'
import type { DataSource } from 'typeorm'
import { Document } from '../entities/Document'
import { Photo } from '../entities/Photo'
import {
  ConfigurationError,
  type DownloadRequest,
  type Handoff,
  HTTPDownloadView,
  nginxFromBucket,
  ObjectDownloadView,
  PathDownloadView,
  redirectToBucket,
  type SigningKey,
  StorageDownloadView,
  signUrl,
  VirtualDownloadView,
  xAccelRedirect,
  ZipDownloadView,
} from '../src'
import { downloadErrorHandler, requireSignature, toHandler } from '../src/express'
import { ImageVariantView } from '../src/images'
import { type DownloadAudit, downloadCounts } from './download-audit'
import { indexPage } from './page'
import { demoSigningKey } from './signing'
import { documentUpload } from './upload'

/** The internal nginx location that serves the media storage (docs/nginx.md). */
export const MEDIA_LOCATION = '/protected/media/'

/** The demo's fixtures folder (PathDownloadView serves from it). */
export const FIXTURES_ROOT = path.join(__dirname, 'fixtures')

/** What the demo app can be configured with; everything has a default. */
export interface DemoOptions {
  /** The folder PathDownloadView serves. @default demo/fixtures */
  fixturesRoot?: string
  /** The keys `/signed/:slug/` accepts. @default the demo key (`SIGNING_SECRET` or the public one) */
  signingKeys?: SigningKey[]
  /**
   * Who sends the files of the routes that serve the media storage (documents, photos,
   * `/storage/`, `/signed/`) instead of the app: `redirectToBucket()` or `nginxFromBucket()` need a
   * storage that presigns URLs (`STORAGE=s3`).
   * @default from the environment: {@link handoffFromEnv}
   */
  handoff?: Handoff
  /**
   * Where the document routes' download events go: a DownloadAudit writes them to the
   * `download_event` table through a bounded queue (`npm start` passes one); `false` records none.
   * @default false (tests and the bench measure downloads alone)
   */
  audit?: DownloadAudit | false
}

/** The nginx location the demo's `DELIVERY=x-accel` names unless `DELIVERY_LOCATION` says otherwise. */
export const BUCKET_LOCATION = '/_bucket/'

/**
 * The hand-off the environment asks for: `DELIVERY=stream` (or unset) streams through the app;
 * `DELIVERY=redirect` redirects to presigned URLs (`redirectToBucket()`); `DELIVERY=x-accel` has
 * nginx fetch the objects through the internal location `DELIVERY_LOCATION` (default `/_bucket/`,
 * docs/scale-out.md; `nginxFromBucket()`). Anything else throws a ConfigurationError that names the
 * variable.
 */
export function handoffFromEnv(env: NodeJS.ProcessEnv = process.env): Handoff | undefined {
  const mode = env.DELIVERY
  if (mode === undefined || mode === '' || mode === 'stream') return undefined
  if (mode === 'redirect') return redirectToBucket()
  if (mode === 'x-accel') return nginxFromBucket({ location: env.DELIVERY_LOCATION || BUCKET_LOCATION })
  throw new ConfigurationError(`DELIVERY must be "stream", "redirect" or "x-accel", not "${mode}"`)
}

/** The demo's routes, for the index page and the tests. */
export const ROUTES = {
  defaultFile: '/object/default-file/:slug/',
  anotherFile: '/object/another-file/:slug/',
  deserializedBasename: '/object/deserialized-basename/:slug/',
  inlineFile: '/object/inline-file/:slug/',
  byId: '/object/by-id/:id/',
  storage: '/storage/static-path/*path',
  staticPath: '/path/static-path/',
  dynamicPath: '/path/dynamic-path/:path',
  virtualText: '/virtual/text/',
  virtualGenerated: '/virtual/generated/',
  httpSimple: '/http/simple-url/',
  nginx: '/nginx/optimized-by-middleware/',
  signed: '/signed/:slug/',
  photo: '/photos/:slug/',
  photoVariant: '/photos/:slug/variant/',
  upload: '/documents/',
  zipDocument: '/zip/documents/:slug/',
  zipDocuments: '/zip/documents/',
} as const

/**
 * Proxies the demo's own `/path/static-path/`, over loopback, at the address and port this request
 * came in on. The SSRF guard refuses loopback by default: the demo allows its own addresses.
 */
class SelfProxyView extends HTTPDownloadView {
  override getUrl({ req }: DownloadRequest): string {
    const address = (req.socket.localAddress ?? '127.0.0.1').replace(/^::ffff:/, '')
    const host = address.includes(':') ? `[${address}]` : address
    return `http://${host}:${req.socket.localPort}${ROUTES.staticPath}`
  }
}

/** `Hello world!\n` in two chunks, from a generator: content of unknown size. */
async function* helloWorld(): AsyncGenerator<string> {
  yield 'Hello '
  yield 'world!\n'
}

/** Builds the Express app on an initialized (or soon initialized) DataSource. */
export function buildApp(dataSource: DataSource, options: DemoOptions = {}): Express {
  const fixturesRoot = options.fixturesRoot ?? FIXTURES_ROOT
  const signingKeys = options.signingKeys ?? [demoSigningKey()]
  const handoff = options.handoff ?? handoffFromEnv()
  // The views that serve the media storage: streamed (the default), or handed off to the bucket.
  const media = handoff === undefined ? {} : { handoff }
  const app = express()
  app.disable('x-powered-by')
  // The document routes' downloads go to the audit table, without ever waiting for it.
  const audit = options.audit ?? false
  const audited = audit ? { onDownload: audit.hook() } : {}
  const object = { dataSource, entity: Document, ...media, ...audited } as const
  // app.all: the views answer other methods themselves (405 with Allow).

  app.all(ROUTES.defaultFile, toHandler(new ObjectDownloadView({ ...object, lookup: 'slug', file: 'file' })))
  app.all(
    ROUTES.anotherFile,
    toHandler(new ObjectDownloadView({ ...object, lookup: 'slug', file: 'anotherFile' })),
  )
  app.all(
    ROUTES.deserializedBasename,
    toHandler(new ObjectDownloadView({ ...object, lookup: 'slug', file: 'file', basename: 'basename' })),
  )
  app.all(
    ROUTES.inlineFile,
    toHandler(new ObjectDownloadView({ ...object, lookup: 'slug', file: 'file', attachment: false })),
  )
  app.all(ROUTES.byId, toHandler(new ObjectDownloadView({ ...object, lookup: 'id', file: 'file' })))

  // Document.file behind a signature: mint links with `npm run sign-url -- /signed/hello-world/`.
  app.all(
    ROUTES.signed,
    requireSignature({ keys: signingKeys }),
    toHandler(new ObjectDownloadView({ ...object, lookup: 'slug', file: 'file' })),
  )
  // StorageDownloadView: any key of the media storage ('default' in the registry).
  app.all(ROUTES.storage, toHandler(new StorageDownloadView({ storage: 'default', ...media })))
  // PathDownloadView: one absolute file, then any file confined under the fixtures folder.
  app.all(
    ROUTES.staticPath,
    toHandler(new PathDownloadView({ path: path.join(fixturesRoot, 'hello-world.txt') })),
  )
  app.all(ROUTES.dynamicPath, toHandler(new PathDownloadView({ root: fixturesRoot })))
  // HTTPDownloadView: a remote URL, streamed; here the demo's own static file.
  app.all(
    ROUTES.httpSimple,
    toHandler(new SelfProxyView({ allowedHosts: ['127.0.0.1', '::1'], onlyAllowedHosts: true })),
  )
  // X-Accel-Redirect on for this view: behind nginx the bytes come from nginx; without nginx the
  // response shows the header and an empty body, as in django-downloadview's demo.
  app.all(
    ROUTES.nginx,
    toHandler(
      new StorageDownloadView({
        storage: 'default',
        path: 'hello-world.txt',
        handoff: xAccelRedirect({ rules: [{ storage: 'default', location: MEDIA_LOCATION }] }),
      }),
    ),
  )
  // VirtualDownloadView: a string (known size, ranges), then a generator (chunked, no ranges).
  app.all(
    ROUTES.virtualText,
    toHandler(new VirtualDownloadView({ name: 'hello-world.txt', content: 'Hello world!\n' })),
  )
  app.all(
    ROUTES.virtualGenerated,
    toHandler(new VirtualDownloadView({ name: 'hello-world.txt', content: () => helloWorld() })),
  )
  // Photo.image: the original inline, and variants resized and re-encoded by sharp on first request.
  app.all(
    ROUTES.photo,
    toHandler(
      new ObjectDownloadView({
        dataSource,
        entity: Photo,
        lookup: 'slug',
        file: 'image',
        attachment: false,
        ...media,
      }),
    ),
  )
  app.all(
    ROUTES.photoVariant,
    toHandler(
      new ImageVariantView({
        dataSource,
        entity: Photo,
        lookup: 'slug',
        file: 'image',
        attachment: false,
        ...media,
      }),
    ),
  )

  // Uploads: a form's file streamed into Document.file (receiveUpload), then the row saved.
  app.post(ROUTES.upload, documentUpload(dataSource))

  // ZipDownloadView: a document's two file columns in one archive (hello-world: file.txt and
  // another_file.txt), and the file of each document the query lists (?slug=a&slug=b, at most 100).
  app.all(
    ROUTES.zipDocument,
    toHandler(
      new ZipDownloadView({ dataSource, entity: Document, lookup: 'slug', files: ['file', 'anotherFile'] }),
    ),
  )
  app.all(
    ROUTES.zipDocuments,
    toHandler(
      new ZipDownloadView({ dataSource, entity: Document, lookup: { query: 'slug' }, files: 'file' }),
    ),
  )

  app.get('/', async (_req, res, next) => {
    try {
      const [documents, photos, downloads] = await Promise.all([
        dataSource.getRepository(Document).find({ order: { id: 'ASC' } }),
        dataSource.getRepository(Photo).find({ order: { id: 'ASC' } }),
        downloadCounts(dataSource),
      ])
      const sign = (path: string) => signUrl(path, { key: signingKeys[0] as SigningKey, expiresIn: 3600 })
      res.type('html').send(indexPage({ documents, photos, routes: ROUTES, sign, downloads }))
    } catch (error) {
      next(error)
    }
  })
  app.use(downloadErrorHandler())
  return app
}
