/**
 * @module The save hook of file columns: fills size, modification time, content type, SHA-256 and
 * CRC-32 (and an image column's width, height, format and alpha) from the storage when a row is inserted
 * or its path changes, and refuses rows whose file is missing or, for image columns, not an image.
 * It also keeps empty columns `null` (see empty-column.ts) and runs the file lifecycle (see
 * file-lifecycle.ts): replaced and removed files are deleted after commit.
 */
import { lookup } from 'mime-types'
import {
  type EntityMetadata,
  type EntitySubscriberInterface,
  EventSubscriber,
  type InsertEvent,
  type LoadEvent,
  type ObjectLiteral,
  type QueryRunner,
  type RecoverEvent,
  type RemoveEvent,
  type SoftRemoveEvent,
  type TransactionCommitEvent,
  type TransactionRollbackEvent,
  type TransactionStartEvent,
  type UpdateEvent,
} from 'typeorm'
import { type NotifyOptions, notifyEntityChange } from '../cache/notify'
import { BadPathError, FileColumnError, FileNotFoundError, UnsafePathError } from '../errors'
import { basename } from '../files/storage-file'
import { type Logger, stderrLogger } from '../logger'
import { storages } from '../storage/registry'
import { checksumsOf } from './checksum'
import type { ProbedContent } from './content-probe'
import { clearFileColumnsOnNull, nullEmptyFileColumns } from './empty-column'
import { type FileColumnMetadata, getFileColumns } from './file-column'
import {
  fileAttached,
  fileReleased,
  transactionCommitted,
  transactionRolledBack,
  transactionStarted,
} from './file-lifecycle'
import { hasFile, type StoredFile } from './stored-file'
import type { StoredImage } from './stored-image'
import { freshKey, isVerified } from './verified'

/**
 * Add to the DataSource's `subscribers` to have file column metadata filled in on save.
 * A row whose file does not exist, or whose image column holds a file that sharp cannot read, is
 * refused with a FileColumnError, inside the transaction, so nothing is written.
 *
 * It also makes an empty file column `null` when a row is loaded (and after a save), clears every
 * column of a file set to `null`, and deletes files that saves replaced and `remove()` took away
 * once the transaction commits (`onReplace`, `onRemove`), unless another row still points at them.
 * A file that attachFile() wrote for a save that rolls back is deleted then.
 *
 * @example
 * new DataSource({ ..., subscribers: [FileColumnSubscriber] })
 */
@EventSubscriber()
export class FileColumnSubscriber implements EntitySubscriberInterface {
  /**
   * Where deletions that failed after a commit are reported (a storage that refused, a database
   * that could not say whether another row still points at the file): the save has succeeded, so
   * its caller gets no error, and `cleanup --orphans` finds the file later. TypeORM makes the
   * subscriber itself, so this is set on the class, once, at startup.
   * @default stderrLogger
   * @example FileColumnSubscriber.logger = { error: (message, error) => log.error({ err: error }, message) }
   */
  static logger: Logger = stderrLogger

  /**
   * Whether (and on which channel) saves and removes of entities with file columns notify the
   * ChangeListeners of every instance (`typeorm-downloadview/cache`), in the save's transaction, so
   * that their RowCaches drop the row when it commits. One `SELECT pg_notify()` per row saved, on
   * Postgres only. Keep it on in every instance, those without a cache included: a write that
   * notifies nobody is served stale by the others until their cache's TTL. TypeORM makes the
   * subscriber itself, so this is set on the class, once, at startup.
   * @default {} (on, on the default channel)
   */
  static changes: NotifyOptions | false = {}

  afterLoad(entity: ObjectLiteral, event?: LoadEvent<ObjectLiteral>): void {
    if (event?.metadata) clearFileColumnsOnNull(event.metadata)
    nullEmptyFileColumns(entity, entityClass(entity, event?.metadata))
  }

