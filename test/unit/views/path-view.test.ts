/** @module PathDownloadView: its options, one absolute file, and paths confined under a root. */

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { BadPathError, ConfigurationError, FileNotFoundError, UnsafePathError } from '../../../src/errors'
import type { DownloadFile } from '../../../src/files/download-file'
import { PathFile } from '../../../src/files/path-file'
import { StorageFile } from '../../../src/files/storage-file'
import type { Handoff } from '../../../src/handoff/handoff'
import type { ResponsePlan } from '../../../src/http/respond'
import type { DownloadRequest, RouteParams } from '../../../src/views/download-view'
import { PathDownloadView, type PathDownloadViewOptions } from '../../../src/views/path-view'
import { readAll, rejectionOf } from '../../helpers/streams'

const FIXTURES = path.resolve(__dirname, '../../fixtures')
const NUMS = path.join(FIXTURES, 'nums.txt')

/** A GET request to a view, with route parameters. */
function requestWith(params: RouteParams, headers: IncomingHttpHeaders = {}): DownloadRequest {
  return { req: { method: 'GET', headers } as IncomingMessage, params }
}

/** The response plan the view makes for `request` (plan() is protected: the view calls it itself). */
async function planFor(view: PathDownloadView, request: DownloadRequest): Promise<ResponsePlan> {
  const file = await view.getFile(request)
  return (view as unknown as { plan(r: DownloadRequest, f: DownloadFile): ResponsePlan }).plan(request, file)
}

/** Reads what `file` holds. */
async function contentOf(file: DownloadFile): Promise<string> {
  return (await readAll(await file.open())).toString()
}

describe('PathDownloadView without "root"', () => {
  it('serves the absolute "path" as a PathFile with a path location', async () => {
    const file = await new PathDownloadView({ path: NUMS }).getFile(requestWith({}))
    expect(file).toBeInstanceOf(PathFile)
    expect(file.location).toEqual({ kind: 'path', path: NUMS })
    expect(await contentOf(file)).toBe('123456789')
  })

  it('ignores the route parameter when "path" is given', async () => {
    const view = new PathDownloadView({ path: NUMS })
    const file = await view.getFile(requestWith({ path: path.join(FIXTURES, 'hello-world.txt') }))
    expect(file.name).toBe('nums.txt')
  })

  it('throws a ConfigurationError naming "path" for a relative path', () => {
    const make = () => new PathDownloadView({ path: 'fixtures/nums.txt' })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "path" must be absolute')
  })

  it('rejects with FileNotFoundError when the file is missing', async () => {
    const view = new PathDownloadView({ path: path.join(FIXTURES, 'nope.txt') })
    expect(await rejectionOf(view.getFile(requestWith({})))).toBeInstanceOf(FileNotFoundError)
  })

  it('rejects with FileNotFoundError for a name too long for the file system (404, not 400)', async () => {
    const view = new PathDownloadView({ path: path.join(FIXTURES, `${'x'.repeat(300)}.txt`) })
    expect(await rejectionOf(view.getFile(requestWith({})))).toBeInstanceOf(FileNotFoundError)
    const rooted = new PathDownloadView({ root: FIXTURES })
    expect(await rejectionOf(rooted.getFile(requestWith({ path: `${'y'.repeat(300)}.txt` })))).toBeInstanceOf(
      FileNotFoundError,
    )
  })

  it('rejects with FileNotFoundError for a directory', async () => {
    const view = new PathDownloadView({ path: FIXTURES })
    expect(await rejectionOf(view.getFile(requestWith({})))).toBeInstanceOf(FileNotFoundError)
  })

  it('lets a subclass give the absolute path', async () => {
    class Latest extends PathDownloadView {
      override getPath(request: DownloadRequest): string {
        return path.join(FIXTURES, `${String(request.params.name)}.txt`)
      }
    }
    const file = await new Latest({}).getFile(requestWith({ name: 'hello-world' }))
    expect(await contentOf(file)).toBe('Hello world!\n')
  })

  it('refuses to be built with neither "path" nor "root": the URL would name any file', () => {
    expect(() => new PathDownloadView({})).toThrow(ConfigurationError)
    expect(() => new PathDownloadView({})).toThrow(/option "path".*option "root"/)
  })

  it('accepts neither "path" nor "root" from a subclass that computes the path itself', async () => {
    class Fixed extends PathDownloadView {
      override getPath(): string {
        return NUMS
      }
    }
    const file = await new Fixed({}).getFile(requestWith({ path: '/etc/passwd' }))
    expect(await contentOf(file)).toBe('123456789')
  })
})

