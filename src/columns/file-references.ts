/**
 * @module Reference check: whether some row still points at a key, asked of the database right
 * before the file lifecycle deletes a file, so two rows that share a key never lose a file that
 * one of them still needs.
 */
import type { DataSource, EntityManager } from 'typeorm'
import { getFileColumns } from './file-column'

/**
 * Whether a row of any entity of `dataSource` still points at `key` through a file column whose
 * storage is `storage`. Every row counts, soft-deleted ones too (`@DeleteDateColumn()`): a row can
 * be recovered, and its file with it. One `SELECT 1 … LIMIT 1` per such column until one answers.
 *
 * Asked through `manager` (the transaction's own connection, once it has committed), so that a
 * full pool cannot make it wait for itself. It is a check, not a lock: a row that another
 * transaction saves with that key while the file is being deleted loses it (`check` reports it).
 */
export async function isKeyReferenced(
  dataSource: DataSource,
  manager: EntityManager,
  storage: string,
  key: string,
): Promise<boolean> {
  const { driver } = dataSource
  for (const metadata of dataSource.entityMetadatas) {
    if (typeof metadata.target !== 'function') continue
    for (const column of getFileColumns(metadata.target)) {
      if (column.storage !== storage) continue
      const path = metadata.findColumnWithPropertyPath(`${column.propertyName}.path`)
      if (!path) continue
      const found = await manager
        .createQueryBuilder(metadata.target, 'entity')
        .withDeleted()
        .select('1', 'one')
        .where(`${driver.escape('entity')}.${driver.escape(path.databaseName)} = :key`, { key })
        .limit(1)
        .getRawOne()
      if (found) return true
    }
  }
  return false
}
