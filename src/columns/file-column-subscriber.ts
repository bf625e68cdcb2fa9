/**
 * @module The save hook of file columns: fills size, modification time, content type and SHA-256
 * (and an image column's width, height, format and alpha) from the storage when a row is inserted
 * or its path changes, and refuses rows whose file is missing or, for image columns, not an image.
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
import type { ProbedContent } from './content-probe'
import { type FileColumnMetadata, getFileColumns } from './file-column'
import { hasFile, type StoredFile } from './stored-file'
import type { StoredImage } from './stored-image'
import { isVerified } from './verified'

/**
 * Add to the DataSource's `subscribers` to have file column metadata filled in on save.
 * A row whose file does not exist, or whose image column holds a file that sharp cannot read, is
 * refused with a FileColumnError, inside the transaction, so nothing is written.
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
    if (!pathChanged && isComplete(column, value)) continue
    await describe(entity, column, value, pathChanged ? before : undefined)
  }
}

/** Whether every metadata field is set: the file fields, and an image column's image fields. */
function isComplete(column: FileColumnMetadata, value: StoredFile): boolean {
  const fileComplete =
    value.size != null && value.modifiedAt != null && value.sha256 != null && Boolean(value.contentType)
  if (!fileComplete || !column.image) return fileComplete
  const image = value as Partial<StoredImage>
  return image.width != null && image.height != null && image.format != null && image.hasAlpha != null
}

async function describe(
  entity: ObjectLiteral,
  column: FileColumnMetadata,
  value: StoredFile & { path: string },
  replaced: StoredFile | null | undefined,
): Promise<void> {
  const storage = storages.get(column.storage)
  const where = `${entity.constructor.name}.${column.propertyName}`
  // An image column reads the image metadata from the bytes being hashed: one read of the file.
  const probe = column.probe?.start()
  try {
    const stat = await storage.stat(value.path)
    value.size = stat.size
    value.modifiedAt = stat.modifiedAt
    value.sha256 = await sha256Of(await storage.open(value.path), probe && ((chunk) => probe.write(chunk)))
  } catch (error) {
    probe?.abort()
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
  let probed: ProbedContent | undefined
  if (probe) {
    try {
      probed = await probe.end()
    } catch (error) {
      throw column.probe?.refuse(where, value.path, error) ?? error
    }
    Object.assign(value, probed.fields)
  }
  // A name or type carried over from the replaced file described that file, not this one.
  if (!value.name || (replaced && value.name === replaced.name)) value.name = basename(value.path)
  // An image's type comes from its bytes: a name (or a caller) cannot make a PNG pass for HTML.
  if (probed?.contentType) {
    value.contentType = probed.contentType
    return
  }
  const explicitType = value.contentType && !(replaced && value.contentType === replaced.contentType)
  if (!explicitType) value.contentType = lookup(value.name) || 'application/octet-stream'
}
