/** @module A Storage that keeps files in memory: for tests and generated content. */
import { Readable } from 'node:stream'
import { FileNotFoundError } from '../errors'
import { existsByStat, normalizeKey, normalizePrefix } from './keys'
import { toReadable } from './source'
import type { ByteRange, SaveSource, Storage, StorageStat } from './storage'

interface Entry {
  data: Buffer
  modifiedAt: Date
}

/**
 * Files held in a Map, with the same key rules as every other storage.
 *
 * @example
 * const storage = new MemoryStorage()
 * await storage.save('a.txt', 'hello')
 */
export class MemoryStorage implements Storage {
  readonly name: string
  private readonly files = new Map<string, Entry>()

  constructor(options: { name?: string } = {}) {
    this.name = options.name ?? 'MemoryStorage'
  }

  async stat(key: string): Promise<StorageStat> {
    const entry = this.get(key)
    return { size: entry.data.length, modifiedAt: entry.modifiedAt }
  }

  exists(key: string): Promise<boolean> {
    return existsByStat(this, key)
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    const { data } = this.get(key)
    const slice = range ? data.subarray(range.start, range.end + 1) : data
    return Readable.from([slice], { objectMode: false })
  }

  async save(key: string, source: SaveSource): Promise<StorageStat> {
    const normal = normalizeKey(key)
    const chunks: Buffer[] = []
    for await (const chunk of toReadable(source)) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array))
    }
    // Whole seconds, as a file system with HTTP-date precision would report them.
    const entry = { data: Buffer.concat(chunks), modifiedAt: new Date(Math.floor(Date.now() / 1000) * 1000) }
    this.files.set(normal, entry)
    return { size: entry.data.length, modifiedAt: entry.modifiedAt }
  }

  async delete(key: string): Promise<void> {
    this.files.delete(normalizeKey(key))
  }

  /** The keys under `prefix`, sorted as when iteration starts; keys deleted meanwhile are skipped. */
  async *list(prefix?: string): AsyncIterable<string> {
    const wanted = normalizePrefix(prefix)
    for (const key of [...this.files.keys()].sort()) {
      if (key.startsWith(wanted) && this.files.has(key)) yield key
    }
  }

  private get(key: string): Entry {
    const entry = this.files.get(normalizeKey(key))
    if (!entry) throw new FileNotFoundError(`No file at "${key}" in ${this.name}`)
    return entry
  }
}
