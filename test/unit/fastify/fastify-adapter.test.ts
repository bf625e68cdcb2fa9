/** The Fastify adapter's own parts, without a server: DownloadHttpError, and the plugin's scope (Fastify's inject). */
import Fastify from 'fastify'
import { FileNotFoundError, ServiceUnavailableError, VirtualDownloadView } from '../../../src'
import { DownloadHttpError, fastifyDownloads } from '../../../src/fastify'

describe('DownloadHttpError', () => {
  it('carries the status, the status text as its message, and the library error as its cause', () => {
    const cause = new FileNotFoundError('No file at "/srv/media/a.pdf" in LocalStorage')
    const error = new DownloadHttpError(404, cause)
    expect(error.statusCode).toBe(404)
    expect(error.message).toBe('Not Found')
    expect(error.cause).toBe(cause)
    expect(error.headers).toEqual({ 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' })
  })

  it('adds Retry-After on 503', () => {
    const error = new DownloadHttpError(503, new ServiceUnavailableError('db down'))
    expect(error.headers['Retry-After']).toBe('5')
  })
})

describe('fastifyDownloads', () => {
  const view = new VirtualDownloadView({ name: 'hello.txt', content: 'Hello\n' })

  it('adds reply.download() to the context that registers it, not only inside the plugin', async () => {
    const app = Fastify()
    await app.register(fastifyDownloads)
    app.get('/hello', (_request, reply) => reply.download(view))
    await app.register(async (child) => {
      child.get('/child/hello', (_request, reply) => reply.download(view))
    })
    expect((await app.inject({ method: 'GET', url: '/hello' })).body).toBe('Hello\n')
    expect((await app.inject({ method: 'HEAD', url: '/child/hello' })).headers['content-length']).toBe('6')
    await app.close()
  })

  it('refuses a second registration: the decorator is already there', async () => {
    const app = Fastify()
    await app.register(fastifyDownloads)
    await expect(app.register(fastifyDownloads)).rejects.toThrow(
      "The decorator 'download' has already been added",
    )
    await app.close()
  })
})
