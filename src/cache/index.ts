/**
 * @module typeorm-downloadview/cache: ObjectDownloadView's row cache, which every instance keeps
 * true through Postgres LISTEN/NOTIFY. `pg` (a peer already) is loaded when a listener connects.
 *
 * @example
 * const rows = new RowCache()
 * const changes = new ChangeListener({ dataSource, caches: [rows] })
 * await changes.start()
 * app.all('/documents/:slug/download', toHandler(new ObjectDownloadView({ dataSource, entity: Document, lookup: 'slug', file: 'file', cache: rows })))
 * // at shutdown
 * await changes.close()
 */

export { ChangeListener, type ChangeListenerOptions } from './change-listener'
export { ContentCache, type ContentCacheOptions, type ContentCacheStats } from './content-cache'
export { type NotifyOptions, notifyChange } from './notify'
export { RowCache, type RowCacheOptions, type RowCacheStats } from './row-cache'
export { type ChangeTriggerOptions, dropChangeTrigger, installChangeTrigger } from './trigger'