  async beforeInsert(event: InsertEvent<ObjectLiteral>): Promise<void> {
    const target = entityClass(event.entity, event.metadata)
    attachedFiles(event.queryRunner, event.entity, target)
    await fillFileColumns(event.entity, undefined, target)
  }

  async afterInsert(event: InsertEvent<ObjectLiteral>): Promise<void> {
    const target = entityClass(event.entity, event.metadata)
    nullEmptyFileColumns(event.entity, target)
    await announced(event.queryRunner, event.metadata, target, event.entity, 'i')
  }

  async beforeUpdate(event: UpdateEvent<ObjectLiteral>): Promise<void> {
    if (event.metadata) clearFileColumnsOnNull(event.metadata)
    const target = entityClass(event.entity, event.metadata)
    attachedFiles(event.queryRunner, event.entity, target)
    if (event.entity) await fillFileColumns(event.entity, event.databaseEntity, target)
  }

  async afterUpdate(event: UpdateEvent<ObjectLiteral>): Promise<void> {
    const target = entityClass(event.entity, event.metadata)
    const before = event.databaseEntity
    if (target && before) {
      const updated = new Set((event.updatedColumns ?? []).map((column) => column.propertyPath))
      for (const column of getFileColumns(target)) {
        // The path column was written: the row points at another file now, or at none.
        if (column.onReplace !== 'keep' && updated.has(`${column.propertyName}.path`))
          await released(event.queryRunner, before, target, column)
      }
    }
    nullEmptyFileColumns(event.entity, target)
    // The row as stored names the id the caches hold, also when the save changed the key.
    await announced(event.queryRunner, event.metadata, target, before ?? event.entity, 'u')
  }

  async afterRemove(event: RemoveEvent<ObjectLiteral>): Promise<void> {
    // The row as it was stored, loaded by the remove; the entity given, if it was not.
    const row = event.databaseEntity ?? event.entity
    const target = entityClass(row, event.metadata)
    if (!row || !target) return
    for (const column of getFileColumns(target)) {
      if (column.onRemove !== 'keep') await released(event.queryRunner, row, target, column)
    }
    await announced(event.queryRunner, event.metadata, target, row, 'd')
  }

  async afterSoftRemove(event: SoftRemoveEvent<ObjectLiteral>): Promise<void> {
    // A soft-removed row keeps its file, so that recover() finds it again.
    const target = entityClass(event.entity, event.metadata)
    nullEmptyFileColumns(event.entity, target)
    await announced(event.queryRunner, event.metadata, target, event.databaseEntity ?? event.entity, 'u')
  }

  async afterRecover(event: RecoverEvent<ObjectLiteral>): Promise<void> {
    const target = entityClass(event.entity, event.metadata)
    await announced(event.queryRunner, event.metadata, target, event.databaseEntity ?? event.entity, 'u')
  }

  afterTransactionStart(event: TransactionStartEvent): void {
    transactionStarted(event.queryRunner)
  }

  async afterTransactionCommit(event: TransactionCommitEvent): Promise<void> {
    await transactionCommitted(event.queryRunner, FileColumnSubscriber.logger)
  }

  async afterTransactionRollback(event: TransactionRollbackEvent): Promise<void> {
    await transactionRolledBack(event.queryRunner, FileColumnSubscriber.logger)
  }
}

/**
 * Tells every instance's ChangeListener that a row of an entity with file columns changed (see
 * `FileColumnSubscriber.changes`): in the event's transaction, so on commit only. Without the
 * row's key (a write by criteria), the whole table.
 */
async function announced(
  queryRunner: QueryRunner | undefined,
  metadata: EntityMetadata | undefined,
  target: Function | undefined,
  row: ObjectLiteral | undefined,
  op: 'i' | 'u' | 'd',
): Promise<void> {
  const options = FileColumnSubscriber.changes
  if (options === false || !queryRunner || !metadata || !target) return
  if (queryRunner.connection.options.type !== 'postgres' || getFileColumns(target).length === 0) return
  await notifyEntityChange(queryRunner, metadata, row, op, options)
}

