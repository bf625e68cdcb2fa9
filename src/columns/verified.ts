/** @module Metadata that attachFile() computed while writing, so the save hook need not read the file again. */
import type { StoredFile } from './stored-file'

const verified = new WeakMap<StoredFile, string>()

/** Marks `value`'s metadata as describing the file now at `value.path`. */
export function markVerified(value: StoredFile): void {
  if (value.path) verified.set(value, value.path)
}

/** Whether `value`'s metadata was computed for the path it holds now. */
export function isVerified(value: StoredFile): boolean {
  return value.path !== null && verified.get(value) === value.path
}
