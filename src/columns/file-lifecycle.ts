/**
 * @module The file lifecycle: files that saves replaced or removes took away are deleted from their
 * storage once the transaction commits, never before, and files that attachFile() wrote for a save
 * that rolled back are deleted then. The subscriber reports what happened; this module keeps it per
 * QueryRunner and per transaction level (savepoints nest), and acts when the outermost one ends.
 *
 * Only what TypeORM reports to subscribers is seen: entity saves and removes (`save()`,
 * `remove()`, cascades). `Repository.delete()`, `update()`, query-builder writes, raw SQL and
 * `ON DELETE CASCADE` report nothing, so their files stay until `cleanup --orphans` finds them (as
 * ActiveStorage purges only through the model).
 */
import type { DataSource, QueryRunner } from 'typeorm'
import type { Logger } from '../logger'
import { storages } from '../storage/registry'
import { isKeyReferenced } from './file-references'
import type { StoredFile } from './stored-file'
import { forget, settle } from './verified'

/** A file the lifecycle may delete: its storage, its key, and what it belonged to (for messages). */
export interface FileCandidate {
  /** The name of the storage in the `storages` registry. */
  storage: string
  /** The key of the file in that storage. */
  key: string
  /** `Entity.property`. */
  where: string
  /** The value attachFile() made for a fresh key, so a commit settles it and a delete forgets it. */
  value?: StoredFile
}

/** What one transaction level saw: files to delete on commit, and fresh files to delete on rollback. */
interface Level {
  removed: Map<string, FileCandidate>
  attached: Map<string, FileCandidate>
}

const levels = new WeakMap<QueryRunner, Level[]>()

/** A transaction (or a savepoint inside one) started on `queryRunner`. */
export function transactionStarted(queryRunner: QueryRunner): void {
  const stack = levels.get(queryRunner)
  // A new outermost transaction: drop what one that never ended (a lost connection) left behind.
  if (!stack || depthOf(queryRunner) === 1) levels.set(queryRunner, [newLevel()])
  else stack.push(newLevel())
}

/**
 * A save or remove on `queryRunner` took `file` away from its row: delete it when the transaction
 * commits. Outside a transaction (`save(entity, { transaction: false })`) the change is already
 * durable, so the file is deleted now.
 */
export async function fileReleased(
  queryRunner: QueryRunner | undefined,
  file: FileCandidate,
  logger: Logger,
): Promise<void> {
  if (!queryRunner) return
  const level = currentLevel(queryRunner)
  if (level) level.removed.set(identity(file), file)
  else await deleteUnreferenced(queryRunner, [file], 'was replaced or removed', logger)
}

/**
 * A save on `queryRunner` is about to write a row that points at a fresh key of attachFile(): if
 * the transaction rolls back, no row points at it, so it is deleted then. Outside a transaction
 * there is no rollback to wait for.
 */
export function fileAttached(queryRunner: QueryRunner | undefined, file: FileCandidate): void {
  if (!queryRunner) return
  currentLevel(queryRunner)?.attached.set(identity(file), file)
}

/** The transaction level on `queryRunner` committed: the outermost one deletes what was released. */
export async function transactionCommitted(queryRunner: QueryRunner, logger: Logger): Promise<void> {
  const level = endLevel(queryRunner)
  if (!level) return
  const parent = currentLevel(queryRunner)
  if (parent) {
    // A savepoint was released: its changes now stand or fall with the enclosing transaction.
    for (const [id, file] of level.removed) parent.removed.set(id, file)
    for (const [id, file] of level.attached) parent.attached.set(id, file)
    return
  }
  for (const file of level.attached.values()) if (file.value) settle(file.value)
  await deleteUnreferenced(queryRunner, [...level.removed.values()], 'was replaced or removed', logger)
}

/**
 * The transaction level on `queryRunner` rolled back: what it released stays, and the fresh files
 * it attached are deleted (the outermost level now; a savepoint's once the enclosing transaction
 * ends, whichever way, since a row of that transaction may point at them too).
 */
export async function transactionRolledBack(queryRunner: QueryRunner, logger: Logger): Promise<void> {
  const level = endLevel(queryRunner)
  if (!level) return
  const parent = currentLevel(queryRunner)
  if (parent) {
    for (const [id, file] of level.attached) {
      parent.attached.set(id, file)
      parent.removed.set(id, file)
    }
    return
  }
  await deleteUnreferenced(
    queryRunner,
    [...level.attached.values()],
    'was attached for a save that rolled back',
    logger,
  )
}

/**
 * Deletes each file that no row points at any more (see isKeyReferenced). A file that cannot be
 * checked or deleted is logged and left for `cleanup --orphans`: the save that released it has
 * committed, so its caller gets no error.
 */
async function deleteUnreferenced(
  queryRunner: QueryRunner,
  files: FileCandidate[],
  reason: string,
  logger: Logger,
): Promise<void> {
  if (files.length === 0) return
  const dataSource = dataSourceOf(queryRunner)
  for (const file of files) {
    const what = `the file "${file.key}" of ${file.where} (storage "${file.storage}")`
    try {
      if (await isKeyReferenced(dataSource, queryRunner.manager, file.storage, file.key)) continue
    } catch (error) {
      logger.error(`Kept ${what}, which ${reason}: could not check whether a row still points at it`, error)
      continue
    }
    if (file.value) forget(file.value)
    try {
      await storages.get(file.storage).delete(file.key)
    } catch (error) {
      logger.error(`Could not delete ${what}, which ${reason}; \`cleanup --orphans\` will find it`, error)
    }
  }
}

function newLevel(): Level {
  return { removed: new Map(), attached: new Map() }
}

/** The innermost open level, created when a transaction is active that started before we watched. */
function currentLevel(queryRunner: QueryRunner): Level | undefined {
  if (!queryRunner.isTransactionActive) return undefined
  let stack = levels.get(queryRunner)
  if (!stack || stack.length === 0) {
    stack = [newLevel()]
    levels.set(queryRunner, stack)
  }
  return stack[stack.length - 1]
}

/** Takes the innermost level off the stack; the stack goes once the outermost level has ended. */
function endLevel(queryRunner: QueryRunner): Level | undefined {
  const stack = levels.get(queryRunner)
  const level = stack?.pop()
  if (stack && (stack.length === 0 || !queryRunner.isTransactionActive)) {
    levels.delete(queryRunner)
    // A stack longer than the transactions still open (a lost level) is not trusted further.
    if (stack.length > 0 && level) return mergeLost(level, stack)
  }
  return level
}

/** Folds levels that never ended into `level`, so the outermost end sees everything. */
function mergeLost(level: Level, lost: Level[]): Level {
  for (const other of lost) {
    for (const [id, file] of other.removed) level.removed.set(id, file)
    for (const [id, file] of other.attached) level.attached.set(id, file)
  }
  return level
}

function identity(file: FileCandidate): string {
  return `${file.storage}\u0000${file.key}`
}

/** `transactionDepth` of TypeORM's query runners: 1 inside an outermost transaction. */
function depthOf(queryRunner: QueryRunner): number | undefined {
  const depth = (queryRunner as unknown as { transactionDepth?: unknown }).transactionDepth
  return typeof depth === 'number' ? depth : undefined
}

/** typeorm 1.x names it `queryRunner.dataSource`; 0.3 only `queryRunner.connection`. */
function dataSourceOf(queryRunner: QueryRunner): DataSource {
  return (queryRunner as { dataSource?: DataSource }).dataSource ?? queryRunner.connection
}
