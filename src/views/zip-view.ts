/**
 * @module ZipDownloadView: several stored files as one ZIP archive: the file columns of one row, a
 * file column of the rows a request lists, or the storage keys a hook returns. The archive is a
 * ZipFile (src/zip): its length and ETag come from the rows, so the responder gives it Range,
 * If-Range and the preconditions, and an interrupted download resumes.
 */
import type { DataSource, FindOptionsWhere, ObjectLiteral } from 'typeorm'
import { type FileColumnMetadata, getFileColumn } from '../columns/file-column'
import { hasFile, type StoredFile } from '../columns/stored-file'
import { mapLimit } from '../concurrency'
import { ConfigurationError, FileNotFoundError, InvalidParameterError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { basename } from '../files/storage-file'
import { rejectUnknownViewOptions } from '../http/options'
import { type LookupOptions, type ObjectLookup, resolveLookupOptions } from '../lookup/lookup-options'
import { RowLookup } from '../lookup/row-lookup'
import { storages } from '../storage/registry'
import type { Storage } from '../storage/storage'
import { Crc32Memo, ZipFile, type ZipMember } from '../zip/zip-file'
import {
  type DownloadRequest,
  DownloadView,
  type DownloadViewOptions,
  routeParam,
  VIEW_OPTIONS,
} from './download-view'

/** A scope in TypeORM's terms, as `findBy()` takes it; an array is an OR of its objects. */
type Where<E> = FindOptionsWhere<E> | FindOptionsWhere<E>[]

/** Rows listed in the query string: `{ query: 'slug' }` reads `?slug=a&slug=b`. */
export interface ZipRowsLookup {
  /** The query parameter, repeated once per row. */
  query: string
  /**
   * The entity property that each value matches (a unique column).
   * @default the same as `query`
   */
  column?: string
}

/** One stored file for the archive, as the `entries` hook returns it. */
export interface ZipEntrySource {
  /**
   * The storage, or the name it is registered under.
   * @default 'default'
   */
  storage?: Storage | string
  /** The key of the file in the storage. */
  key: string
  /**
   * The entry's name in the archive (`/` makes folders; made safe and unique).
   * @default the key's last segment
   */
  name?: string
  /**
   * Bytes of content.
   * @default one `stat` of the storage
   */
  size?: number | null
  /**
   * The CRC-32 of the content (an `@FileColumn()` stores it: `file_crc32`).
   * @default computed by reading the file, within `maxChecksumBytes`
   */
  crc32?: number | null
  /**
   * Hex SHA-256 of the content: with one for every entry, the archive's ETag is strong (If-Range works).
   * @default none (a weak ETag)
   */
  sha256?: string | null
  /**
   * The modification time stored in the entry.
   * @default 1980-01-01, the earliest a ZIP date can say
   */
  modifiedAt?: Date | null
}

/**
 * Options of {@link ZipDownloadView}: rows (`dataSource`, `entity`, `files`), or `entries`; and the
 * options every view takes but `handoff` (the app makes the archive: no proxy or bucket has it).
 */
export interface ZipDownloadViewOptions<E extends ObjectLiteral = ObjectLiteral>
  extends Omit<DownloadViewOptions, 'handoff'> {
  /** The DataSource the entity lives in (with `entity` and `files`); it may be initialized later. */
  dataSource?: DataSource
  /** The entity whose rows hold the files. */
  entity?: new () => E
  /** The `@FileColumn()` properties to put in the archive, in this order; empty columns are left out. */
  files?: (keyof E & string) | (keyof E & string)[]
  /**
   * Which rows. `'id'`, `'slug'` or `{ param, column }`: one row, by route parameter (the archive
   * holds its `files`). `{ query, column }`: the rows listed by a repeated query parameter
   * (`?slug=a&slug=b`, in that order, each once), at most `maxRows`; a value with no row is a 404.
   * @default 'id'
   */
  lookup?: 'id' | 'slug' | ObjectLookup | ZipRowsLookup
  /**
   * The most rows a `{ query }` lookup takes; more values in the query are a 400.
   * @default 100
   */
  maxRows?: number
  /**
   * More properties to load with each row, for `authorize` and `name`.
   * @default []
   */
  select?: (keyof E & string)[]
  /**
   * Run the lookups as a named prepared statement on Postgres, the rows of one request in one
   * batched query (as ObjectDownloadView does).
   * @default true
   */
  prepare?: boolean
  /**
   * Include rows that `softRemove()` marked as deleted.
   * @default false
   */
  withDeleted?: boolean
  /**
   * The rows this request may see, as `findBy()` takes them; a listed row out of scope is a 404.
   * @default undefined (every row)
   */
  where?: (request: DownloadRequest) => Where<E> | Promise<Where<E>>
  /**
   * Decides on each row found: true or nothing keeps it, false answers 404 (as for a missing row),
   * throwing an `AccessDeniedError` answers 403.
   * @default undefined (every row found is served)
   */
  authorize?: (request: DownloadRequest, object: E) => boolean | undefined | Promise<boolean | undefined>
  /**
   * The files, for an archive of storage keys instead of rows: returns `{ storage, key, name,
   * size, crc32, sha256, modifiedAt }`s (only `key` is required). Not with `dataSource`, `entity`,
   * `files`.
   * @default undefined (the rows' files)
   */
  entries?: (request: DownloadRequest) => ZipEntrySource[] | Promise<ZipEntrySource[]>
  /**
   * The archive's name for the client (Content-Disposition), or a function of the request.
   * @default `<lookup value>.zip` for one row, else `'download.zip'`
   */
  name?: string | ((request: DownloadRequest) => string | Promise<string>)
  /**
   * The most bytes a request may read to compute the CRC-32s that its files lack (rows saved
   * before the `crc32` column existed; keys from `entries`), reading each once before the first
   * byte goes out. Past it the request is a 500 (`MissingChecksumError`, logged by the app's
   * error handler): run `typeorm-downloadview backfill`. CRCs computed once are remembered (10,000
   * of them). `0` computes none.
   * @default 67108864 (64 MiB)
   */
  maxChecksumBytes?: number
}

const OWN_OPTIONS = [
  ...VIEW_OPTIONS,
  ...['dataSource', 'entity', 'files', 'lookup', 'maxRows', 'select', 'prepare', 'withDeleted'],
  ...['where', 'authorize', 'entries', 'name', 'maxChecksumBytes'],
]
const ROW_OPTIONS = ['dataSource', 'entity', 'files', 'lookup', 'maxRows', 'select', 'prepare', 'withDeleted']
const DEFAULT_MAX_ROWS = 100
const DEFAULT_MAX_CHECKSUM_BYTES = 64 * 1024 * 1024
/** Files whose size the rows do not state, looked up (`stat`) at a time. */
const STAT_CONCURRENCY = 8

/** How the rows are found, checked. */
interface RowSettings<E extends ObjectLiteral> extends LookupOptions {
  columns: FileColumnMetadata[]
  /** Rows listed in the query string (`{ query }`), rather than one row by route parameter. */
  many: boolean
  maxRows: number
  where: ZipDownloadViewOptions<E>['where']
  authorize: ZipDownloadViewOptions<E>['authorize']
}

/**
 * Serves several stored files as one ZIP archive, streamed member by member: the file columns of
 * one row, a file column of several rows listed in the query string, or storage keys from a hook.
 * Members are stored as they are (no compression: the length is exact before the first byte), with
 * UTF-8 names made safe and unique, and ZIP64 past 4 GiB or 65,535 entries. The archive's ETag is
 * a hash of its manifest, so Range, If-Range (resuming a broken download), 304 and 412 work as for
 * one file. The archive is made by the app: no hand-off sends it.
 *
 * @example
 * // GET /documents/hello-world/zip: hello-world's file and anotherFile
 * new ZipDownloadView({ dataSource, entity: Document, lookup: 'slug', files: ['file', 'anotherFile'] })
 * // GET /documents/zip?slug=a&slug=b: the file of documents a and b
 * new ZipDownloadView({ dataSource, entity: Document, lookup: { query: 'slug' }, files: 'file' })
 */
export class ZipDownloadView<E extends ObjectLiteral = ObjectLiteral> extends DownloadView {
  /** The rows' settings; `undefined` for an archive of `entries`. */
  private readonly settings: RowSettings<E> | undefined
  private readonly rows: RowLookup<E> | undefined
  private readonly entriesHook: ZipDownloadViewOptions<E>['entries']
  private readonly archiveName: ZipDownloadViewOptions<E>['name']
  private readonly maxChecksumBytes: number
  private readonly checksums = new Crc32Memo()

  constructor(options: ZipDownloadViewOptions<E>) {
    const owner = 'ZipDownloadView'
    if ((options as DownloadViewOptions | undefined)?.handoff !== undefined)
      throw new ConfigurationError(
        `${owner}: option "handoff" cannot apply: the app makes the archive, no proxy or bucket has it`,
      )
    // The app's hand-off (handoffMiddleware) cannot take an archive either.
    super({ ...options, handoff: false })
    rejectUnknownViewOptions(options, OWN_OPTIONS, owner)
    const { entries, name } = options
    if (name !== undefined && !(typeof name === 'function' || (typeof name === 'string' && name !== '')))
      throw new ConfigurationError(
        `${owner}: option "name" must be a non-empty string or a function of the request`,
      )
    this.archiveName = name
    const maxChecksumBytes = options.maxChecksumBytes ?? DEFAULT_MAX_CHECKSUM_BYTES
    if (!Number.isSafeInteger(maxChecksumBytes) || maxChecksumBytes < 0)
      throw new ConfigurationError(
        `${owner}: option "maxChecksumBytes" must be a whole number of bytes (0: none)`,
      )
    this.maxChecksumBytes = maxChecksumBytes
    if (entries !== undefined) {
      if (typeof entries !== 'function')
        throw new ConfigurationError(`${owner}: option "entries" must be a function of the request`)
      const given = ROW_OPTIONS.find((option) => (options as Record<string, unknown>)[option] !== undefined)
      if (given)
        throw new ConfigurationError(
          `${owner}: option "${given}" is for rows; option "entries" gives the files itself`,
        )
      this.entriesHook = entries
      return
    }
    const settings = resolveRowSettings(options, owner)
    this.settings = settings
    const loads = [...settings.columns.map((column) => column.propertyName), ...settings.select]
    this.rows = new RowLookup<E>({
      dataSource: settings.dataSource,
      entity: settings.entity,
      column: settings.lookup.column,
      selects: (column) =>
        loads.some((path) => column.propertyPath === path || column.propertyPath.startsWith(`${path}.`)),
      withDeleted: settings.withDeleted,
      prepare: settings.prepare,
      scoped: settings.where !== undefined,
      owner,
      logger: this.logger,
    })
  }

  /**
   * The rows of this request, in order: one by route parameter, or those the query lists. A value
   * with no row, out of scope or refused by `authorize` is a FileNotFoundError; too many values, or
   * none, an InvalidParameterError (400).
   */
  async getObjects(request: DownloadRequest): Promise<E[]> {
    const { settings, rows } = this.rowsOrFail()
    const { where, authorize, lookup, entity } = settings
    const values = settings.many ? this.listedValues(request) : [routeParam(request.params, lookup.param)]
    const scope = where && (await where(request))
    // Found together: the lookups of one turn of the event loop go to Postgres as one query.
    const found = await Promise.all(values.map((value) => rows.find(value, scope)))
    const objects: E[] = []
    for (const [index, row] of found.entries()) {
      if (!row || (authorize && (await authorize(request, row)) === false))
        throw new FileNotFoundError(
          `No ${entity.name} with ${lookup.column} = ${JSON.stringify(values[index] ?? null)}`,
        )
      objects.push(row)
    }
    return objects
  }

  /**
   * The files of the archive: the `entries` hook's, or each row's file columns (empty ones left
   * out), named by the name stored with each file.
   */
  async getEntries(request: DownloadRequest): Promise<ZipEntrySource[]> {
    if (this.entriesHook) return this.entriesHook(request)
    const { settings } = this.rowsOrFail()
    const entries: ZipEntrySource[] = []
    for (const row of await this.getObjects(request)) {
      for (const column of settings.columns) {
        const value = row[column.propertyName] as StoredFile | null | undefined
        if (!hasFile(value)) continue
        entries.push({
          storage: column.storage,
          key: value.path,
          name: this.getEntryName(row, column.propertyName, value),
          size: value.size,
          crc32: value.crc32,
          sha256: value.sha256,
          modifiedAt: value.modifiedAt,
        })
      }
    }
    return entries
  }

  /** The name of `object`'s file in `property` inside the archive: its stored name, else its key's last segment. */
  getEntryName(_object: E, _property: string, value: StoredFile & { path: string }): string {
    return value.name || basename(value.path)
  }

  /** The archive's name for the client: option `name`, else `<lookup value>.zip` for one row, else `download.zip`. */
  async getArchiveName(request: DownloadRequest): Promise<string> {
    const { archiveName } = this
    if (typeof archiveName === 'function') return archiveName(request)
    if (archiveName !== undefined) return archiveName
    if (this.settings && !this.settings.many) {
      const value = routeParam(request.params, this.settings.lookup.param)
      if (value) return `${value}.zip`
    }
    return 'download.zip'
  }

  /** The archive, as a ZipFile; a FileNotFoundError when it would hold no file. */
  async getFile(request: DownloadRequest): Promise<DownloadFile> {
    const sources = await this.getEntries(request)
    if (!Array.isArray(sources))
      throw new TypeError(`ZipDownloadView: getEntries() (option "entries") must return an array of entries`)
    if (sources.length === 0) throw new FileNotFoundError('ZipDownloadView: no file to put in the archive')
    const members = await mapLimit(sources, STAT_CONCURRENCY, (source) => member(source))
    return new ZipFile({
      name: await this.getArchiveName(request),
      members,
      maxChecksumBytes: this.maxChecksumBytes,
      memo: this.checksums,
    })
  }

  /** The values of the repeated query parameter, each once, in order; a 400 for none or too many. */
  private listedValues(request: DownloadRequest): string[] {
    const { settings } = this.rowsOrFail()
    const param = settings.lookup.param
    const query = new URL(request.req.url ?? '/', 'http://localhost').searchParams
    const values = [...new Set(query.getAll(param))]
    if (values.length === 0) throw new InvalidParameterError(`ZipDownloadView: no "${param}" in the query`)
    if (values.length > settings.maxRows)
      throw new InvalidParameterError(
        `ZipDownloadView: ${values.length} values of "${param}", over the ${settings.maxRows} allowed (option "maxRows")`,
      )
    return values
  }

  private rowsOrFail(): { settings: RowSettings<E>; rows: RowLookup<E> } {
    if (!this.settings || !this.rows)
      throw new ConfigurationError('ZipDownloadView: this view serves option "entries", not rows')
    return { settings: this.settings, rows: this.rows }
  }
}

/** A hook's or a row's file as a ZipMember: its storage resolved, its size stated or `stat`ed. */
async function member(source: ZipEntrySource): Promise<ZipMember> {
  const where = 'ZipDownloadView: an entry'
  if (!source || typeof source.key !== 'string' || source.key === '')
    throw new TypeError(`${where} has no "key"`)
  const given = source.storage ?? undefined
  const storage = typeof given === 'object' ? given : storages.get(given)
  const size = source.size ?? (await storage.stat(source.key)).size
  if (!Number.isSafeInteger(size) || size < 0)
    throw new TypeError(`${where} for "${source.key}" has a bad "size"`)
  const crc = source.crc32
  if (crc != null && !(Number.isInteger(crc) && crc >= 0 && crc <= 0xffffffff))
    throw new TypeError(`${where} for "${source.key}" has a "crc32" that is not an unsigned 32-bit integer`)
  return {
    storage,
    key: source.key,
    name: source.name || basename(source.key),
    size,
    ...(crc != null && { crc32: crc }),
    ...(typeof source.sha256 === 'string' && { sha256: source.sha256.trim() }),
    ...(source.modifiedAt instanceof Date && { modifiedAt: source.modifiedAt }),
  }
}

/** Checks the row options (each bad one a ConfigurationError that names it) and applies the defaults. */
function resolveRowSettings<E extends ObjectLiteral>(
  options: ZipDownloadViewOptions<E>,
  owner: string,
): RowSettings<E> {
  if (options.dataSource === undefined && options.entity === undefined && options.files === undefined)
    throw new ConfigurationError(
      `${owner}: give options "dataSource", "entity" and "files" (rows), or option "entries"`,
    )
  const given = options.lookup
  let many = false
  let lookup: unknown = given
  if (given !== null && typeof given === 'object' && 'query' in given) {
    const { query, column } = given as { query?: unknown; column?: unknown }
    if (
      typeof query !== 'string' ||
      query === '' ||
      'param' in given ||
      (column !== undefined && typeof column !== 'string')
    )
      throw new ConfigurationError(
        `${owner}: option "lookup" must be 'id', 'slug', { param, column } or { query, column }`,
      )
    many = true
    lookup = { param: query, column: column ?? query }
  }
  const resolved = resolveLookupOptions(
    {
      dataSource: options.dataSource,
      entity: options.entity,
      lookup,
      select: options.select,
      prepare: options.prepare,
      withDeleted: options.withDeleted,
      where: options.where,
    },
    owner,
  )
  if (options.authorize !== undefined && typeof options.authorize !== 'function')
    throw new ConfigurationError(`${owner}: option "authorize" must be a function of the request and the row`)
  const files = typeof options.files === 'string' ? [options.files] : options.files
  if (!Array.isArray(files) || files.length === 0)
    throw new ConfigurationError(`${owner}: option "files" must name one or more @FileColumn() properties`)
  const columns = files.map((property) => {
    try {
      return getFileColumn(resolved.entity, property)
    } catch {
      throw new ConfigurationError(
        `${owner}: option "files" names "${String(property)}", which is not a @FileColumn() of ${resolved.entity.name}`,
      )
    }
  })
  if (new Set(files).size !== files.length)
    throw new ConfigurationError(`${owner}: option "files" names a property twice`)
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS
  if (options.maxRows !== undefined && !many)
    throw new ConfigurationError(
      `${owner}: option "maxRows" is for rows listed in the query (lookup { query })`,
    )
  if (!Number.isSafeInteger(maxRows) || maxRows < 1)
    throw new ConfigurationError(`${owner}: option "maxRows" must be a whole number of at least 1`)
  return { ...resolved, columns, many, maxRows, where: options.where, authorize: options.authorize }
}
