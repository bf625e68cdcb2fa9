/**
 * @module What attachFile() vouches for: the metadata it computed while writing (so the save hook
 * need not read the file again), and the key it has just written (so a save that rolls back can
 * take the file back instead of leaving an orphan).
 */
import type { StoredFile } from './stored-file'

const verified = new WeakMap<StoredFile, string>()
const fresh = new WeakMap<StoredFile, string>()

/**
 * Marks `value`'s metadata as describing the file now at `value.path`. attachFile() calls it right
 * after writing that file, so the value is also *fresh*: no committed row points at its key yet.
 */
export function markVerified(value: StoredFile): void {
  if (!value.path) return
  verified.set(value, value.path)
  fresh.set(value, value.path)
}

/** Whether `value`'s metadata was computed for the path it holds now. */
export function isVerified(value: StoredFile): boolean {
  return value.path !== null && verified.get(value) === value.path
}

/**
 * The key that attachFile() wrote for `value` and that no commit has settled yet, while `value`
 * still points at it; `undefined` otherwise.
 */
export function freshKey(value: StoredFile): string | undefined {
  const key = fresh.get(value)
  return key !== undefined && key === value.path ? key : undefined
}

/** A transaction that saved `value` committed: its file belongs to a row now. */
export function settle(value: StoredFile): void {
  fresh.delete(value)
}

/**
 * `value`'s file was deleted (its save rolled back): nothing vouches for it any more, so saving
 * `value` again reads the storage and fails loudly rather than pointing a row at nothing.
 */
export function forget(value: StoredFile): void {
  verified.delete(value)
  fresh.delete(value)
}
