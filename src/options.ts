/**
 * @module The one unknown-option check: every view, column, storage and helper validates its
 * options object in its constructor, and a key it does not know throws a ConfigurationError that
 * names it (a typo such as `lookUp` must not pass silently).
 */
import { ConfigurationError } from './errors'

/**
 * Throws a ConfigurationError naming the first key of `options` that `known` does not hold:
 * `<owner>: unknown option "<prefix><key>"` (`prefix` names a nested object, `rememberFailures.`).
 *
 * @example
 * rejectUnknownOptions(options, ['storage', 'path'], 'StorageDownloadView')
 */
export function rejectUnknownOptions(
  options: object,
  known: Iterable<string>,
  owner: string,
  prefix = '',
): void {
  const allowed = known instanceof Set ? (known as Set<string>) : new Set(known)
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) throw new ConfigurationError(`${owner}: unknown option "${prefix}${key}"`)
  }
}
