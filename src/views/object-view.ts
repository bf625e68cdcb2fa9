/**
 * @module ObjectDownloadView: serve a file column of an entity looked up by id or slug, within a
 * per-request scope, and past an authorization hook.
 */
import type { DataSource, ObjectLiteral } from 'typeorm'
import type { FileColumnMetadata } from '../columns/file-column'
import { hasFile, type StoredFile } from '../columns/stored-file'
import { FileNotFoundError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { StorageFile } from '../files/storage-file'
import type { ObjectLookup } from '../lookup/lookup-options'
import { RowLookup } from '../lookup/row-lookup'
import { storages } from '../storage/registry'
import { type DownloadRequest, DownloadView } from './download-view'
import {
  type ObjectDownloadViewOptions,
  type ObjectViewSettings,
  resolveObjectViewOptions,
} from './object-view-options'

export type { ObjectLookup } from '../lookup/lookup-options'
export type { ObjectDownloadViewOptions } from './object-view-options'

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
  /** The options, checked: the hooks (`where`, `authorize`, `query`) among them. */
  private readonly settings: ObjectViewSettings<E>

  constructor(options: ObjectDownloadViewOptions<E>) {
    super(options)
    const owner = 'ObjectDownloadView'
    const settings = resolveObjectViewOptions(options, owner)
    this.settings = settings
    this.dataSource = settings.dataSource
    this.entity = options.entity
    this.lookup = settings.lookup
    this.fileColumn = settings.fileColumn
    this.basenameProperty = settings.basename
    this.selectProperties = settings.select
    // The column's hand-off when the view sets none; a storage registered already is checked now.
    this.inheritHandoffs(this.fileColumn.handoffs)
    this.checkHandoff(storages.tryGet(this.fileColumn.storage))
    const loads = [this.fileColumn.propertyName, ...this.selectProperties, this.basenameProperty ?? []].flat()
    this.rows = new RowLookup<E>({
      dataSource: this.dataSource,
      entity: this.entity,
      column: this.lookup.column,
      selects: (column) =>
        loads.some((path) => column.propertyPath === path || column.propertyPath.startsWith(`${path}.`)),
      withDeleted: settings.withDeleted,
      prepare: settings.prepare,
      scoped: settings.where !== undefined,
      ...(settings.cache && { cache: settings.cache }),
      owner,
      logger: this.logger,
    })
  }

  /**
   * The row for this request, with the file column (and basename) loaded, or a FileNotFoundError:
   * for a missing row, one out of the request's scope, and one that `authorize` refused alike. A
   * lookup value that cannot match the column's type (a non-numeric id) is a 404 too.
   */
  async getObject(request: DownloadRequest): Promise<E> {
    const raw = request.params[this.lookup.param]
    const value = typeof raw === 'string' ? raw : undefined
    const { where, query, authorize } = this.settings
    const scope = where && (await where(request))
    const row = query
      ? await this.rows.findWithQuery(value, scope, (builder) => query(builder, request))
      : await this.rows.find(value, scope)
    if (!row || (authorize && (await authorize(request, row)) === false))
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
    const file = await StorageFile.describe(storage, value.path, {
      name: this.getBasename(row, value),
      size: value.size,
      contentType: value.contentType,
      modifiedAt: value.modifiedAt,
      sha256: value.sha256,
    })
    return this.settings.contentCache ? this.settings.contentCache.wrap(file) : file
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
