/**
 * @module The save hook of file columns: fills size, modification time, content type and SHA-256
 * from the storage when a row is inserted or its path changes, and refuses rows whose file is missing.
 */
import { lookup } from 'mime-types'
import {
  type EntitySubscriberInterface,
  EventSubscriber,
  type InsertEvent,
  type ObjectLiteral,
  type UpdateEvent,
} from 'typeorm'
import { BadPathError, FileColumnError, FileNotFoundError, UnsafePathError } from '../errors'
import { basename } from '../files/storage-file'
import { storages } from '../storage/registry'
import { sha256Of } from './checksum'
import { type FileColumnMetadata, getFileColumns } from './file-column'
import { hasFile, type StoredFile } from './stored-file'
import { isVerified } from './verified'

/**
 * Add to the DataSource's `subscribers` to have file column metadata filled in on save.
 * A row whose file does not exist is refused with a FileColumnError, inside the transaction, so
 * nothing is written.
 *
 * @example
 * new DataSource({ ..., subscribers: [FileColumnSubscriber] })
 */
@EventSubscriber()
export class FileColumnSubscriber implements EntitySubscriberInterface {
  async beforeInsert(event: InsertEvent<ObjectLiteral>): Promise<void> {
    await fillFileColumns(event.entity, undefined)
  }

  async beforeUpdate(event: UpdateEvent<ObjectLiteral>): Promise<void> {
    if (event.entity) await fillFileColumns(event.entity, event.databaseEntity)
  }
}

/**
 * Fills the metadata of every file column of `entity` whose path is new (compared with `previous`,
 * the row as stored) or whose metadata is incomplete. Exported for backfills and tests.
 */
export async function fillFileColumns(
  entity: ObjectLiteral | undefined,
  previous: ObjectLiteral | undefined,
): Promise<void> {
  if (!entity) return
  for (const column of getFileColumns(entity.constructor)) {
    const value = entity[column.propertyName] as StoredFile | null | undefined
    if (!hasFile(value)) continue
    const before = previous?.[column.propertyName] as StoredFile | null | undefined
    const pathChanged = !hasFile(before) || before.path !== value.path
    if (isVerified(value)) continue
    if (
      !pathChanged &&
      value.size != null &&
      value.modifiedAt != null &&
      value.sha256 != null &&
      value.contentType
    )
      continue
    await describe(entity, column, value, pathChanged ? before : undefined)
  }
}

async function describe(
  entity: ObjectLiteral,
  column: FileColumnMetadata,
  value: StoredFile & { path: string },
  replaced: StoredFile | null | undefined,
): Promise<void> {
  const storage = storages.get(column.storage)
  const where = `${entity.constructor.name}.${column.propertyName}`
  try {
    const stat = await storage.stat(value.path)
    value.size = stat.size
    value.modifiedAt = stat.modifiedAt
    value.sha256 = await sha256Of(await storage.open(value.path))
  } catch (error) {
    if (error instanceof FileNotFoundError) {
      throw new FileColumnError(
        `Cannot save ${where}: there is no file at "${value.path}" in ${storage.name}`,
        { cause: error },
      )
    }
    if (error instanceof UnsafePathError || error instanceof BadPathError) {
      throw new FileColumnError(
        `Cannot save ${where}: "${value.path}" is not a safe key in ${storage.name}`,
        {
          cause: error,
        },
      )
    }
    throw error
  }
  // A name or type carried over from the replaced file described that file, not this one.
  if (!value.name || (replaced && value.name === replaced.name)) value.name = basename(value.path)
  const explicitType = value.contentType && !(replaced && value.contentType === replaced.contentType)
  if (!explicitType) value.contentType = lookup(value.name) || 'application/octet-stream'
}
