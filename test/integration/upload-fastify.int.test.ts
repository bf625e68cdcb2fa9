/** Uploads into a file column through the Fastify adapter, on a real Fastify 5 server: the upload contract. */
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { Document } from '../../entities/Document'
import { downloadRoute, fastifyUploads, receiveUpload } from '../../src/fastify'
import { describeUploadContract } from '../contract/upload.contract'

describeUploadContract('Fastify', async (context) => {
  const app = Fastify()
  await app.register(fastifyUploads)
  for (const route of Object.values(context.routes)) {
    app.post(route.path, async (request, reply) => {
      const document = new Document()
      const { fields } = await receiveUpload(request, document, 'file', route.options)
      return reply.code(201).send(await context.save(document, fields))
    })
  }
  app.all('/documents/:slug', downloadRoute(context.download))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    port: (app.server.address() as AddressInfo).port,
    close: async () => {
      app.server.closeAllConnections()
      await app.close()
    },
  }
})
