/** Uploads into a file column through the Express adapter, on a real Express 5 server: the upload contract. */
import type { AddressInfo } from 'node:net'
import express from 'express'
import { Document } from '../../entities/Document'
import { downloadErrorHandler, receiveUpload, toHandler } from '../../src/express'
import { describeUploadContract } from '../contract/upload.contract'

describeUploadContract('Express', async (context) => {
  const app = express()
  for (const route of Object.values(context.routes)) {
    app.post(route.path, async (req, res) => {
      const document = new Document()
      const { fields } = await receiveUpload(req, document, 'file', route.options)
      res.status(201).json(await context.save(document, fields))
    })
  }
  app.all('/documents/:slug', toHandler(context.download))
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
