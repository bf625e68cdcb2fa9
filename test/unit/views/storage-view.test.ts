/** @module StorageDownloadView: its options, and the StorageFile it finds for a request. */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { BadPathError, ConfigurationError, FileNotFoundError, UnsafePathError } from '../../../src/errors'
import { handoffMiddleware } from '../../../src/express/handoff-middleware'
import type { DownloadFile } from '../../../src/files/download-file'
import { StorageFile } from '../../../src/files/storage-file'
import type { Handoff } from '../../../src/handoff/handoff'
import type { ResponsePlan } from '../../../src/http/respond'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { storages } from '../../../src/storage/registry'
import type { Storage } from '../../../src/storage/storage'
import type { DownloadRequest, RouteParams } from '../../../src/views/download-view'
import { StorageDownloadView, type StorageDownloadViewOptions } from '../../../src/views/storage-view'
import { readAll, rejectionOf } from '../../helpers/streams'

const REGISTERED = 'storage-view-unit'

let media: MemoryStorage

beforeEach(async () => {
  media = new MemoryStorage({ name: 'media' })
  await media.save('docs/nums.txt', '123456789')
  await media.save('hello-world.txt', 'Hello world!\n')
})

afterEach(() => {
  storages.clear(REGISTERED)
})

/** A GET (or `method`) request to a view, with route parameters. */
function requestWith(
  params: RouteParams,
  headers: IncomingHttpHeaders = {},
  method = 'GET',
): DownloadRequest {
  return { req: { method, headers } as IncomingMessage, params }
}

/** The response plan the view makes for `request` (plan() is protected: the view calls it itself). */
async function planFor(view: StorageDownloadView, request: DownloadRequest): Promise<ResponsePlan> {
  const file = await view.getFile(request)
  return (view as unknown as { plan(r: DownloadRequest, f: DownloadFile): ResponsePlan }).plan(request, file)
}

const build = (options: Partial<StorageDownloadViewOptions> = {}) =>
  new StorageDownloadView({ storage: media, ...options })

describe('StorageDownloadView option "storage"', () => {
  it('reads a Storage object given directly', async () => {
    const file = await build().getFile(requestWith({ path: 'docs/nums.txt' }))
    expect(file).toBeInstanceOf(StorageFile)
    expect((file as StorageFile).storage).toBe(media)
    expect(await readAll(await file.open())).toEqual(Buffer.from('123456789'))
  })

  it('resolves a registered name on each request, so a storage registered later is found', async () => {
    const view = new StorageDownloadView({ storage: REGISTERED })
    storages.register(REGISTERED, media)
    const file = await view.getFile(requestWith({ path: 'docs/nums.txt' }))
    expect((file as StorageFile).storage).toBe(media)
  })

  it('follows a name that is registered again to another storage', async () => {
    const view = new StorageDownloadView({ storage: REGISTERED })
    storages.register(REGISTERED, media)
    const other = new MemoryStorage({ name: 'other' })
    await other.save('docs/nums.txt', 'other')
    storages.register(REGISTERED, other)
    const file = await view.getFile(requestWith({ path: 'docs/nums.txt' }))
    expect(await readAll(await file.open())).toEqual(Buffer.from('other'))
  })

  it('rejects with a ConfigurationError naming the storage when the name is not registered', async () => {
    const view = new StorageDownloadView({ storage: 'nowhere' })
    const error = await rejectionOf(view.getFile(requestWith({ path: 'docs/nums.txt' })))
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as Error).message).toContain('"nowhere"')
  })

  it.each([
    ['no storage', undefined],
    ['null', null],
    ['an empty name', ''],
    ['a number', 42],
    ['an object without open()', { stat: async () => ({ size: 0, modifiedAt: new Date() }) }],
    ['an object without stat()', { open: async () => undefined }],
  ])('throws a ConfigurationError naming "storage" for %s', (_label, storage) => {
    const make = () => new StorageDownloadView({ storage: storage as unknown as Storage })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "storage"')
  })
})

