/** @module StoredFile: the value of a file column, one real database column per field. */

/**
 * What a `@FileColumn()` property holds: a key in the column's storage plus the metadata that the
 * save hook fills in. Each field is its own database column (`file_path`, `file_size`, …), so rows
 * can be queried by them.
 */
export class StoredFile {
  /** The key of the file in the column's storage; `null` when the column is empty. */
  path: string | null = null
  /** The original file name, shown to clients unless a view says otherwise. */
  name: string | null = null
  /** Size in bytes (a Postgres bigint, read back as a number). */
  size: number | null = null
  /** Media type; derived from the name unless set explicitly. */
  contentType: string | null = null
  /** Modification time in the storage when the metadata was taken. */
  modifiedAt: Date | null = null
  /** Hex SHA-256 of the content. */
  sha256: string | null = null
  /**
   * CRC-32 of the content, as an unsigned 32-bit integer (a Postgres bigint): what a ZIP archive's
   * headers need before its member's first byte (ZipDownloadView). Computed with the SHA-256.
   */
  crc32: number | null = null
}

/** Whether a file column value points at a file. */
export function hasFile(value: StoredFile | null | undefined): value is StoredFile & { path: string } {
  return value != null && typeof value.path === 'string' && value.path !== ''
}
