/**
 * @module The NestJS example server: `node --import tsx example/nestjs/main.ts`, then
 * `curl -i -H 'X-Api-Key: example-key' http://127.0.0.1:3000/documents/hello/download`.
 * DATABASE_URL (default: the local Postgres), MEDIA_ROOT (default: example/nestjs/media), API_KEY
 * (default: example-key), HOST and PORT (127.0.0.1:3000); PLATFORM=fastify runs it on Nest's
 * Fastify platform instead of Express. Migrates, and attaches document "hello" on first start.
 */
import 'reflect-metadata'
import path from 'node:path'
import type { INestApplication } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { DataSource } from 'typeorm'
import { Document } from '../../entities/Document'
import { attachFile } from '../../src'
import { AppModule } from './app.module'
import type { ExampleConfig } from './config'

async function main(): Promise<void> {
  const config: ExampleConfig = {
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    mediaRoot: path.resolve(process.env.MEDIA_ROOT ?? path.join(__dirname, 'media')),
    apiKey: process.env.API_KEY ?? 'example-key',
  }
  const module = AppModule.forRoot(config)
  const app: INestApplication =
    process.env.PLATFORM === 'fastify'
      ? await NestFactory.create(module, new FastifyAdapter())
      : await NestFactory.create(module)
  app.enableShutdownHooks()
  await seed(app.get(DataSource))
  const host = process.env.HOST ?? '127.0.0.1'
  const port = Number(process.env.PORT ?? 3000)
  await app.listen(port, host)
  process.stdout.write(
    `Listening on http://${host}:${port}/documents/hello/download (X-Api-Key: ${config.apiKey})\n`,
  )
}

/** Attaches a small text file to document "hello", unless it exists. */
async function seed(dataSource: DataSource): Promise<void> {
  const documents = dataSource.getRepository(Document)
  if (await documents.existsBy({ slug: 'hello' })) return
  const document = documents.create({ slug: 'hello', title: 'Hello' })
  await attachFile(document, 'file', Buffer.from('Hello from NestJS!\n'), { name: 'hello.txt' })
  await documents.save(document)
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exit(1)
})
