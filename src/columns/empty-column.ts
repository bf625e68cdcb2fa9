/**
 * @module An empty file column is `null`: a row without a file loads with `null` in the property
 * (not a StoredFile whose path is null), and assigning `null` then saving clears every column of
 * the file. TypeORM itself maps an embedded to an object always, and skips a `null` embedded on
 * save; the save hook's subscriber bridges both ways with the two functions here.
 */
import type { EntityMetadata, ObjectLiteral } from 'typeorm'
import { getFileColumns } from './file-column'
import { hasFile } from './stored-file'

/**
 * Sets each file column of `entity` (an instance of `target`) that holds no file (its path is `null` or empty) to `null`.
 * A property that was not loaded (`undefined`) stays so. Called after a row is loaded or saved.
 *
 * A query that selects some fields of a file column but not its path loads `null` too: select the
 * path along with them.
 */
export function nullEmptyFileColumns(
  entity: ObjectLiteral | undefined,
  target: Function | undefined = entity?.constructor,
): void {
  if (!entity || typeof entity !== 'object' || !target) return
  for (const column of getFileColumns(target)) {
    const value = entity[column.propertyName]
    if (value !== undefined && value !== null && !hasFile(value)) entity[column.propertyName] = null
  }
}

const prepared = new WeakSet<EntityMetadata>()
const clearing = new WeakSet<EntityMetadata['columns'][number]>()

/**
 * Makes a `null` file column of `metadata`'s entities read as NULL in each of its database columns,
 * so that `doc.file = null; save(doc)` writes NULL into the path, name, size, type, time, checksum
 * (and an image column's fields). TypeORM reads a column inside a `null` embedded as `undefined`,
 * which it takes for "not loaded, leave alone": the clear would be lost without a word.
 *
 * TypeORM has no option for it, so this wraps `getEntityValue` of those ColumnMetadata objects of
 * this DataSource (never TypeORM's classes): only a property that is exactly `null` reads
 * differently. The subscriber calls it when a row of the entity is loaded, which a save always does
 * before it compares the entity with its row (`databaseEntity`), so the first save already clears.
 */
export function clearFileColumnsOnNull(metadata: EntityMetadata): void {
  // Once per entity metadata: it runs for every row loaded.
  if (prepared.has(metadata) || typeof metadata.target !== 'function') return
  prepared.add(metadata)
  for (const { propertyName } of getFileColumns(metadata.target)) {
    for (const column of metadata.columns) {
      const embedded = column.embeddedMetadata
      // Only the columns of the file column's own embedded, declared on the entity itself.
      if (embedded?.propertyName !== propertyName || embedded.parentEmbeddedMetadata) continue
      if (clearing.has(column)) continue
      clearing.add(column)
      const read = column.getEntityValue.bind(column)
      column.getEntityValue = (entity: ObjectLiteral, transform?: boolean) =>
        entity !== null && typeof entity === 'object' && entity[propertyName] === null
          ? null
          : read(entity, transform)
    }
  }
}
