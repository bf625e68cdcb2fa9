import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { ConfigurationError } from '../../../src/errors'
import type { FileLocation } from '../../../src/files/download-file'
import {
  encodeSegments,
  keySegments,
  localPathOf,
  matchSegments,
  matchUrl,
  offloadedPlan,
  parseRuleSource,
  type RuleSource,
  segmentsBelow,
  staysInside,
} from '../../../src/handoff/rules'
import { respond } from '../../../src/http/respond'
import { LocalStorage } from '../../../src/storage/local-storage'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { storages } from '../../../src/storage/registry'
import type { Storage } from '../../../src/storage/storage'
import { MemoryFile, MODIFIED, NUMS, NUMS_SHA256 } from '../http/fixtures'

const AT = 'test(): rules[0]'
const ALL = ['storage', 'root', 'url'] as const

afterEach(() => storages.clear())

describe('parseRuleSource()', () => {
  it('reads a storage object', () => {
    const storage = new MemoryStorage()
    expect(parseRuleSource({ storage }, AT, ALL)).toEqual({ kind: 'storage', storage })
  })

  it('reads a storage name', () => {
    expect(parseRuleSource({ storage: 'media' }, AT, ALL)).toEqual({ kind: 'storage', storage: 'media' })
  })

  it('resolves a root', () => {
    expect(parseRuleSource({ root: '/srv/media/./x/../' }, AT, ALL)).toEqual({
      kind: 'root',
      root: path.resolve('/srv/media'),
    })
  })

  it('normalises a URL prefix', () => {
    expect(parseRuleSource({ url: 'HTTPS://CDN.example.com/files/' }, AT, ALL)).toEqual({
      kind: 'url',
      url: 'https://cdn.example.com/files/',
    })
  })

  it.each([
    [{}, 'must have exactly one of "storage", "root", "url"'],
    [{ storage: 'a', root: '/srv' }, 'must have exactly one of'],
    [{ storage: '' }, '.storage must be a Storage or the name'],
    [{ storage: { name: 'fake' } }, '.storage must be a Storage or the name'],
    [{ root: 'relative/dir' }, '.root must be an absolute directory path'],
    [{ root: '/srv/\nmedia' }, '.root must be an absolute directory path'],
    [{ url: 'https://cdn.example.com/files' }, '.url must be an http(s) URL that ends with "/"'],
    [{ url: 'https://cdn.example.com/files/?a=1' }, '.url must be'],
    [{ url: 'https://cdn.example.com/files/#a' }, '.url must be'],
    [{ url: 'ftp://cdn.example.com/files/' }, '.url must be'],
    [{ url: 'https://user:secret@cdn.example.com/files/' }, '.url must be'],
    [{ url: 'not a url' }, '.url must be'],
  ])('refuses %j', (rule, message) => {
    expect(() => parseRuleSource(rule, AT, ALL)).toThrow(ConfigurationError)
    expect(() => parseRuleSource(rule, AT, ALL)).toThrow(`${AT}`)
    expect(() => parseRuleSource(rule, AT, ALL)).toThrow(message)
  })

  it('refuses a kind the backend does not allow, naming the ones it does', () => {
    expect(() => parseRuleSource({ url: 'https://cdn.example.com/' }, AT, ['root', 'storage'])).toThrow(
      'must have exactly one of "root" or "storage"',
    )
  })
})

describe('matchSegments() with a storage rule', () => {
  const storage = new MemoryStorage()
  const inStorage = (key: string, where: Storage = storage): FileLocation => ({
    kind: 'storage',
    storage: where,
    key,
  })

  it('matches the very storage object, with the key’s segments', () => {
    expect(matchSegments({ kind: 'storage', storage }, inStorage('a/b c.txt'))).toEqual(['a', 'b c.txt'])
  })

  it('normalises the key', () => {
    expect(matchSegments({ kind: 'storage', storage }, inStorage('a//./b.txt'))).toEqual(['a', 'b.txt'])
  })

  it('does not match another storage', () => {
    expect(
      matchSegments({ kind: 'storage', storage }, inStorage('a.txt', new MemoryStorage())),
    ).toBeUndefined()
  })

  it('matches a registered name, looked up when matching', () => {
    const source: RuleSource = { kind: 'storage', storage: 'media' }
    expect(matchSegments(source, inStorage('a.txt'))).toBeUndefined()
    storages.register('media', storage)
    expect(matchSegments(source, inStorage('a.txt'))).toEqual(['a.txt'])
  })

  it('does not match a name registered for another storage', () => {
    storages.register('media', new MemoryStorage())
    expect(matchSegments({ kind: 'storage', storage: 'media' }, inStorage('a.txt'))).toBeUndefined()
  })

  it.each(['../etc/passwd', '/etc/passwd', 'a\\b', 'a\nb'])('does not match the unsafe key %j', (key) => {
    expect(matchSegments({ kind: 'storage', storage }, inStorage(key))).toBeUndefined()
  })

  it('does not match a path or a URL', () => {
    const source: RuleSource = { kind: 'storage', storage }
    expect(matchSegments(source, { kind: 'path', path: '/srv/media/a.txt' })).toBeUndefined()
    expect(matchSegments(source, { kind: 'url', url: 'https://cdn.example.com/a.txt' })).toBeUndefined()
  })
})

