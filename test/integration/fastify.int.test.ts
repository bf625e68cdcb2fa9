/** The Fastify adapter passes the adapter contract on a real Fastify 5 server (its own checks: fastify-adapter.int.test.ts). */
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { downloadRoute } from '../../src/fastify'
import { describeAdapterContract } from '../contract/adapter.contract'

describeAdapterContract('Fastify', async (views) => {
  const app = Fastify()
  app.all('/documents/:slug', downloadRoute(views.documents))
  app.all('/signed/:slug', downloadRoute(views.signed))
  app.all('/failing/:name', downloadRoute(views.failing))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    port: (app.server.address() as AddressInfo).port,
    close: async () => {
      app.server.closeAllConnections()
      await app.close()
    },
  }
})
