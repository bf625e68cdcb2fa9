/** The Express adapter passes the adapter contract on a real Express 5 server (Express 4: express-adapter.int.test.ts). */
import type { AddressInfo } from 'node:net'
import express from 'express'
import { downloadErrorHandler, toHandler } from '../../src/express'
import { describeAdapterContract } from '../contract/adapter.contract'

describeAdapterContract('Express', async (views) => {
  const app = express()
  app.all('/documents/:slug', toHandler(views.documents))
  app.all('/signed/:slug', toHandler(views.signed))
  app.all('/failing/:name', toHandler(views.failing))
  app.use(downloadErrorHandler({ logger: { error: () => undefined } }))
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
})