describe('PathDownloadView with "root"', () => {
  it('resolves the route parameter under the root, as a confined storage file', async () => {
    const file = await new PathDownloadView({ root: FIXTURES }).getFile(requestWith({ path: 'nums.txt' }))
    expect(file).toBeInstanceOf(StorageFile)
    expect(file.location).toMatchObject({ kind: 'storage', key: 'nums.txt' })
    expect(await contentOf(file)).toBe('123456789')
  })

  it('normalises the root', () => {
    expect(new PathDownloadView({ root: `${FIXTURES}/../fixtures/` }).root).toBe(FIXTURES)
  })

  it('serves a fixed relative "path" under the root', async () => {
    const view = new PathDownloadView({ root: FIXTURES, path: 'hello-world.txt' })
    expect(await contentOf(await view.getFile(requestWith({ path: 'nums.txt' })))).toBe('Hello world!\n')
  })

  it('throws a ConfigurationError naming "path" for an absolute path', () => {
    const make = () => new PathDownloadView({ root: FIXTURES, path: NUMS })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "path" must be relative')
  })

  it.each([
    ['a relative root', 'test/fixtures'],
    ['an empty root', ''],
    ['a root with a NUL byte', '/tmp/a\u0000b'],
    ['a number', 5],
  ])('throws a ConfigurationError naming "root" for %s', (_label, root) => {
    const make = () => new PathDownloadView({ root: root as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "root"')
  })

  it('rejects with UnsafePathError for a parent segment', async () => {
    const view = new PathDownloadView({ root: path.join(FIXTURES, 'sub') })
    expect(await rejectionOf(view.getFile(requestWith({ path: '../nums.txt' })))).toBeInstanceOf(
      UnsafePathError,
    )
  })

  it('rejects with UnsafePathError for an absolute path from the route', async () => {
    const view = new PathDownloadView({ root: FIXTURES })
    expect(await rejectionOf(view.getFile(requestWith({ path: NUMS })))).toBeInstanceOf(UnsafePathError)
  })

  it('rejects with UnsafePathError for a fixed path with a parent segment', async () => {
    const view = new PathDownloadView({ root: path.join(FIXTURES, 'sub'), path: '../nums.txt' })
    expect(await rejectionOf(view.getFile(requestWith({})))).toBeInstanceOf(UnsafePathError)
  })

  it('rejects with BadPathError for a NUL byte', async () => {
    const view = new PathDownloadView({ root: FIXTURES })
    expect(await rejectionOf(view.getFile(requestWith({ path: 'nums.txt\u0000' })))).toBeInstanceOf(
      BadPathError,
    )
  })

  it('confines a path that a subclass computes', async () => {
    class Escaping extends PathDownloadView {
      override getPath(): string {
        return '../fixtures/nums.txt'
      }
    }
    const view = new Escaping({ root: FIXTURES })
    expect(await rejectionOf(view.getFile(requestWith({})))).toBeInstanceOf(UnsafePathError)
  })
})

describe('PathDownloadView option "path"', () => {
  it.each([
    ['an empty string', ''],
    ['a NUL byte', '/tmp/a\u0000b'],
    ['a number', 9],
  ])('throws a ConfigurationError naming "path" for %s', (_label, fixed) => {
    const make = () => new PathDownloadView({ path: fixed as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "path"')
  })
})

describe('PathDownloadView option "param"', () => {
  it('reads the "path" route parameter by default', () => {
    expect(new PathDownloadView({ root: FIXTURES }).param).toBe('path')
  })

  it('reads the route parameter it names', async () => {
    const view = new PathDownloadView({ root: FIXTURES, param: 'file' })
    const file = await view.getFile(requestWith({ file: 'nums.txt', path: 'hello-world.txt' }))
    expect(file.name).toBe('nums.txt')
  })

  it('joins the segments of an Express 5 *splat with "/"', async () => {
    const view = new PathDownloadView({ root: path.dirname(FIXTURES) })
    const file = await view.getFile(requestWith({ path: ['fixtures', 'nums.txt'] }))
    expect(file.location).toMatchObject({ key: 'fixtures/nums.txt' })
  })

  it.each([
    ['absent', {}],
    ['empty', { path: '' }],
  ])('rejects with FileNotFoundError when the parameter is %s', async (_label, params) => {
    const view = new PathDownloadView({ root: FIXTURES })
    expect(await rejectionOf(view.getFile(requestWith(params)))).toBeInstanceOf(FileNotFoundError)
  })

  it.each([
    ['an empty string', ''],
    ['a number', 2],
  ])('throws a ConfigurationError naming "param" for %s', (_label, param) => {
    const make = () => new PathDownloadView({ root: FIXTURES, param: param as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "param"')
  })
})

describe('PathDownloadView option "basename"', () => {
  it('names the file for the client when given, with a root', async () => {
    const view = new PathDownloadView({ root: FIXTURES, basename: 'numbers.txt' })
    expect((await view.getFile(requestWith({ path: 'nums.txt' }))).name).toBe('numbers.txt')
  })

  it('names the file for the client when given, without a root', async () => {
    const view = new PathDownloadView({ path: NUMS, basename: 'numbers.txt' })
    expect((await view.getFile(requestWith({}))).name).toBe('numbers.txt')
  })

  it("uses the file's own name when absent", async () => {
    const view = new PathDownloadView({ root: FIXTURES })
    expect((await view.getFile(requestWith({ path: 'naïve café.txt' }))).name).toBe('naïve café.txt')
  })

  it.each([
    ['an empty string', ''],
    ['a number', 4],
  ])('throws a ConfigurationError naming "basename" for %s', (_label, basename) => {
    const make = () => new PathDownloadView({ path: NUMS, basename: basename as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "basename"')
  })
})

describe('PathDownloadView other options', () => {
  it('throws a ConfigurationError naming an unknown option', () => {
    const make = () => new PathDownloadView({ path: NUMS, directory: FIXTURES } as PathDownloadViewOptions)
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('unknown option "directory"')
  })

  it('throws a ConfigurationError naming a bad respond option', () => {
    const make = () => new PathDownloadView({ path: NUMS, cacheControl: 'a\r\nb' })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "cacheControl"')
  })

  it('serves inline with attachment: false', async () => {
    const plan = await planFor(new PathDownloadView({ path: NUMS, attachment: false }), requestWith({}))
    expect(plan.headers['Content-Disposition']).toMatch(/^inline;/)
  })

  it('serves an attachment by default', async () => {
    const plan = await planFor(new PathDownloadView({ path: NUMS }), requestWith({}))
    expect(plan.headers['Content-Disposition']).toMatch(/^attachment;/)
  })

  it('sends the cacheControl it is given', async () => {
    const plan = await planFor(
      new PathDownloadView({ path: NUMS, cacheControl: 'no-cache' }),
      requestWith({}),
    )
    expect(plan.headers['Cache-Control']).toBe('no-cache')
  })

  it('hands the path location to its hand-off', async () => {
    const seen: unknown[] = []
    const handoff: Handoff = (plan) => {
      seen.push(plan.file?.location)
      return { status: 200, headers: { 'X-Offloaded': 'yes' } }
    }
    const plan = await planFor(new PathDownloadView({ path: NUMS, handoff }), requestWith({}))
    expect(plan.headers['X-Offloaded']).toBe('yes')
    expect(seen).toEqual([{ kind: 'path', path: NUMS }])
  })

  it('streams the file itself with handoff: false', async () => {
    const plan = await planFor(new PathDownloadView({ path: NUMS, handoff: false }), requestWith({}))
    expect(plan.body).toBeDefined()
    expect(plan.headers['Content-Length']).toBe('9')
  })
})

describe('PathDownloadView option "dotfiles"', () => {
  let root: string

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'downloadview-dotfiles-'))
    await mkdir(path.join(root, '.git'))
    await writeFile(path.join(root, '.env'), 'SECRET=1')
    await writeFile(path.join(root, '.git', 'config'), '[core]')
  })

  afterAll(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it.each(['.env', '.git/config'])('answers %j under a root as not found by default (deny)', async (key) => {
    expect(
      await rejectionOf(new PathDownloadView({ root }).getFile(requestWith({ path: key }))),
    ).toBeInstanceOf(FileNotFoundError)
  })

  it('serves them with "allow"', async () => {
    const file = await new PathDownloadView({ root, dotfiles: 'allow' }).getFile(
      requestWith({ path: '.env' }),
    )
    expect(await contentOf(file)).toBe('SECRET=1')
  })

  it('answers a trailing slash after a file name as not found', async () => {
    expect(
      await rejectionOf(new PathDownloadView({ root: FIXTURES }).getFile(requestWith({ path: 'nums.txt/' }))),
    ).toBeInstanceOf(FileNotFoundError)
  })
})
