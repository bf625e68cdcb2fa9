/**
 * @module The change trigger, for migrations: every INSERT, UPDATE, DELETE and TRUNCATE of a table
 * notifies the ChangeListeners, whoever makes it (raw SQL, another app, `psql`), with the payload
 * notifyChange() sends (change-payload.ts) and the row id rowId() writes (row-ref.ts).
 */
import type { DataSource, EntityMetadata, EntityTarget, ObjectLiteral, QueryRunner } from 'typeorm'
import { ConfigurationError } from '../errors'
import { rejectUnknownOptions } from '../options'
import { changePayloadSql, checkChannel, DEFAULT_CHANNEL } from './change-payload'
import { qualifiedName, quoteIdentifier, quoteLiteral } from './pg-quote'
import { isKeyType, keyColumnsProblem, rowIdPartSql } from './row-ref'

/** Where the trigger notifies. */
export interface ChangeTriggerOptions {
  /**
   * The channel to notify: the one the ChangeListeners listen on.
   * @default 'typeorm_downloadview_changes'
   */
  channel?: string
}

/** The trigger function, one per schema, shared by the tables' triggers (the channel and key columns are its arguments). */
export const CHANGE_FUNCTION = 'typeorm_downloadview_notify'
/** The row trigger on each table. */
export const CHANGE_TRIGGER = 'typeorm_downloadview_changes'
/** The statement trigger on each table, for TRUNCATE. */
export const TRUNCATE_TRIGGER = 'typeorm_downloadview_truncate'

/** A table and its primary key columns, resolved from an entity or from the catalog. */
interface TriggerTarget {
  /** The schema, or `undefined` for the search path's (as TypeORM's own migrations write it). */
  schema: string | undefined
  table: string
  keys: string[]
}

/**
 * Creates (or replaces) the trigger that notifies every change of `entityOrTable`'s rows: AFTER
 * INSERT OR UPDATE OR DELETE FOR EACH ROW (an update that changes the primary key names both ids;
 * one that changes nothing notifies nothing), and AFTER TRUNCATE (the whole table). Idempotent.
 * Needs Postgres 11 or later.
 *
 * `entityOrTable` is an entity (its table and primary key from TypeORM's metadata), or a table
 * name, `table` or `schema.table`, whose primary key is read from the catalog. The key columns must
 * be integers, strings or uuids; a composite key is joined as rowId() joins it. Anything else is a
 * ConfigurationError.
 *
 * @example
 * export class DocumentChanges1765000000000 implements MigrationInterface {
 *   up = (queryRunner: QueryRunner) => installChangeTrigger(queryRunner, Document)
 *   down = (queryRunner: QueryRunner) => dropChangeTrigger(queryRunner, Document)
 * }
 */
export async function installChangeTrigger(
  queryRunner: QueryRunner,
  entityOrTable: EntityTarget<ObjectLiteral>,
  options: ChangeTriggerOptions = {},
): Promise<void> {
  const owner = 'installChangeTrigger'
  rejectUnknownOptions(options, ['channel'], owner)
  const channel = checkChannel(options.channel ?? DEFAULT_CHANNEL, owner)
  const target = await resolveTarget(queryRunner, entityOrTable, owner)
  const table = qualifiedName(target.schema, target.table)
  const fn = qualifiedName(target.schema, CHANGE_FUNCTION)
  const args = [channel, ...target.keys].map(quoteLiteral).join(', ')
  await queryRunner.query(changeFunctionSql(fn))
  await queryRunner.query(`DROP TRIGGER IF EXISTS ${quoteIdentifier(CHANGE_TRIGGER)} ON ${table}`)
  await queryRunner.query(
    `CREATE TRIGGER ${quoteIdentifier(CHANGE_TRIGGER)} AFTER INSERT OR UPDATE OR DELETE ON ${table} ` +
      `FOR EACH ROW EXECUTE FUNCTION ${fn}(${args})`,
  )
  await queryRunner.query(`DROP TRIGGER IF EXISTS ${quoteIdentifier(TRUNCATE_TRIGGER)} ON ${table}`)
  await queryRunner.query(
    `CREATE TRIGGER ${quoteIdentifier(TRUNCATE_TRIGGER)} AFTER TRUNCATE ON ${table} ` +
      `FOR EACH STATEMENT EXECUTE FUNCTION ${fn}(${quoteLiteral(channel)})`,
  )
}

/**
 * Drops the triggers installChangeTrigger() made on `entityOrTable`, and the trigger function once
 * no table uses it. Idempotent.
 *
 * @example await dropChangeTrigger(queryRunner, Document)
 */
export async function dropChangeTrigger(
  queryRunner: QueryRunner,
  entityOrTable: EntityTarget<ObjectLiteral>,
): Promise<void> {
  const target = await resolveTarget(queryRunner, entityOrTable, 'dropChangeTrigger', false)
  const table = qualifiedName(target.schema, target.table)
  const fn = qualifiedName(target.schema, CHANGE_FUNCTION)
  await queryRunner.query(`DROP TRIGGER IF EXISTS ${quoteIdentifier(CHANGE_TRIGGER)} ON ${table}`)
  await queryRunner.query(`DROP TRIGGER IF EXISTS ${quoteIdentifier(TRUNCATE_TRIGGER)} ON ${table}`)
  const [users] = (await queryRunner.query(
    'SELECT count(*)::int AS n FROM pg_trigger WHERE tgfoid = to_regprocedure($1)',
    [`${fn}()`],
  )) as { n: number }[]
  if (users?.n === 0) await queryRunner.query(`DROP FUNCTION IF EXISTS ${fn}()`)
}

