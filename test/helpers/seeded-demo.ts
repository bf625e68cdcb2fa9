/**
 * The demo's seeded rows on a fresh database, with their files in a new temporary LocalStorage
 * registered as `default`: what the suites that run the demo app (alone or behind a real server) share.
 */
import type { DataSource } from 'typeorm'
import { seed } from '../../demo/seed'
import { type LocalStorage, type Storage, storages } from '../../src'
import { createTestDataSource } from './database'
import { temporaryStorage } from './storage'

/** The seeded demo; `close()` it in `afterAll`. */
export interface SeededDemo<S extends Storage> {
  dataSource: DataSource
  /** The temporary LocalStorage that holds the files. */
  local: LocalStorage
  /** Its folder. */
  root: string
  /** What is registered as `default`: the LocalStorage, or the wrapper made around it. */
  storage: S
  /** Destroys the DataSource (which drops its database), removes the folder, empties the registry. */
  close(): Promise<void>
}

/**
 * Seeds the demo on a fresh database, its files in a temporary LocalStorage, registered as
 * `default` as it is or in the wrapper `wrap` makes (a CountingStorage, to see what was opened).
 * @example const demo = await seededDemo((local) => new CountingStorage(local))
 */
export async function seededDemo(): Promise<SeededDemo<LocalStorage>>
export async function seededDemo<S extends Storage>(wrap: (local: LocalStorage) => S): Promise<SeededDemo<S>>
export async function seededDemo(
  wrap: (local: LocalStorage) => Storage = (local) => local,
): Promise<SeededDemo<Storage>> {
  const media = await temporaryStorage()
  const storage = wrap(media.storage)
  storages.register('default', storage)
  let dataSource: DataSource | undefined
  const close = async () => {
    await dataSource?.destroy()
    await media.remove()
    storages.clear()
  }
  try {
    dataSource = await createTestDataSource()
    await seed(dataSource)
    return { dataSource, local: media.storage, root: media.root, storage, close }
  } catch (error) {
    await close()
    throw error
  }
}
