/**
 * @module Content probes: what a kind of file column reads from a file's bytes while they pass
 * (while `attachFile()` writes them, or the save hook hashes them). The image columns of
 * `typeorm-downloadview/images` bring one that asks sharp; the core knows only this interface, so
 * it never loads sharp.
 */

/** What a probe read: the extra fields to store, and the media type the bytes declare, if any. */
export interface ProbedContent {
  fields: Record<string, unknown>
  contentType?: string
}

/** One reading of one file: `write()` each chunk, then `end()`; `abort()` when the bytes are dropped. */
export interface ContentReading {
  write(chunk: Buffer): Promise<void>
  /** Resolves with what was read; rejects when the bytes are not what the column takes. */
  end(): Promise<ProbedContent>
  abort(): void
}

/** A kind of column's probe: starts readings, and words the error for bytes it refuses. */
export interface ContentProbe {
  start(): ContentReading
  /** The error for a file it refused: `where` is `Entity.property`, `name` the file, `cause` why. */
  refuse(where: string, name: string, cause: unknown): Error
}
