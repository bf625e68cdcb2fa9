/**
 * @module AppModule: the NestJS example. TypeORM on Postgres (the demo's Document and its
 * migration), DownloadModule with a LocalStorage, and DocumentsController.
 */
import { type DynamicModule, Module } from '@nestjs/common'
import { TypeOrmModule } from '@nestjs/typeorm'
import { Document } from '../../entities/Document'
import { CreateDocument1764000000000 } from '../../migrations/1764000000000-CreateDocument'
import { FileColumnSubscriber, LocalStorage } from '../../src'
import { DownloadModule } from '../../src/nestjs'
import { EXAMPLE_CONFIG, type ExampleConfig } from './config'
import { DocumentsController } from './documents.controller'

@Module({})
// biome-ignore lint/complexity/noStaticOnlyClass: a Nest dynamic module is a class with static forRoot()
export class AppModule {
  /** The app for `config`; main.ts reads it from the environment, the tests make their own. */
  static forRoot(config: ExampleConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: config.databaseUrl,
          entities: [Document],
          migrations: [CreateDocument1764000000000],
          migrationsRun: true,
          // Fills a file column's metadata (size, type, SHA-256) when a row is saved.
          subscribers: [FileColumnSubscriber],
          connectTimeoutMS: 5000,
          extra: { query_timeout: 30_000 },
        }),
        DownloadModule.forRoot({ storages: { default: new LocalStorage({ root: config.mediaRoot }) } }),
      ],
      controllers: [DocumentsController],
      providers: [{ provide: EXAMPLE_CONFIG, useValue: config }],
    }
  }
}