/**
 * The trigger function. Its arguments: the channel, then the primary key columns (none for the
 * TRUNCATE trigger). It reads the key through `to_jsonb(row) ->> column`, which writes integers,
 * strings and uuids as `pg` gives them to TypeScript.
 */
function changeFunctionSql(fn: string): string {
  return `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $typeorm_downloadview$
DECLARE
  tbl text := TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME;
  op text := lower(left(TG_OP, 1));
  rowdata jsonb;
  ids text[] := ARRAY[]::text[];
  id text;
  part text;
BEGIN
  IF TG_LEVEL = 'ROW' THEN
    -- An update that changes nothing notifies nothing.
    IF TG_OP = 'UPDATE' AND to_jsonb(OLD) = to_jsonb(NEW) THEN
      RETURN NULL;
    END IF;
    -- The row's id; an update that changes the key names the old id and the new one.
    FOREACH rowdata IN ARRAY (CASE TG_OP WHEN 'INSERT' THEN ARRAY[to_jsonb(NEW)]
        WHEN 'DELETE' THEN ARRAY[to_jsonb(OLD)] ELSE ARRAY[to_jsonb(OLD), to_jsonb(NEW)] END) LOOP
      IF TG_NARGS = 2 THEN
        id := rowdata ->> TG_ARGV[1];
      ELSE
        id := NULL;
        FOR i IN 1 .. TG_NARGS - 1 LOOP
          part := ${rowIdPartSql('(rowdata ->> TG_ARGV[i])')};
          id := CASE WHEN i = 1 THEN part ELSE id || ',' || part END;
        END LOOP;
      END IF;
      IF id IS NOT NULL AND NOT (id = ANY (ids)) THEN
        ids := ids || id;
      END IF;
    END LOOP;
  END IF;
  -- TRUNCATE (or no key): the whole table.
  IF cardinality(ids) = 0 THEN
    ids := ARRAY[NULL::text];
  END IF;
  FOREACH id IN ARRAY ids LOOP
    PERFORM pg_notify(TG_ARGV[0], ${changePayloadSql('tbl', 'id', 'op')});
  END LOOP;
  RETURN NULL;
END
$typeorm_downloadview$`
}

/** The table and key columns of an entity (by its metadata) or of a table name (by the catalog). */
async function resolveTarget(
  queryRunner: QueryRunner,
  entityOrTable: EntityTarget<ObjectLiteral>,
  owner: string,
  checkKeys = true,
): Promise<TriggerTarget> {
  // typeorm 1.x names it `queryRunner.dataSource`; 0.3 only `queryRunner.connection`.
  const dataSource = (queryRunner as { dataSource?: DataSource }).dataSource ?? queryRunner.connection
  if (typeof entityOrTable !== 'string' || dataSource.hasMetadata(entityOrTable)) {
    if (!dataSource.hasMetadata(entityOrTable))
      throw new ConfigurationError(`${owner}: ${describe(entityOrTable)} is not an entity of this DataSource`)
    return entityTarget(dataSource, dataSource.getMetadata(entityOrTable), owner, checkKeys)
  }
  const dot = entityOrTable.indexOf('.')
  const schema = dot < 0 ? undefined : entityOrTable.slice(0, dot)
  const table = dot < 0 ? entityOrTable : entityOrTable.slice(dot + 1)
  if (!table) throw new ConfigurationError(`${owner}: "${entityOrTable}" is not a table name`)
  if (!checkKeys) return { schema, table, keys: [] }
  const name = qualifiedName(schema, table)
  const [found] = (await queryRunner.query('SELECT to_regclass($1) IS NOT NULL AS found', [name])) as {
    found: boolean
  }[]
  if (!found?.found) throw new ConfigurationError(`${owner}: there is no table ${name}`)
  const keys = (await queryRunner.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = to_regclass($1) AND i.indisprimary
      ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [name],
  )) as { name: string; type: string }[]
  if (keys.length === 0) throw new ConfigurationError(`${owner}: ${name} has no primary key`)
  for (const key of keys) {
    if (!isKeyType(key.type))
      throw new ConfigurationError(
        `${owner}: ${name}.${key.name} is a primary key column of type ${key.type}, whose text TypeScript and Postgres may write differently: give the trigger a table whose key is integers, strings or uuids`,
      )
  }
  return { schema, table, keys: keys.map((key) => key.name) }
}

function entityTarget(
  dataSource: DataSource,
  metadata: EntityMetadata,
  owner: string,
  checkKeys: boolean,
): TriggerTarget {
  const problem = checkKeys ? keyColumnsProblem(dataSource, metadata) : undefined
  if (problem) throw new ConfigurationError(`${owner}: ${problem}`)
  return {
    schema: metadata.schema || undefined,
    table: metadata.tableName,
    keys: metadata.primaryColumns.map((column) => column.databaseName),
  }
}

function describe(target: EntityTarget<ObjectLiteral>): string {
  if (typeof target === 'function') return target.name
  if (typeof target === 'string') return `"${target}"`
  return 'the target given'
}
