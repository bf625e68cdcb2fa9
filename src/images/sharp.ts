/**
 * @module sharp, loaded on first use. An app that never reads an image column or makes a variant
 * never loads libvips: that spares it the startup time and memory, and on the bench machine
 * loading libvips alone cut large-file streaming in the same process from about 2.3 to 1.4 GB/s
 * (bench/README.md).
 */
import { requirePeers } from '../optional-peers'

/** What `import('sharp')` gives: the factory itself (`export =`), or a namespace with it as `default`. */
type SharpModule = typeof import('sharp')

/**
 * The factory's type, written so that it compiles under every module resolution (no default
 * import): sharp's types for `require` are the factory (`export =`), those for `import` (which a
 * project with `moduleResolution: bundler` or `node16` in an ES module gets) a namespace whose
 * `default` it is.
 */
type Sharp = SharpModule extends (...args: never[]) => unknown
  ? SharpModule
  : SharpModule extends { default: infer Factory }
    ? Factory
    : never

let loaded: Sharp | undefined

/** The sharp module, required the first time it is needed; a ConfigurationError when it is not installed. */
export function loadSharp(): Sharp {
  if (!loaded) {
    requirePeers('typeorm-downloadview/images', ['sharp'])
    loaded = require('sharp') as Sharp
  }
  return loaded
}
