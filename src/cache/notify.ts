/**
 * @module notifyChange(): tell every instance's ChangeListener that a row changed, from inside the
 * transaction that changes it. `pg_notify` is transactional: Postgres delivers the notification
 * when the transaction commits, and never if it rolls back, so no instance drops an entry for a
 * change that did not happen, nor keeps one past a change that did.
 */
import type { DataSource, EntityMetadata, ObjectLiteral } from 'typeorm'
import { type ChangeOp, changePayload, checkChannel, DEFAULT_CHANNEL } from './change-payload'
import { changeTableOf, entityRowId } from './row-ref'

/** What runs SQL in the caller's transaction: a QueryRunner (a subscriber's `event.queryRunner`) or an EntityManager. */
export interface SqlRunner {
  query(sql: string, parameters?: unknown[]): Promise<unknown>
}

/** Where a change is notified. */
export interface NotifyOptions {
  /**
   * The channel the ChangeListeners listen on.
   * @default 'typeorm_downloadview_changes'
   */
  channel?: string
}

/**
 * Notifies that row `id` of `table` changed (`op`), or, with `id` undefined, any row of `table`,
 * through `runner`: within its transaction if it has one (delivered on commit), else at once.
 *
 * @example
 * await dataSource.transaction(async (manager) => {
 *   await manager.update(Document, 7, { title: 'New' })
 *   await notifyChange(manager, 'public.document', '7', 'u')
 * })
 */
export async function notifyChange(
  runner: SqlRunner,
  table: string,
  id: string | undefined,
  op: ChangeOp,
  options: NotifyOptions = {},
): Promise<void> {
  const channel = checkChannel(options.channel ?? DEFAULT_CHANNEL, 'notifyChange')
  await runner.query('SELECT pg_notify($1, $2)', [channel, changePayload({ table, id, op })])
}

/**
 * notifyChange() for an entity: its table from `metadata`, its id from `entity`'s primary key; the
 * whole table when `entity` is missing or its key is (an update or delete by criteria, whose
 * subscriber event carries no entity). `runner` must belong to an initialized DataSource.
 *
 * @example
 * // in a subscriber
 * async afterUpdate(event: UpdateEvent<ObjectLiteral>) {
 *   await notifyEntityChange(event.queryRunner, event.metadata, event.entity ?? event.databaseEntity, 'u')
 * }
 */
export async function notifyEntityChange(
  runner: SqlRunner & ({ dataSource: DataSource } | { connection: DataSource }),
  metadata: EntityMetadata,
  entity: ObjectLiteral | undefined,
  op: ChangeOp,
  options: NotifyOptions = {},
): Promise<void> {
  // typeorm 1.x names it `dataSource`; 0.3 only `connection`.
  const dataSource =
    'dataSource' in runner && runner.dataSource
      ? runner.dataSource
      : (runner as { connection: DataSource }).connection
  const id = entity ? entityRowId(metadata, entity) : undefined
  await notifyChange(runner, changeTableOf(dataSource, metadata), id, op, options)
}