describe('matchSegments() with a root rule', () => {
  const root: RuleSource = { kind: 'root', root: path.resolve('/srv/media') }

  it('matches a path under the root', () => {
    expect(matchSegments(root, { kind: 'path', path: '/srv/media/docs/a.pdf' })).toEqual(['docs', 'a.pdf'])
  })

  it('resolves the path first', () => {
    expect(matchSegments(root, { kind: 'path', path: '/srv/other/../media/a.pdf' })).toEqual(['a.pdf'])
  })

  it('does not match a sibling that shares the prefix (/srv/media2)', () => {
    expect(matchSegments(root, { kind: 'path', path: '/srv/media2/a.pdf' })).toBeUndefined()
  })

  it('does not match a path that climbs out', () => {
    expect(matchSegments(root, { kind: 'path', path: '/srv/media/../secret.txt' })).toBeUndefined()
  })

  it('does not match the root itself', () => {
    expect(matchSegments(root, { kind: 'path', path: '/srv/media/' })).toBeUndefined()
  })

  it('does not match a relative path', () => {
    expect(matchSegments(root, { kind: 'path', path: 'srv/media/a.pdf' })).toBeUndefined()
  })

  it('matches a storage key whose localPath() is inside the root', () => {
    const local = new LocalStorage({ root: '/srv/media/uploads' })
    expect(matchSegments(root, { kind: 'storage', storage: local, key: 'a/b.txt' })).toEqual([
      'uploads',
      'a',
      'b.txt',
    ])
  })

  it('does not match a storage whose localPath() is elsewhere', () => {
    const local = new LocalStorage({ root: '/srv/media2' })
    expect(matchSegments(root, { kind: 'storage', storage: local, key: 'a.txt' })).toBeUndefined()
  })

  it('does not match a storage that keeps no local files', () => {
    expect(
      matchSegments(root, { kind: 'storage', storage: new MemoryStorage(), key: 'a.txt' }),
    ).toBeUndefined()
  })

  it('does not match a key that localPath() refuses', () => {
    const local = new LocalStorage({ root: '/srv/media' })
    expect(matchSegments(root, { kind: 'storage', storage: local, key: '../x' })).toBeUndefined()
  })

  it('matches everything under the file-system root', () => {
    expect(matchSegments({ kind: 'root', root: '/' }, { kind: 'path', path: '/a/b' })).toEqual(['a', 'b'])
  })
})

