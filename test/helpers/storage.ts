/** Test storages: a LocalStorage in a temporary folder, and wrappers that count what touches a storage. */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { LocalStorage } from '../../src/storage/local-storage'
import type { ByteRange, SaveSource, Storage, StorageStat } from '../../src/storage/storage'

/** A LocalStorage in a new temporary folder, and a function that removes the folder. */
export async function temporaryStorage(): Promise<{
  storage: LocalStorage
  root: string
  remove: () => Promise<void>
}> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'downloadview-media-'))
  return {
    storage: new LocalStorage({ root }),
    root,
    remove: () => rm(root, { recursive: true, force: true }),
  }
}

/** Wraps a storage and counts calls to each method, to prove what a response did not touch. */
export class CountingStorage implements Storage {
  readonly calls = { stat: 0, exists: 0, open: 0, save: 0, delete: 0 }
  readonly name: string

  constructor(readonly inner: Storage) {
    this.name = `Counting(${inner.name})`
  }

  reset(): void {
    for (const key of Object.keys(this.calls) as (keyof CountingStorage['calls'])[]) this.calls[key] = 0
  }

  stat(key: string): Promise<StorageStat> {
    this.calls.stat++
    return this.inner.stat(key)
  }

  exists(key: string): Promise<boolean> {
    this.calls.exists++
    return this.inner.exists(key)
  }

  open(key: string, range?: ByteRange): Promise<Readable> {
    this.calls.open++
    return this.inner.open(key, range)
  }

  save(key: string, source: SaveSource): Promise<StorageStat> {
    this.calls.save++
    return this.inner.save(key, source)
  }

  delete(key: string): Promise<void> {
    this.calls.delete++
    return this.inner.delete(key)
  }
}

/** A CountingStorage that keeps the LocalStorage's `localPath()`, which `{ root }` offload rules need. */
export class LocalCountingStorage extends CountingStorage {
  constructor(readonly local: LocalStorage) {
    super(local)
  }

  localPath(key: string): string {
    return this.local.localPath(key)
  }
}
