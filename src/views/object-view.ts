/** @module ObjectDownloadView: serve a file column of an entity looked up by id or slug. */
import { type DataSource, getMetadataArgsStorage, type ObjectLiteral } from 'typeorm'
import { type FileColumnMetadata, getFileColumn } from '../columns/file-column'
import { hasFile, type StoredFile } from '../columns/stored-file'
import { ConfigurationError, FileNotFoundError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { StorageFile } from '../files/storage-file'
import { RowLookup } from '../lookup/row-lookup'
import { rejectUnknownViewOptions } from '../responder/options'
import { storages } from '../storage/registry'
import { type DownloadRequest, DownloadView, type DownloadViewOptions, VIEW_OPTIONS } from './download-view'

/** How the row is found: the URL parameter that carries the value, and the property it matches. */
export interface ObjectLookup {
  /** The route parameter (`:slug`). */
  param: string
  /** The entity property to match (`slug`). @default the same as `param` */
  column?: string
}

/** Options of {@link ObjectDownloadView}. */
export interface ObjectDownloadViewOptions<E extends ObjectLiteral> extends DownloadViewOptions {
  /** The DataSource the entity lives in; it may be initialized after the view is built. */
  dataSource: DataSource
  /** The entity class. */
  entity: new () => E
  /**
   * How the row is looked up. `'id'` and `'slug'` are short for `{ param: 'id', column: 'id' }`
   * and `{ param: 'slug', column: 'slug' }`.
   * @default 'id'
   */
  lookup?: 'id' | 'slug' | ObjectLookup
  /** The `@FileColumn()` property to serve. */
  file: keyof E & string
  /**
   * A property whose value names the file for the client, instead of the column's stored name.
   * @default undefined (the stored original name, else the key's basename)
   */
  basename?: keyof E & string
  /**
   * Run the lookup as a named prepared statement on Postgres (see src/lookup/row-lookup.ts). Turn it off behind
   * a connection pooler that cannot keep prepared statements (PgBouncer in transaction mode before
   * 1.21, or without `max_prepared_statements`).
   * @default true
   */
  prepare?: boolean
  /**
   * More properties to load with the row, for hooks that need them (`getBasename` reading `slug`).
   * The lookup query selects only what it needs: the primary key, the file column and `basename`.
   * @default []
   */
  select?: (keyof E & string)[]
  /**
   * Serve rows that `softRemove()` marked as deleted (an entity with `@DeleteDateColumn()`), as
   * TypeORM's `find({ withDeleted: true })` does. By default they are 404, as `findOneBy` has them.
   * @default false
   */
  withDeleted?: boolean
}

const OWN_OPTIONS = [
  ...VIEW_OPTIONS,
  'dataSource',
  'entity',
  'lookup',
  'file',
  'basename',
  'select',
  'prepare',
  'withDeleted',
]
/**
 * Serves one file column of an entity found by a route parameter, in one query that selects only
 * the columns it needs. With the metadata stored in the row, HEAD, 304, 412 and 416 never touch the
 * storage.
 *
 * @example
 * const view = new ObjectDownloadView({ dataSource, entity: Document, lookup: 'slug', file: 'file' })
 * app.get('/documents/:slug/download', toHandler(view))
 */
export class ObjectDownloadView<E extends ObjectLiteral> extends DownloadView {
  readonly dataSource: DataSource
  readonly entity: new () => E
  readonly lookup: Required<ObjectLookup>
  readonly fileColumn: FileColumnMetadata
  readonly basenameProperty: string | undefined
  readonly selectProperties: readonly string[]
  /** The lookup of the row: its query, built once from TypeORM's metadata, batching, faults. */
  private readonly rows: RowLookup<E>

  constructor(options: ObjectDownloadViewOptions<E>) {
    super(options)
    const owner = 'ObjectDownloadView'
    rejectUnknownViewOptions(options, OWN_OPTIONS, owner)
    if (!options.dataSource || typeof options.dataSource.query !== 'function') {
      throw new ConfigurationError(`${owner}: option "dataSource" must be a TypeORM DataSource`)
    }
    if (typeof options.entity !== 'function')
      throw new ConfigurationError(`${owner}: option "entity" must be an entity class`)
    this.dataSource = options.dataSource
    this.entity = options.entity
    const lookup = options.lookup ?? 'id'
    if (typeof lookup === 'string') this.lookup = { param: lookup, column: lookup }
    else if (lookup && typeof lookup.param === 'string' && lookup.param !== '')
      this.lookup = { param: lookup.param, column: lookup.column ?? lookup.param }
    else throw new ConfigurationError(`${owner}: option "lookup" must be 'id', 'slug' or { param, column }`)
    if (!declaresColumn(this.entity, this.lookup.column)) {
      throw new ConfigurationError(
        `${owner}: option "lookup" names "${this.lookup.column}", which is not a column of ${this.entity.name}`,
      )
    }
    try {
      this.fileColumn = getFileColumn(this.entity, options.file)
    } catch {
      throw new ConfigurationError(
        `${owner}: option "file" names "${String(options.file)}", which is not a @FileColumn() of ${this.entity.name}`,
      )
    }
    // The column's delivery when the view sets none; a storage registered already is checked now.
    this.delivery ??= this.fileColumn.delivery
    this.checkDelivery(storages.tryGet(this.fileColumn.storage))
    if (options.basename !== undefined && !declaresColumn(this.entity, options.basename)) {
      throw new ConfigurationError(
        `${owner}: option "basename" names "${String(options.basename)}", which is not a column of ${this.entity.name}`,
      )
    }
    this.basenameProperty = options.basename
    const select = options.select ?? []
    if (!Array.isArray(select))
      throw new ConfigurationError(`${owner}: option "select" must be an array of property names`)
    for (const property of select) {
      if (!declaresColumn(this.entity, property)) {
        throw new ConfigurationError(
          `${owner}: option "select" names "${String(property)}", which is not a column of ${this.entity.name}`,
        )
      }
    }
    this.selectProperties = select
    if (options.prepare !== undefined && typeof options.prepare !== 'boolean')
      throw new ConfigurationError(`${owner}: option "prepare" must be true or false`)
    if (options.withDeleted !== undefined && typeof options.withDeleted !== 'boolean')
      throw new ConfigurationError(`${owner}: option "withDeleted" must be true or false`)
    const fileProperty = this.fileColumn.propertyName
    this.rows = new RowLookup<E>({
      dataSource: this.dataSource,
      entity: this.entity,
      column: this.lookup.column,
      selects: (column) =>
        column.embeddedMetadata?.propertyName === fileProperty ||
        column.propertyPath === this.basenameProperty ||
        this.selectProperties.includes(column.propertyPath),
      withDeleted: options.withDeleted ?? false,
      prepare: options.prepare ?? true,
      owner,
      logger: this.logger,
    })
  }

  /**
   * The row for this request, with the file column (and basename) loaded, or a FileNotFoundError.
   * A lookup value that cannot match the column's type (a non-numeric id) is a 404 too.
   */
  async getObject(request: DownloadRequest): Promise<E> {
    const raw = request.params[this.lookup.param]
    const value = typeof raw === 'string' ? raw : undefined
    const row = await this.rows.find(value)
    if (!row)
      throw new FileNotFoundError(
        `No ${this.entity.name} with ${this.lookup.column} = ${JSON.stringify(value ?? null)}`,
      )
    return row
  }

  /** The file of `object`'s file column; a FileNotFoundError when the column is empty. */
  async getFile(request: DownloadRequest, object?: E): Promise<DownloadFile> {
    const row = object ?? (await this.getObject(request))
    const value = row[this.fileColumn.propertyName] as StoredFile | null | undefined
    if (!hasFile(value))
      throw new FileNotFoundError(`${this.entity.name}.${this.fileColumn.propertyName} is empty`)
    const storage = storages.get(this.fileColumn.storage)
    return StorageFile.describe(storage, value.path, {
      name: this.getBasename(row, value),
      size: value.size,
      contentType: value.contentType,
      modifiedAt: value.modifiedAt,
      sha256: value.sha256,
    })
  }

  /** The name the client sees: the basename property when configured and set, else the stored name. */
  getBasename(object: E, value: StoredFile): string | undefined {
    if (this.basenameProperty) {
      const name = object[this.basenameProperty]
      if (typeof name === 'string' && name !== '') return name
    }
    return value.name ?? undefined
  }
}

function declaresColumn(entity: Function, property: string): boolean {
  const args = getMetadataArgsStorage()
  const inherits = (target: Function | string) =>
    typeof target === 'function' && (target === entity || entity.prototype instanceof target)
  return args.columns.some((column) => inherits(column.target) && column.propertyName === property)
}
