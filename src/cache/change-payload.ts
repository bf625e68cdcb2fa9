/**
 * @module The change notification: its channel, and its payload, `{"t":"<schema.table>","id":"<key>",
 * "op":"i|u|d|t"}`, built by notifyChange() in TypeScript and by the trigger in SQL (both from
 * here), and read by the ChangeListener.
 */
import { ConfigurationError } from '../errors'

/** The channel changes are notified on, unless told otherwise. */
export const DEFAULT_CHANNEL = 'typeorm_downloadview_changes'

/** What happened: an insert, an update, a delete, or a truncate (of the whole table). */
export type ChangeOp = 'i' | 'u' | 'd' | 't'

/** A change to one row (`id` set) or to any row of a table (`id` absent). */
export interface Change {
  /** The schema-qualified table: `public.document`. */
  table: string
  /** The row's primary key as text (see `rowId()`); absent when the whole table may have changed. */
  id?: string
  op: ChangeOp
}

/**
 * The most bytes a payload may have: Postgres refuses 8000 and more (`pg_notify`, "payload string
 * too long"). A payload that would be longer names the table only, which drops all of its entries.
 */
export const MAX_PAYLOAD_BYTES = 7999

const OPS: ReadonlySet<string> = new Set<ChangeOp>(['i', 'u', 'd', 't'])

/**
 * The payload of `change`: `{"t":"public.document","id":"7","op":"u"}`, or without `id` when the
 * change has none or the payload would be over {@link MAX_PAYLOAD_BYTES}.
 */
export function changePayload(change: Change): string {
  const table = `{"t":${JSON.stringify(change.table)}`
  const op = `,"op":"${change.op}"}`
  if (change.id !== undefined) {
    const payload = `${table},"id":${JSON.stringify(change.id)}${op}`
    if (Buffer.byteLength(payload) <= MAX_PAYLOAD_BYTES) return payload
  }
  return `${table}${op}`
}

/**
 * The SQL expression of the same payload, from SQL expressions of type text for the table, the id
 * (may be NULL: the table only) and the op, for the trigger. `to_json(text)` escapes as
 * `JSON.stringify` does, so the trigger and notifyChange() send the same text for the same change
 * (and Postgres folds identical notifications of one transaction into one).
 */
export function changePayloadSql(table: string, id: string, op: string): string {
  const withoutId = `'{"t":' || to_json(${table})::text || ',"op":"' || ${op} || '"}'`
  const withId = `'{"t":' || to_json(${table})::text || ',"id":' || to_json(${id})::text || ',"op":"' || ${op} || '"}'`
  return `CASE WHEN ${id} IS NULL OR octet_length(${withId}) > ${MAX_PAYLOAD_BYTES} THEN ${withoutId} ELSE ${withId} END`
}

/**
 * The change a payload describes, or `undefined` for a payload that is not one (not JSON, no
 * table): the listener then drops everything, since it cannot tell what changed. An unknown `op`
 * still names a change.
 */
export function parseChangePayload(payload: string | undefined): Change | undefined {
  if (!payload) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(payload)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const { t, id, op } = parsed as Record<string, unknown>
  if (typeof t !== 'string' || t === '') return undefined
  const change: Change = { table: t, op: typeof op === 'string' && OPS.has(op) ? (op as ChangeOp) : 'u' }
  if (typeof id === 'string') change.id = id
  else if (typeof id === 'number' && Number.isFinite(id)) change.id = String(id)
  else if (id !== undefined && id !== null) return { table: t, op: change.op }
  return change
}

/**
 * `channel`, checked: a non-empty identifier of at most 63 bytes (Postgres' NAMEDATALEN), or a
 * ConfigurationError naming the option.
 */
export function checkChannel(channel: unknown, owner: string): string {
  if (
    typeof channel !== 'string' ||
    channel === '' ||
    Buffer.byteLength(channel) > 63 ||
    channel.includes('\0')
  )
    throw new ConfigurationError(
      `${owner}: option "channel" must be a non-empty name of at most 63 bytes, not ${JSON.stringify(channel)}`,
    )
  return channel
}
