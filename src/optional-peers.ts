/**
 * @module Optional peer dependencies: the packages that only a subpath needs (the AWS SDK for
 * `typeorm-downloadview/s3`, sharp for `typeorm-downloadview/images`, express for
 * `typeorm-downloadview/express`). An app that does not import the subpath neither installs nor
 * loads them; one that does but lacks them gets an error that says what to install.
 */
import { ConfigurationError } from './errors'

/**
 * Throws a ConfigurationError naming every package of `packages` that cannot be resolved from
 * here, with the command that installs them. Resolving loads nothing.
 *
 * @example
 * requirePeers('typeorm-downloadview/images', ['sharp'])
 */
export function requirePeers(entry: string, packages: readonly string[]): void {
  const missing = packages.filter((name) => !resolvable(name))
  if (missing.length === 0) return
  const names = missing.map((name) => `"${name}"`).join(', ')
  throw new ConfigurationError(
    `${entry} needs ${names}, not installed: it is an optional peer dependency of typeorm-downloadview. ` +
      `Install it with: npm install ${missing.join(' ')}`,
  )
}

function resolvable(name: string): boolean {
  try {
    require.resolve(name)
    return true
  } catch {
    return false
  }
}