describe('matchSegments() with symlinks on disk', () => {
  let base: string
  let root: string
  let storage: LocalStorage
  const inLocal = (key: string): FileLocation => ({ kind: 'storage', storage, key })

  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'downloadview-rules-'))
    root = path.join(base, 'media')
    await mkdir(path.join(root, 'sub'), { recursive: true })
    await mkdir(path.join(base, 'outside'))
    await writeFile(path.join(base, 'secret.txt'), 'secret')
    await writeFile(path.join(root, 'public.txt'), 'public')
    await symlink(path.join(base, 'secret.txt'), path.join(root, 'link.txt'))
    await symlink(path.join(base, 'outside'), path.join(root, 'linked-dir'))
    await writeFile(path.join(base, 'outside', 'a.txt'), 'outside')
    await symlink(path.join(root, 'public.txt'), path.join(root, 'sub', 'inner.txt'))
    storage = new LocalStorage({ root })
  })

  afterAll(() => rm(base, { recursive: true, force: true }))

  describe.each([
    ['a storage rule', () => ({ kind: 'storage', storage }) as RuleSource],
    ['a root rule', () => ({ kind: 'root', root }) as RuleSource],
  ])('with %s', (_, source) => {
    it('matches a real file', () => {
      expect(matchSegments(source(), inLocal('public.txt'))).toEqual(['public.txt'])
    })

    it('matches a symlink that stays inside the root', () => {
      expect(matchSegments(source(), inLocal('sub/inner.txt'))).toEqual(['sub', 'inner.txt'])
    })

    it('does not match a symlink to a file outside the root', () => {
      expect(matchSegments(source(), inLocal('link.txt'))).toBeUndefined()
    })

    it('does not match a file under a symlinked folder that leads outside', () => {
      expect(matchSegments(source(), inLocal('linked-dir/a.txt'))).toBeUndefined()
    })

    it('leaves a missing file to the proxy', () => {
      expect(matchSegments(source(), inLocal('gone.txt'))).toEqual(['gone.txt'])
    })
  })

  it('does not match a path location through a symlink that leads outside (root rule)', () => {
    expect(matchSegments({ kind: 'root', root }, { kind: 'path', path: path.join(root, 'link.txt') })).toBe(
      undefined,
    )
  })

  it('compares real paths, so a root reached through a symlink still matches', async () => {
    const alias = path.join(base, 'media-alias')
    await symlink(root, alias, 'dir')
    expect(staysInside(alias, path.join(alias, 'public.txt'))).toBe(true)
    expect(staysInside(alias, path.join(alias, 'link.txt'))).toBe(false)
  })
})

describe('localPathOf()', () => {
  it('is the resolved path of a path location', () => {
    expect(localPathOf({ kind: 'path', path: '/srv//media/a.txt' })).toBe(path.resolve('/srv/media/a.txt'))
  })

  it('is undefined for a URL', () => {
    expect(localPathOf({ kind: 'url', url: 'https://cdn.example.com/a' })).toBeUndefined()
  })

  it('is undefined when localPath() returns a relative path', () => {
    const storage = Object.assign(new MemoryStorage(), { localPath: () => 'relative/a.txt' })
    expect(localPathOf({ kind: 'storage', storage, key: 'a.txt' })).toBeUndefined()
  })
})

describe('keySegments()', () => {
  it('splits a normal key', () => {
    expect(keySegments('a/b/c.txt')).toEqual(['a', 'b', 'c.txt'])
  })

  it('is undefined for an empty key', () => {
    expect(keySegments('')).toBeUndefined()
  })
})

describe('segmentsBelow()', () => {
  it('accepts a root given with a trailing separator', () => {
    expect(segmentsBelow(`${path.resolve('/srv/media')}${path.sep}`, path.resolve('/srv/media/a'))).toEqual([
      'a',
    ])
  })
})

describe('matchUrl()', () => {
  const cdn: RuleSource = { kind: 'url', url: 'https://cdn.example.com/files/' }
  const at = (url: string): FileLocation => ({ kind: 'url', url })

  it('gives what follows the prefix', () => {
    expect(matchUrl(cdn, at('https://cdn.example.com/files/a/b%20c.pdf'))).toBe('a/b%20c.pdf')
  })

  it('keeps the query', () => {
    expect(matchUrl(cdn, at('https://cdn.example.com/files/a.pdf?sig=abc&e=1'))).toBe('a.pdf?sig=abc&e=1')
  })

  it('drops the fragment', () => {
    expect(matchUrl(cdn, at('https://cdn.example.com/files/a.pdf#page=2'))).toBe('a.pdf')
  })

  it('compares normalised URLs', () => {
    expect(matchUrl(cdn, at('HTTPS://CDN.EXAMPLE.COM:443/files/x/../a.pdf'))).toBe('a.pdf')
  })

  it.each([
    'https://cdn.example.com/filesX/a.pdf',
    'https://cdn.example.com/other/a.pdf',
    'http://cdn.example.com/files/a.pdf',
    'https://evil.example.com/files/a.pdf',
    'https://cdn.example.com.evil.com/files/a.pdf',
    'https://cdn.example.com@evil.com/files/a.pdf',
    'https://cdn.example.com:8443/files/a.pdf',
    'https://cdn.example.com/files/%2e%2e/private/a.pdf',
    'https://cdn.example.com/files/a%5c..%5cb.pdf',
    'https://cdn.example.com/files/',
    'https://cdn.example.com/files/?a=1',
    'https://cdn.example.com/files/a%2Fb.pdf',
    'https://cdn.example.com/files/a%00.pdf',
    'not a url',
  ])('does not match %s', (url) => {
    expect(matchUrl(cdn, at(url))).toBeUndefined()
  })

  it('does not match a storage or a path', () => {
    expect(matchUrl(cdn, { kind: 'path', path: '/files/a.pdf' })).toBeUndefined()
    expect(
      matchUrl({ kind: 'root', root: '/files' }, at('https://cdn.example.com/files/a.pdf')),
    ).toBeUndefined()
  })
})

