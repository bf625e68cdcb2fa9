/** A Logger for tests that keeps what it is given, errors and warnings apart. */
import type { Logger } from '../../src/logger'

/** A logger whose `errors` and `warnings` hold the messages it was given, in order. */
export function recordingLogger(): Logger & { errors: string[]; warnings: string[] } {
  const errors: string[] = []
  const warnings: string[] = []
  return {
    errors,
    warnings,
    error: (message) => errors.push(message),
    warn: (message) => warnings.push(message),
  }
}
