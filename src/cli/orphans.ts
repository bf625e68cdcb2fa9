/**
 * @module Orphans: files in the storages of file columns that no row references. References are
 * collected while the rows are paged through (one string per row and column, the memory bound),
 * then each storage is listed once and compared.
 */
import nodePath from 'node:path'
import type { DataSource } from 'typeorm'
import type { FileColumnMetadata } from '../columns/file-column'
import { ConfigurationError, FileNotFoundError } from '../errors'
import { normalizePrefix } from '../storage/keys'
import type { Storage } from '../storage/storage'
import type { OrphanScanOptions } from './args'
import type { Progress } from './progress'
import { type FileEntity, rawPages, ScanTable, safeKey } from './scan'

/** A file that no row references. */
export interface Orphan {
  /** The names the storage is registered under, joined with `,`. */
  storage: string
  path: string
  size: number
  modifiedAt: Date
}

/** Which keys an orphan scan looks at: under `--prefix`, and under no `--exclude` prefix. */
export class KeyFilter {
  readonly prefix: string
  readonly exclude: string[]

  constructor(options: Pick<OrphanScanOptions, 'prefix' | 'exclude'>) {
    this.prefix = normalizeOption('--prefix', options.prefix)
    this.exclude = options.exclude.map((prefix) => normalizeOption('--exclude', prefix))
  }

  includes(key: string): boolean {
    return key.startsWith(this.prefix) && !this.exclude.some((prefix) => key.startsWith(prefix))
  }
}

function normalizeOption(option: string, prefix: string): string {
  try {
    return normalizePrefix(prefix)
  } catch (error) {
    throw new ConfigurationError(`${option} "${prefix}": ${(error as Error).message}`)
  }
}

/** One storage to list, and the keys that rows reference in it. */
export interface StorageScan {
  storage: Storage
  names: string[]
  referenced: Set<string>
  /** The file columns that keep their files in this storage. */
  columns: { entity: FileEntity; column: FileColumnMetadata }[]
  /** The directory that holds the files, for a storage with localPath() (see {@link localRoot}). */
  root: string | undefined
  /** The scans whose directory holds this one's or lies inside it: the same files, under other keys. */
  overlapping: StorageScan[]
}

/**
 * The referenced keys of every storage that file columns use, one scan per set of files: per storage
 * object, and per directory for storages with local files, so that two LocalStorages on one root are
 * listed once. A file of a storage whose root lies inside another's is referenced through either.
 */
export class References {
  private readonly scans = new Map<Storage, StorageScan>()

  constructor(
    readonly filter: KeyFilter,
    storageOf: Map<FileColumnMetadata, Storage>,
    entities: FileEntity[],
  ) {
    const byRoot = new Map<string, StorageScan>()
    for (const entity of entities) {
      for (const column of entity.columns) {
        const storage = storageOf.get(column)
        if (!storage) continue
        let scan = this.scans.get(storage)
        if (!scan) {
          const root = localRoot(storage)
          scan = (root === undefined ? undefined : byRoot.get(root)) ?? {
            storage,
            names: [],
            referenced: new Set(),
            columns: [],
            root,
            overlapping: [],
          }
          if (root !== undefined) byRoot.set(root, scan)
          this.scans.set(storage, scan)
        }
        if (!scan.names.includes(column.storage)) scan.names.push(column.storage)
        scan.columns.push({ entity, column })
      }
    }
    for (const scan of this.storages) {
      scan.overlapping = this.storages.filter(
        (other) => other !== scan && (within(other, scan) || within(scan, other)),
      )
    }
  }

  /** Every storage to list, each once even when registered under several names. */
  get storages(): StorageScan[] {
    return [...new Set(this.scans.values())]
  }

  /** Records that a row references `path` in `storage`. Keys the scan will not look at are not kept. */
  add(storage: Storage, path: string): void {
    const scan = this.scans.get(storage)
    const key = safeKey(path)
    if (!scan || key === undefined) return
    if (this.filter.includes(key)) scan.referenced.add(key)
    // The same file, as the storages that overlap this one name it.
    for (const other of scan.overlapping) {
      const alias = translateKey(scan, key, other)
      if (alias !== undefined && this.filter.includes(alias)) other.referenced.add(alias)
    }
  }
}

/**
 * The directory under which `storage` keeps key `a/b` at `<root>/a/b` (LocalStorage's root), found
 * through localPath(); `undefined` for a storage without local files or one that maps keys otherwise.
 * Roots are compared as paths: two that reach one directory through a symlink are not told apart.
 */