describe('encodeSegments()', () => {
  it.each([
    [['a b.txt'], 'a%20b.txt'],
    [['dir', 'naïve café.txt'], 'dir/na%C3%AFve%20caf%C3%A9.txt'],
    [['what?.txt'], 'what%3F.txt'],
    [['100%.txt'], '100%25.txt'],
    [['%41.txt'], '%2541.txt'],
    [['#1.txt'], '%231.txt'],
    [['a+b&c=d;e.txt'], 'a%2Bb%26c%3Dd%3Be.txt'],
    [["it's (1)!~*.txt"], "it's%20(1)!~*.txt"],
  ])('encodes %j as %s', (segments, encoded) => {
    expect(encodeSegments(segments)).toBe(encoded)
  })

  it.each([
    [['a\nb.txt']],
    [['a\rb.txt']],
    [['a\u0000b.txt']],
    [['a\u007fb.txt']],
    [['..']],
    [['.']],
    [['']],
    [['\ud800.txt']],
  ])('refuses %j', (segments) => {
    expect(encodeSegments(segments)).toBeUndefined()
  })
})

describe('offloadedPlan()', () => {
  const file = () =>
    new MemoryFile(NUMS, {
      name: 'nums.txt',
      sha256: NUMS_SHA256,
      modifiedAt: MODIFIED,
      contentType: 'text/plain',
    })

  it('answers 200 with Content-Length 0, no body, and keeps the file', () => {
    const source = file()
    const plan = offloadedPlan(respond({ headers: {} }, source), { 'X-Sendfile': '/a' })
    expect(plan.status).toBe(200)
    expect(plan.body).toBeUndefined()
    expect(plan.file).toBe(source)
    expect(plan.headers['Content-Length']).toBe('0')
    expect(plan.headers['X-Sendfile']).toBe('/a')
  })

  it('drops Accept-Ranges, Content-Range and the old Content-Length of a 206', () => {
    const plan = offloadedPlan(respond({ headers: { range: 'bytes=2-5' } }, file()), {})
    expect(Object.keys(plan.headers).some((name) => name.toLowerCase() === 'accept-ranges')).toBe(false)
    expect(plan.headers['Content-Range']).toBeUndefined()
    expect(plan.headers['Content-Length']).toBe('0')
    expect(plan.ranges).toBeUndefined()
  })

  it('keeps the decided headers', () => {
    const planned = respond({ headers: {} }, file(), { headers: { 'X-Demo': '1' }, cacheControl: 'no-cache' })
    const plan = offloadedPlan(planned, {})
    for (const name of [
      'ETag',
      'Last-Modified',
      'Cache-Control',
      'Content-Type',
      'Content-Disposition',
      'X-Demo',
    ]) {
      expect([name, plan.headers[name]]).toEqual([name, planned.headers[name]])
    }
    expect(plan.headers['X-Content-Type-Options']).toBe('nosniff')
  })

  it('puts the file’s type back in place of multipart/byteranges', () => {
    const planned = respond({ headers: { range: 'bytes=0-1,4-5' } }, file())
    expect(planned.headers['Content-Type']).toMatch(/^multipart\/byteranges/)
    expect(offloadedPlan(planned, {}).headers['Content-Type']).toBe('text/plain; charset=utf-8')
  })

  it('lets the backend’s header replace a view header of the same name in any case', () => {
    const planned = respond({ headers: {} }, file(), { headers: { 'x-accel-redirect': '/elsewhere/' } })
    const plan = offloadedPlan(planned, { 'X-Accel-Redirect': '/protected/nums.txt' })
    expect(plan.headers['x-accel-redirect']).toBeUndefined()
    expect(plan.headers['X-Accel-Redirect']).toBe('/protected/nums.txt')
  })
})