/**
 * The entity class of an event: the entity's own class when it is one of the metadata's (a child
 * entity loaded through its parent), else the metadata's target, so that a plain object saved
 * through a repository (`save({ id, file: null })`) counts as the entity it stands for.
 */
function entityClass(
  entity: ObjectLiteral | undefined,
  metadata: { target: Function | string } | undefined,
): Function | undefined {
  const target = metadata?.target
  if (typeof target !== 'function') return entity?.constructor
  return entity instanceof target ? entity.constructor : target
}

/** Reports each fresh key of attachFile() that `entity` is about to be saved with. */
function attachedFiles(
  queryRunner: QueryRunner | undefined,
  entity: ObjectLiteral | undefined,
  target: Function | undefined,
): void {
  if (!entity || !target) return
  for (const column of getFileColumns(target)) {
    const value = entity[column.propertyName] as StoredFile | null | undefined
    const key = value ? freshKey(value) : undefined
    if (value && key !== undefined) {
      const where = `${target.name}.${column.propertyName}`
      fileAttached(queryRunner, { storage: column.storage, key, where, value })
    }
  }
}

/** Reports the file that `row` (as it was stored) held in `column` as no longer needed by it. */
async function released(
  queryRunner: QueryRunner | undefined,
  row: ObjectLiteral,
  target: Function,
  column: FileColumnMetadata,
): Promise<void> {
  const value = row[column.propertyName] as StoredFile | null | undefined
  if (!hasFile(value)) return
  const where = `${target.name}.${column.propertyName}`
  await fileReleased(
    queryRunner,
    { storage: column.storage, key: value.path, where },
    FileColumnSubscriber.logger,
  )
}

/**
 * Fills the metadata of every file column of `entity` whose path is new (compared with `previous`,
 * the row as stored) or whose metadata is incomplete. `target` is the entity class, for a plain
 * object. Exported for backfills and tests.
 */
export async function fillFileColumns(
  entity: ObjectLiteral | undefined,
  previous: ObjectLiteral | undefined,
  target: Function | undefined = entity?.constructor,
): Promise<void> {
  if (!entity || !target) return
  for (const column of getFileColumns(target)) {
    const value = entity[column.propertyName] as StoredFile | null | undefined
    if (!hasFile(value)) continue
    const before = previous?.[column.propertyName] as StoredFile | null | undefined
    const pathChanged = !hasFile(before) || before.path !== value.path
    if (isVerified(value)) continue
    if (!pathChanged && isComplete(column, value)) continue
    await describe(target, column, value, pathChanged ? before : undefined)
  }
}

/** Whether every metadata field is set: the file fields, and an image column's image fields. */
function isComplete(column: FileColumnMetadata, value: StoredFile): boolean {
  const fileComplete =
    value.size != null &&
    value.modifiedAt != null &&
    value.sha256 != null &&
    value.crc32 != null &&
    Boolean(value.contentType)
  if (!fileComplete || !column.image) return fileComplete
  const image = value as Partial<StoredImage>
  return (
    image.width != null &&
    image.height != null &&
    image.format != null &&
    image.hasAlpha != null &&
    image.thumbhash != null
  )
}

async function describe(
  target: Function,
  column: FileColumnMetadata,
  value: StoredFile & { path: string },
  replaced: StoredFile | null | undefined,
): Promise<void> {
  const storage = storages.get(column.storage)
  const where = `${target.name}.${column.propertyName}`
  // An image column reads the image metadata from the bytes being hashed: one read of the file.
  const probe = column.probe?.start()
  try {
    const stat = await storage.stat(value.path)
    value.size = stat.size
    value.modifiedAt = stat.modifiedAt
    const sums = await checksumsOf(await storage.open(value.path), probe && ((chunk) => probe.write(chunk)))
    value.sha256 = sums.sha256
    value.crc32 = sums.crc32
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