export function localRoot(storage: Storage): string | undefined {
  try {
    const file = storage.localPath?.('a/b')
    if (typeof file !== 'string' || !nodePath.isAbsolute(file)) return undefined
    const root = nodePath.dirname(nodePath.dirname(file))
    return nodePath.join(root, 'a', 'b') === file ? root : undefined
  } catch {
    return undefined
  }
}

/** Whether the files of `inner` lie in `outer`'s directory (the same one included). */
function within(inner: StorageScan, outer: StorageScan): boolean {
  if (inner.root === undefined || outer.root === undefined) return false
  return inner.root === outer.root || inner.root.startsWith(outer.root + nodePath.sep)
}

/** The key in `to` of the file at `key` in `from`, or `undefined` when it lies outside `to`. */
function translateKey(from: StorageScan, key: string, to: StorageScan): string | undefined {
  if (from.root === undefined || to.root === undefined) return undefined
  const relative = nodePath.relative(to.root, nodePath.join(from.root, key))
  if (relative === '' || relative === '..' || relative.startsWith(`..${nodePath.sep}`)) return undefined
  return relative.split(nodePath.sep).join('/')
}

/**
 * Pages through the rows of `entities` that hold a file and records their paths, for the entities
 * that `check` does not inspect (and for every entity in `cleanup`).
 */
export async function collectReferences(
  dataSource: DataSource,
  entities: FileEntity[],
  references: References,
  storageOf: Map<FileColumnMetadata, Storage>,
  batchSize: number,
  progressFor: (entity: FileEntity, total: number) => Progress,
): Promise<number> {
  let rows = 0
  for (const entity of entities) {
    const table = new ScanTable(dataSource, entity)
    const progress = progressFor(entity, await table.count([table.anyFile()], undefined))
    for await (const page of rawPages(table, [table.anyFile()], batchSize)) {
      for (const row of page) {
        for (const [column, fields] of row.files) {
          const storage = storageOf.get(column)
          if (storage && typeof fields.path === 'string' && fields.path !== '')
            references.add(storage, fields.path)
        }
      }
      rows += page.length
      progress.tick(page.length)
    }
    progress.done()
  }
  return rows
}

/** What a storage listing found besides orphans. */
export interface ListingTally {
  /** Keys listed under the prefix, excluded ones left out. */
  listed: number
  /** Unreferenced files younger than `--min-age`, left alone. */
  recent: number
}

/**
 * The unreferenced files of `scan.storage` under the filter, oldest-first is not promised: in the
 * storage's listing order. Files modified less than `minAgeMs` before `now` are counted in `tally`
 * instead (an upload writes its file before its row commits). Throws when the storage cannot list.
 */
export async function* listOrphans(
  scan: StorageScan,
  filter: KeyFilter,
  minAgeMs: number,
  now: number,
  tally: ListingTally,
  progress: Progress,
): AsyncGenerator<Orphan> {
  if (!scan.storage.list) throw new ConfigurationError(`${scan.storage.name} cannot list its files`)
  for await (const key of scan.storage.list(filter.prefix)) {
    if (!filter.includes(key)) continue
    tally.listed++
    progress.tick()
    if (scan.referenced.has(key)) continue
    let stat: { size: number; modifiedAt: Date }
    try {
      stat = await scan.storage.stat(key)
    } catch (error) {
      if (error instanceof FileNotFoundError) continue // deleted since it was listed
      throw error
    }
    if (now - stat.modifiedAt.getTime() < minAgeMs) {
      tally.recent++
      continue
    }
    yield { storage: scan.names.join(','), path: key, size: stat.size, modifiedAt: stat.modifiedAt }
  }
}

/**
 * Whether some row references `key` now, through `scan`'s storage or one that overlaps it: asked of
 * the database right before a delete, because rows may have been saved since the scan.
 */
export async function isReferencedNow(
  dataSource: DataSource,
  scan: StorageScan,
  key: string,
): Promise<boolean> {
  if (await referencedBy(dataSource, scan.columns, key)) return true
  for (const other of scan.overlapping) {
    const alias = translateKey(scan, key, other)
    if (alias !== undefined && (await referencedBy(dataSource, other.columns, alias))) return true
  }
  return false
}

async function referencedBy(
  dataSource: DataSource,
  columns: StorageScan['columns'],
  key: string,
): Promise<boolean> {
  for (const { entity, column } of columns) {
    const table = new ScanTable(dataSource, entity)
    const found = await table.exists([(parameter) => `${table.field(column, 'path')} = ${parameter(key)}`])
    if (found) return true
  }
  return false
}
