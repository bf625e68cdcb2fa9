/** @module DownloadModule: the library in a Nest app, configured through DI. */
import { type DynamicModule, Module, type Provider } from '@nestjs/common'
import { ConfigurationError } from '../errors'
import { Downloads } from './downloads'
import {
  DOWNLOAD_MODULE_OPTIONS,
  type DownloadModuleAsyncOptions,
  type DownloadModuleOptions,
} from './options'
import { Uploads } from './uploads'

/**
 * Registers the app's storages and provides {@link Downloads} and {@link Uploads} to every module
 * (it is global, as the library's `storages` registry is one per process). Import it once, in the
 * root module.
 *
 * @example
 * @Module({
 *   imports: [
 *     TypeOrmModule.forRoot({ type: 'postgres', url, entities: [Document], subscribers: [FileColumnSubscriber] }),
 *     DownloadModule.forRoot({ storages: { default: new LocalStorage({ root: 'media' }) } }),
 *   ],
 *   controllers: [DocumentsController],
 * })
 * export class AppModule {}
 */
@Module({})
// biome-ignore lint/complexity/noStaticOnlyClass: a Nest dynamic module is a class with static forRoot()
export class DownloadModule {
  /** The module with options known when the app is written. */
  static forRoot(options: DownloadModuleOptions = {}): DynamicModule {
    return DownloadModule.with([{ provide: DOWNLOAD_MODULE_OPTIONS, useValue: options }])
  }

  /**
   * The module with options that a factory makes from other providers.
   *
   * @example
   * DownloadModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({
   *     storages: { default: new LocalStorage({ root: config.getOrThrow('MEDIA_ROOT') }) },
   *   }),
   * })
   */
  static forRootAsync<Args extends unknown[]>(options: DownloadModuleAsyncOptions<Args>): DynamicModule {
    if (typeof options?.useFactory !== 'function')
      throw new ConfigurationError('DownloadModule.forRootAsync(): option "useFactory" must be a function')
    const provider: Provider = {
      provide: DOWNLOAD_MODULE_OPTIONS,
      useFactory: options.useFactory as (
        ...args: unknown[]
      ) => DownloadModuleOptions | Promise<DownloadModuleOptions>,
      inject: options.inject ?? [],
    }
    return DownloadModule.with([provider], options.imports)
  }

  private static with(providers: Provider[], imports: DynamicModule['imports'] = []): DynamicModule {
    return {
      module: DownloadModule,
      global: true,
      imports,
      providers: [...providers, Downloads, Uploads],
      exports: [Downloads, Uploads],
    }
  }
}
