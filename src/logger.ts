/**
 * @module Logger: where the library reports what a client never sees (a download cut mid-stream, a
 * refused signature, a database fault an operator must fix). Every layer may report; nothing here
 * imports the rest.
 */

/** Where stream failures are reported: once per failed response, never for a client that left. */
export interface Logger {
  error(message: string, error?: unknown): void
  /** Refused requests (a bad signature): worth a line, not an alarm. Falls back to `error`. */
  warn?(message: string): void
}

/** `logger.warn`, or `logger.error` for loggers that have no warn. */
export function warn(logger: Logger, message: string): void {
  if (logger.warn) logger.warn(message)
  else logger.error(message)
}

/** Writes one line to standard error. */
export const stderrLogger: Logger = {
  error(message, error) {
    const detail =
      error instanceof Error
        ? `: ${error.stack ?? error.message}`
        : error === undefined
          ? ''
          : `: ${String(error)}`
    process.stderr.write(`[typeorm-downloadview] ${message}${detail}\n`)
  },
  warn(message) {
    process.stderr.write(`[typeorm-downloadview] ${message}\n`)
  },
}
