/**
 * @module The options of ObjectDownloadView, and their check: the lookup's in src/lookup
 * (lookup-options.ts), the file column and the hooks here.
 */
import type { DataSource, FindOptionsWhere, ObjectLiteral, SelectQueryBuilder } from 'typeorm'
import { ContentCache } from '../cache/content-cache'
import { RowCache } from '../cache/row-cache'
import { type FileColumnMetadata, getFileColumn } from '../columns/file-column'
import { ConfigurationError } from '../errors'
import { rejectUnknownViewOptions } from '../http/options'
import { type LookupOptions, type ObjectLookup, resolveLookupOptions } from '../lookup/lookup-options'
import { type DownloadRequest, type DownloadViewOptions, VIEW_OPTIONS } from './download-view'

/** A scope in TypeORM's terms, as `findBy()` takes it; an array is an OR of its objects. */
type Where<E> = FindOptionsWhere<E> | FindOptionsWhere<E>[]

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
   * More properties to load with the row, for hooks that need them (`getBasename` reading `slug`,
   * `authorize` reading `owner`): columns, embedded entities, and many-to-one relations (loaded as
   * `{ id }`). The lookup query selects only what it needs: the primary key, the file column and `basename`.
   * @default []
   */
  select?: (keyof E & string)[]
  /**
   * Serve rows that `softRemove()` marked as deleted (an entity with `@DeleteDateColumn()`), as
   * TypeORM's `find({ withDeleted: true })` does. By default they are 404, as `findOneBy` has them.
   * @default false
   */
  withDeleted?: boolean
  /**
   * The rows this request may see, as `findBy()` takes them: `{ owner: { id: userId } }`,
   * `{ published: true }`, `{ tenantId }`, with IsNull(), In(), Not(), LessThan()… A row out of scope
   * is a 404, like a missing one. Values go to the database as parameters, so the lookup stays one
   * prepared statement per scope shape; a shape it cannot compile (Raw(), a property that needs a
   * join, `undefined`) is a 500, logged, at the first request with that shape.
   * @default undefined (every row)
   */
  where?: (request: DownloadRequest) => Where<E> | Promise<Where<E>>
  /**
   * Decides on the row found (with its `select`ed properties): true or nothing serves it, false
   * answers 404 as for a missing row, and throwing an `AccessDeniedError` answers 403.
   * @default undefined (every row found is served)
   */
  authorize?: (request: DownloadRequest, object: E) => boolean | undefined | Promise<boolean | undefined>
  /**
   * For what `where` cannot say: changes the TypeORM SelectQueryBuilder of the lookup (alias
   * `query.alias`), which already holds the lookup and the scope; add conditions with `andWhere()`
   * (a hook that replaces them with `where()` or widens them with `orWhere()` is a 500, logged). It
   * loads the whole entity, and runs without the prepared statement and the batching.
   * @default undefined (the prepared, batched lookup)
   */
  query?: (query: SelectQueryBuilder<E>, request: DownloadRequest) => SelectQueryBuilder<E> | undefined
  /**
   * Keep the rows found (and the lookups that found none) in this RowCache
   * (`typeorm-downloadview/cache`), which a ChangeListener keeps true through Postgres
   * LISTEN/NOTIFY: a repeated request needs no query. The cache key holds the lookup value and
   * every scope value, so one scope is never answered from another's entry; `authorize` still runs
   * on every request. While the listener's connection is down nothing is read from it or stored.
   * Not with `query` (its joins reach tables whose changes the cache does not follow).
   * @default undefined (every request asks the database)
   */
  cache?: RowCache<Record<string, unknown>>
  /**
   * Keep the bytes of small files (by their SHA-256) in this ContentCache
   * (`typeorm-downloadview/cache`): a repeated download of one makes no storage call. Files whose
   * row states no checksum, and larger ones, are read from the storage as usual.
   * @default undefined (every download reads the storage)
   */
  contentCache?: ContentCache
}

const OWN_OPTIONS = [
  ...VIEW_OPTIONS,
  ...['dataSource', 'entity', 'lookup', 'file', 'basename', 'select', 'prepare', 'withDeleted'],
  ...['where', 'authorize', 'query', 'cache', 'contentCache'],
]

/** ObjectDownloadView's options, checked, with their defaults. */
export interface ObjectViewSettings<E extends ObjectLiteral> extends LookupOptions {
  fileColumn: FileColumnMetadata
  where: ObjectDownloadViewOptions<E>['where']
  authorize: ObjectDownloadViewOptions<E>['authorize']
  query: ObjectDownloadViewOptions<E>['query']
  cache: RowCache<Record<string, unknown>> | undefined
  contentCache: ContentCache | undefined
}

/**
 * Checks the options of an ObjectDownloadView (the ones every view takes are the base class's):
 * throws a ConfigurationError that names the first bad or unknown one.
 */
export function resolveObjectViewOptions<E extends ObjectLiteral>(
  options: ObjectDownloadViewOptions<E>,
  owner: string,
): ObjectViewSettings<E> {
  rejectUnknownViewOptions(options, OWN_OPTIONS, owner)
  const lookup = resolveLookupOptions(options, owner)
  if (options.authorize !== undefined && typeof options.authorize !== 'function')
    throw new ConfigurationError(`${owner}: option "authorize" must be a function of the request and the row`)
  let fileColumn: FileColumnMetadata
  try {
    fileColumn = getFileColumn(lookup.entity, options.file)
  } catch {
    throw new ConfigurationError(
      `${owner}: option "file" names "${String(options.file)}", which is not a @FileColumn() of ${lookup.entity.name}`,
    )
  }
  const { cache } = options
  if (cache !== undefined) {
    if (!(cache instanceof RowCache))
      throw new ConfigurationError(`${owner}: option "cache" must be a RowCache (typeorm-downloadview/cache)`)
    if (options.query !== undefined)
      throw new ConfigurationError(
        `${owner}: option "cache" cannot be used with option "query", whose joins reach rows the cache does not follow`,
      )
    if (cache.dataSource !== undefined && cache.dataSource !== lookup.dataSource)
      throw new ConfigurationError(
        `${owner}: option "cache" is kept by the ChangeListener of another DataSource, whose changes are not this one's`,
      )
  }
  const { contentCache } = options
  if (contentCache !== undefined && !(contentCache instanceof ContentCache))
    throw new ConfigurationError(
      `${owner}: option "contentCache" must be a ContentCache (typeorm-downloadview/cache)`,
    )
  return {
    ...lookup,
    contentCache,
    fileColumn,
    where: options.where,
    authorize: options.authorize,
    query: options.query,
    cache,
  }
}
