/** @module The options of DownloadModule, and the token they are provided under. */
import type { FactoryProvider, ModuleMetadata } from '@nestjs/common'
import type { Storage } from '../storage/storage'

/** The token of the resolved {@link DownloadModuleOptions}. */
export const DOWNLOAD_MODULE_OPTIONS = Symbol.for('typeorm-downloadview/nestjs.options')

/** Options of `DownloadModule.forRoot()`. */
export interface DownloadModuleOptions {
  /**
   * The storages to register in the library's `storages` registry, by name (`default` is the one
   * file columns use unless they name another). Registered when the app builds the module's
   * service, forgotten when the app closes.
   * @default {} (the storages the app registered itself)
   */
  storages?: Record<string, Storage>
}

/** Options of `DownloadModule.forRootAsync()`: a factory of {@link DownloadModuleOptions} and what it needs. */
export interface DownloadModuleAsyncOptions<Args extends unknown[] = unknown[]> {
  /**
   * Modules whose providers the factory injects (a ConfigModule).
   * @default []
   */
  imports?: ModuleMetadata['imports']
  /**
   * The tokens of the factory's arguments, in order.
   * @default []
   */
  inject?: FactoryProvider['inject']
  /** Makes the options; may be async. */
  useFactory: (...args: Args) => DownloadModuleOptions | Promise<DownloadModuleOptions>
}
