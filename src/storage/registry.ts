/** @module Named storages: file columns name the storage they live in, the registry resolves the name. */
import { ConfigurationError } from '../errors'
import type { Storage } from './storage'

/** The name a file column uses when it names no storage. */
export const DEFAULT_STORAGE = 'default'

/**
 * Maps storage names to storages. File columns refer to a storage by name (`@FileColumn({ storage: 'media' })`)
 * so entities stay free of configuration; the app registers the storages once at startup.
 *
 * @example
 * storages.register('default', new LocalStorage({ root: 'media' }))
 */
export class StorageRegistry {
  private readonly entries = new Map<string, Storage>()

  /** Registers `storage` under `name`, replacing any storage already there. */
  register(name: string, storage: Storage): this {
    if (typeof name !== 'string' || name === '')
      throw new ConfigurationError('storages.register: "name" must be a non-empty string')
    if (!storage || typeof storage.open !== 'function' || typeof storage.stat !== 'function') {
      throw new ConfigurationError(
        `storages.register("${name}"): "storage" must implement the Storage interface`,
      )
    }
    this.entries.set(name, storage)
    return this
  }

  /** The storage registered under `name`; throws a ConfigurationError naming it when there is none. */
  get(name: string = DEFAULT_STORAGE): Storage {
    const storage = this.entries.get(name)
    if (!storage) {
      throw new ConfigurationError(
        `No storage is registered as "${name}": call storages.register("${name}", storage) at startup`,
      )
    }
    return storage
  }

  /** The storage registered under `name`, or `undefined`. */
  tryGet(name: string = DEFAULT_STORAGE): Storage | undefined {
    return this.entries.get(name)
  }

  /** Forgets `name`, or every storage. */
  clear(name?: string): void {
    if (name === undefined) this.entries.clear()
    else this.entries.delete(name)
  }
}

/** The registry that file columns use. */
export const storages: StorageRegistry = shared('typeorm-downloadview.storages', () => new StorageRegistry())

/**
 * One instance per process, kept on `globalThis`: when two copies of the library are loaded (the
 * CLI from dist/ and a DataSource file importing src/, or two installed versions), they still see
 * the same storages.
 */
function shared<T>(name: string, create: () => T): T {
  const key = Symbol.for(name)
  const holder = globalThis as typeof globalThis & Record<symbol, T | undefined>
  holder[key] ??= create()
  return holder[key] as T
}
