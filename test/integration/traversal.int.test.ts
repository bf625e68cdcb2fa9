/**
 * @module Path traversal over HTTP: StorageDownloadView and PathDownloadView confined to a root, with
 * a secret file beside the root, a symlink to it and a symlinked folder that leads out.
 */
import { once } from 'node:events'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import http, { type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import express from 'express'
import { LocalStorage, PathDownloadView, StorageDownloadView } from '../../src'
import { downloadErrorHandler, toHandler } from '../../src/express'

const SECRET = 'TOP-SECRET-7f3a9c'
const PUBLIC = 'public bytes\n'

let base: string
let server: Server
let port: number

beforeAll(async () => {
  // base/secret.txt, base/outside/secret.txt: beside the root, never to be served.
  base = await mkdtemp(path.join(os.tmpdir(), 'downloadview-traversal-'))
  const root = path.join(base, 'root')
  await mkdir(path.join(root, 'sub'), { recursive: true })
  await mkdir(path.join(base, 'outside'))
  await writeFile(path.join(base, 'secret.txt'), SECRET)
  await writeFile(path.join(base, 'outside', 'secret.txt'), SECRET)
  await writeFile(path.join(root, 'public.txt'), PUBLIC)
  await symlink(path.join(base, 'secret.txt'), path.join(root, 'link.txt'))
  await symlink('../secret.txt', path.join(root, 'relative-link.txt'))
  await symlink(path.join(base, 'outside'), path.join(root, 'linked-dir'))
  await symlink(path.join(root, 'public.txt'), path.join(root, 'sub', 'inner-link.txt'))

  const app = express()
  app.all('/storage/*path', toHandler(new StorageDownloadView({ storage: new LocalStorage({ root }) })))
  app.all('/splat/*path', toHandler(new PathDownloadView({ root })))
  app.all('/param/:path', toHandler(new PathDownloadView({ root })))
  app.use(downloadErrorHandler())
  server = http.createServer(app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  server.closeAllConnections()
  server.close()
  await once(server, 'close')
  await rm(base, { recursive: true, force: true })
})

/** GET with the request target exactly as written: no client normalises `..` or re-encodes it. */
function rawGet(target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: target, method: 'GET', agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('latin1') }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end()
  })
}

const ROUTES = ['/storage/', '/splat/', '/param/'] as const

describe.each(ROUTES)('the confined views at %s', (prefix) => {
  it('serve a file inside the root (so the refusals below are not a broken setup)', async () => {
    expect(await rawGet(`${prefix}public.txt`)).toEqual({ status: 200, body: PUBLIC })
  })

  it('serve a symlink that stays inside the root', async () => {
    const target = prefix === '/param/' ? `${prefix}sub%2Finner-link.txt` : `${prefix}sub/inner-link.txt`
    expect(await rawGet(target)).toEqual({ status: 200, body: PUBLIC })
  })
})

/**
 * One attempt per row: the route, the path after it, and the status. Under `/param/:path` an
 * attempt with a raw `/` matches no route at all, so Express answers 404 before any view runs.
 */
const attempts: [string, string, number][] = []
const attempt = (target: string, statuses: { storage: number; splat: number; param: number }) => {
  for (const prefix of ROUTES) attempts.push([prefix, target, statuses[prefix.slice(1, -1) as 'storage']])
}
const all = (status: number) => ({ storage: status, splat: status, param: status })

attempt('../secret.txt', all(404))
attempt('%2e%2e/secret.txt', all(404))
attempt('%2E%2E%2Fsecret.txt', all(404))
attempt('..%2fsecret.txt', all(404))
attempt('..%5csecret.txt', all(404))
attempt('%5c..%5csecret.txt', all(404))
attempt('..\\secret.txt', all(404))
attempt('sub\\..\\..\\secret.txt', all(404))
attempt('%2Fetc%2Fpasswd', all(404))
attempt('/etc/passwd', all(404))
attempt('%2F{base}%2Fsecret.txt', all(404))
attempt('secret.txt%00', all(400))
attempt('public.txt%00.png', all(400))
attempt('%c0%ae%c0%ae/secret.txt', { storage: 400, splat: 400, param: 404 })
attempt('%c0%ae%c0%ae%2fsecret.txt', all(400))
attempt('%252e%252e%252fsecret.txt', all(404))
attempt('link.txt', all(404))
attempt('relative-link.txt', all(404))
attempt('linked-dir/secret.txt', all(404))
attempt('linked-dir%2Fsecret.txt', all(404))
attempt('sub/..%2F..%2Fsecret.txt', all(404))
attempt('%E0%A4%A', all(400))

describe('path traversal attempts', () => {
  it.each(attempts)('%s%s answers %i without the secret', async (prefix, target, status) => {
    // {base}: the absolute folder that holds the secret, known once beforeAll() made it.
    const response = await rawGet(`${prefix}${target.replace('{base}', encodeURIComponent(base.slice(1)))}`)
    expect(response.body).not.toContain(SECRET)
    expect(response.body).not.toContain('root:')
    expect(response.status).toBe(status)
  })
})