describe('StorageDownloadView option "path"', () => {
  it('serves the fixed key whatever the route holds', async () => {
    const file = await build({ path: 'hello-world.txt' }).getFile(requestWith({ path: 'docs/nums.txt' }))
    expect((file as StorageFile).key).toBe('hello-world.txt')
    expect(file.size).toBe(13)
  })

  it('serves the fixed key on a route without parameters', async () => {
    const file = await build({ path: 'docs/nums.txt' }).getFile(requestWith({}))
    expect((file as StorageFile).key).toBe('docs/nums.txt')
  })

  it('takes the key from the route when absent', async () => {
    const file = await build().getFile(requestWith({ path: 'hello-world.txt' }))
    expect((file as StorageFile).key).toBe('hello-world.txt')
  })

  it.each([
    ['an empty string', ''],
    ['a number', 7],
  ])('throws a ConfigurationError naming "path" for %s', (_label, path) => {
    const make = () => build({ path: path as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "path"')
  })
})

describe('StorageDownloadView option "param"', () => {
  it('reads the "path" route parameter by default', () => {
    expect(build().param).toBe('path')
  })

  it('reads the route parameter it names', async () => {
    const file = await build({ param: 'key' }).getFile(requestWith({ key: 'docs/nums.txt', path: 'nope' }))
    expect((file as StorageFile).key).toBe('docs/nums.txt')
  })

  it('joins the segments of an Express 5 *splat with "/"', async () => {
    const file = await build().getFile(requestWith({ path: ['docs', 'nums.txt'] }))
    expect((file as StorageFile).key).toBe('docs/nums.txt')
  })

  it.each([
    ['absent', {}],
    ['empty', { path: '' }],
    ['an empty splat', { path: [] }],
  ])('rejects with FileNotFoundError when the parameter is %s', async (_label, params) => {
    expect(await rejectionOf(build().getFile(requestWith(params)))).toBeInstanceOf(FileNotFoundError)
  })

  it.each([
    ['an empty string', ''],
    ['a number', 1],
  ])('throws a ConfigurationError naming "param" for %s', (_label, param) => {
    const make = () => build({ param: param as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "param"')
  })
})

describe('StorageDownloadView option "basename"', () => {
  it('names the file for the client when given', async () => {
    const file = await build({ basename: 'numbers.txt' }).getFile(requestWith({ path: 'docs/nums.txt' }))
    expect(file.name).toBe('numbers.txt')
  })

  it("uses the key's last segment when absent", async () => {
    const file = await build().getFile(requestWith({ path: 'docs/nums.txt' }))
    expect(file.name).toBe('nums.txt')
  })

  it.each([
    ['an empty string', ''],
    ['a number', 3],
  ])('throws a ConfigurationError naming "basename" for %s', (_label, basename) => {
    const make = () => build({ basename: basename as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "basename"')
  })
})

describe('StorageDownloadView other options', () => {
  it('throws a ConfigurationError naming an unknown option', () => {
    const make = () => build({ colour: 'blue' } as Partial<StorageDownloadViewOptions>)
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('unknown option "colour"')
  })

  it('throws a ConfigurationError naming a bad respond option', () => {
    const make = () => build({ attachment: 'no' as unknown as boolean })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "attachment"')
  })

  it('throws a ConfigurationError naming a logger without error()', () => {
    const make = () => build({ logger: {} as unknown as StorageDownloadViewOptions['logger'] })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "logger"')
  })

  it('throws a ConfigurationError naming a hand-off that is not a function', () => {
    const make = () => build({ handoff: ['nginx'] as unknown as Handoff[] })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "handoff"')
  })
})

describe('StorageDownloadView respond options', () => {
  const request = () => requestWith({ path: 'docs/nums.txt' })

  it('serves an attachment by default', async () => {
    const plan = await planFor(build(), request())
    expect(plan.headers['Content-Disposition']).toMatch(/^attachment;/)
  })

  it('serves inline with attachment: false', async () => {
    const plan = await planFor(build({ attachment: false }), request())
    expect(plan.headers['Content-Disposition']).toMatch(/^inline;/)
  })

  it('sends the cacheControl it is given', async () => {
    const plan = await planFor(build({ cacheControl: 'public, max-age=60' }), request())
    expect(plan.headers['Cache-Control']).toBe('public, max-age=60')
  })

  it('sends no Cache-Control with cacheControl: false', async () => {
    const plan = await planFor(build({ cacheControl: false }), request())
    expect(plan.headers['Cache-Control']).toBeUndefined()
  })

  it('answers Range with 206 and Accept-Ranges: bytes by default', async () => {
    const plan = await planFor(build(), requestWith({ path: 'docs/nums.txt' }, { range: 'bytes=2-5' }))
    expect(plan.status).toBe(206)
    expect(plan.headers['Accept-Ranges']).toBe('bytes')
  })

  it('answers Range with 200 and Accept-Ranges: none with acceptRanges: false', async () => {
    const plan = await planFor(
      build({ acceptRanges: false }),
      requestWith({ path: 'docs/nums.txt' }, { range: 'bytes=2-5' }),
    )
    expect(plan.status).toBe(200)
    expect(plan.headers['Accept-Ranges']).toBe('none')
  })

  it('adds the extra headers it is given', async () => {
    const plan = await planFor(build({ headers: { 'X-Robots-Tag': 'noindex' } }), request())
    expect(plan.headers['X-Robots-Tag']).toBe('noindex')
  })
})

describe('StorageDownloadView option "handoff"', () => {
  const marker: Handoff = (plan) => ({ status: 200, headers: { 'X-Offloaded': plan.file?.name ?? '' } })

  /** A request that went through handoffMiddleware(marker). */
  function offloadedRequest(): DownloadRequest {
    const request = requestWith({ path: 'docs/nums.txt' })
    handoffMiddleware(marker)(request.req, undefined, () => undefined)
    return request
  }

  it("rewrites the plan with the view's own hand-off", async () => {
    const plan = await planFor(build({ handoff: marker }), requestWith({ path: 'docs/nums.txt' }))
    expect(plan.headers['X-Offloaded']).toBe('nums.txt')
  })

  it("uses the request's hand-off when absent", async () => {
    const plan = await planFor(build(), offloadedRequest())
    expect(plan.headers['X-Offloaded']).toBe('nums.txt')
  })

  it("ignores the request's hand-off with handoff: false", async () => {
    const plan = await planFor(build({ handoff: false }), offloadedRequest())
    expect(plan.headers['X-Offloaded']).toBeUndefined()
    expect(plan.status).toBe(200)
  })
})

describe('StorageDownloadView.getFile()', () => {
  it('describes the file with one stat: size, modification time and a storage location', async () => {
    const stat = await media.stat('docs/nums.txt')
    const file = await build().getFile(requestWith({ path: 'docs/nums.txt' }))
    expect(file.size).toBe(9)
    expect(file.modifiedAt).toEqual(stat.modifiedAt)
    expect(file.location).toEqual({ kind: 'storage', storage: media, key: 'docs/nums.txt' })
  })

  it('rejects with FileNotFoundError for a missing key', async () => {
    expect(await rejectionOf(build().getFile(requestWith({ path: 'nope.txt' })))).toBeInstanceOf(
      FileNotFoundError,
    )
  })

  it('rejects with UnsafePathError for a key with a parent segment', async () => {
    expect(await rejectionOf(build().getFile(requestWith({ path: '../nums.txt' })))).toBeInstanceOf(
      UnsafePathError,
    )
  })

  it('rejects with UnsafePathError for a fixed key with a parent segment', async () => {
    const view = build({ path: '../docs/nums.txt' })
    expect(await rejectionOf(view.getFile(requestWith({})))).toBeInstanceOf(UnsafePathError)
  })

  it('rejects with BadPathError for a key with a NUL byte', async () => {
    expect(await rejectionOf(build().getFile(requestWith({ path: 'nums\u0000.txt' })))).toBeInstanceOf(
      BadPathError,
    )
  })

  it('lets a subclass compute the key and the basename', async () => {
    class Latest extends StorageDownloadView {
      override getPath(request: DownloadRequest): string {
        return `docs/${String(request.params.name)}.txt`
      }
      override getBasename(_request: DownloadRequest, path: string): string {
        return `latest-${path.split('/').pop()}`
      }
    }
    const file = await new Latest({ storage: media }).getFile(requestWith({ name: 'nums' }))
    expect((file as StorageFile).key).toBe('docs/nums.txt')
    expect(file.name).toBe('latest-nums.txt')
  })
})

describe('StorageDownloadView option "dotfiles"', () => {
  beforeEach(async () => {
    await media.save('.env', 'SECRET=1')
    await media.save('.git/config', '[core]')
    await media.save('a/.hidden/b.txt', 'hidden')
  })

  it.each(['.env', '.git/config', 'a/.hidden/b.txt', './.env'])(
    'answers %j as not found by default (deny), though the storage holds it',
    async (key) => {
      expect(await media.exists(key)).toBe(true)
      expect(await rejectionOf(build().getFile(requestWith({ path: key })))).toBeInstanceOf(FileNotFoundError)
    },
  )

  it('serves them with "allow"', async () => {
    const file = await build({ dotfiles: 'allow' }).getFile(requestWith({ path: '.git/config' }))
    expect(await readAll(await file.open())).toEqual(Buffer.from('[core]'))
  })

  it('still serves names with dots inside or at the end of a segment', async () => {
    await media.save('a.b/c..d.txt', 'dots')
    const file = await build().getFile(requestWith({ path: 'a.b/c..d.txt' }))
    expect(await readAll(await file.open())).toEqual(Buffer.from('dots'))
  })

  it('throws a ConfigurationError naming "dotfiles" for another value', () => {
    expect(() => build({ dotfiles: 'ignore' as 'deny' })).toThrow(
      new ConfigurationError(`StorageDownloadView: option "dotfiles" must be 'allow' or 'deny'`),
    )
  })
})

describe('StorageDownloadView with a trailing slash after a file name', () => {
  it('answers not found: "f.txt/" is no alias of "f.txt"', async () => {
    expect(await rejectionOf(build().getFile(requestWith({ path: 'hello-world.txt/' })))).toBeInstanceOf(
      FileNotFoundError,
    )
    expect(
      await rejectionOf(build().getFile(requestWith({ path: ['docs', 'nums.txt', ''] }))),
    ).toBeInstanceOf(FileNotFoundError)
  })
})
